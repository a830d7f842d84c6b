import { join } from 'node:path'
import type { AccountConfig } from '../backends/account.ts'
import { createBackend } from '../backends/create-backend.ts'
import { HttpClient } from '../backends/http/client.ts'
import { stateDir } from '../platform/paths.ts'
import { KeychainSecretStore } from '../platform/keychain.ts'
import type { SecretStore } from '../platform/secret-store.ts'
import { parseCommandLine, parseOptions, USAGE } from './args.ts'
import { FerryError } from '../backends/errors.ts'
import { CliError, EXIT, exitCodeFor, type ExitCode } from './exit-codes.ts'
import type { CliIo } from './io.ts'
import { login, logout } from './login.ts'
import { push } from './push.ts'
import type { ConfSettingsStore } from '../settings/conf-settings-store.ts'
import type { SettingsStore } from '../settings/settings-store.ts'
import { resolveSecret } from './secret.ts'

// The other commands and the settings file are imported when used: `ferry push` never needs
// conf (~19 MB of memory), chokidar and the sync engine, and its peak memory is budgeted.
const settingsStore = async (
  dir: string,
  options?: { readonly watch: boolean },
): Promise<ConfSettingsStore> => {
  const { ConfSettingsStore: Store } = await import('../settings/conf-settings-store.ts')
  return new Store(dir, options)
}

export interface CliDeps {
  readonly secrets?: SecretStore
  readonly settings?: SettingsStore
  readonly signal?: AbortSignal
}

/** Runs one `ferry` command and returns its exit code; never throws. */
export async function runCli(
  argv: readonly string[],
  io: CliIo,
  deps: CliDeps = {},
): Promise<ExitCode> {
  const secrets = deps.secrets ?? new KeychainSecretStore()
  try {
    if (argv[0] === 'account' || argv[0] === 'folder') {
      const { manage } = await import('./manage.ts')
      return await manage(argv, io, {
        settings: deps.settings ?? (await settingsStore(stateDir(io.env))),
        secrets,
        makeBackend: (account, secret) =>
          createBackend(account, secret, { http: newHttp(account) }),
      })
    }
    if (argv[0] === 'bandwidth') {
      const { positionals } = parseOptions(argv)
      const settings = deps.settings ?? (await settingsStore(stateDir(io.env)))
      const { bandwidth } = await import('./bandwidth.ts')
      return bandwidth(positionals.slice(1), io, settings)
    }
    if (argv[0] === 'sync' || argv[0] === 'status') {
      const { values, positionals } = parseOptions(argv)
      if (positionals.length > 1) {
        throw new CliError(EXIT.usage, `${argv[0]} takes no arguments (got ${positionals[1]})`)
      }
      const owned =
        deps.settings === undefined
          ? await settingsStore(stateDir(io.env), { watch: argv[0] === 'sync' && !values.once })
          : undefined
      const settings: SettingsStore = deps.settings ?? (owned as ConfSettingsStore)
      const common = { json: values.json, stateDir: stateDir(io.env) }
      try {
        if (argv[0] === 'sync') {
          const { sync } = await import('./sync.ts')
          return await sync({ ...common, once: values.once }, io, {
            settings,
            secrets,
            signal: deps.signal,
          })
        }
        const { status } = await import('./status.ts')
        return await status({ ...common, watch: values.watch }, io, {
          settings,
          signal: deps.signal,
        })
      } finally {
        owned?.close()
      }
    }
    const args = parseCommandLine(argv)
    if (args.command === 'help' || !args.account) {
      io.stdout.write(`${USAGE}\n`)
      return EXIT.ok
    }
    const account = args.account
    const make = (secret: string, remotePath = '/'): ReturnType<typeof createBackend> =>
      createBackend(account, secret, {
        http: newHttp(account),
        remotePath,
        concurrency: args.concurrency,
      })
    if (args.command === 'logout') return await logout(account, secrets, io)
    if (args.command === 'login') return await login(account, (secret) => make(secret), secrets, io)
    const secret = await resolveSecret(account, io.env, secrets)
    const backend = make(secret, args.remotePath)
    try {
      return await push(
        {
          folder: args.folder as string,
          backend,
          server: account.server,
          remotePath: args.remotePath,
          indexPath: join(stateDir(io.env), 'index.sqlite'),
          json: args.json,
        },
        io,
        deps.signal,
      )
    } finally {
      await backend.close()
    }
  } catch (error) {
    if (error instanceof CliError) {
      io.stderr.write(`ferry: ${error.message}\n`)
      if (
        error.code === EXIT.usage &&
        /^(Unknown|push takes|--|Unexpected|Option)/.test(error.message)
      ) {
        io.stderr.write(`\n${USAGE}\n`)
      }
      return error.code
    }
    io.stderr.write(`ferry: ${(error as Error).message ?? String(error)}\n`)
    return error instanceof FerryError ? exitCodeFor(error) : EXIT.someFailed
  }
}

function newHttp(account: AccountConfig): HttpClient {
  const names = { dstor: 'dStor', kala: 'Kala', perkeep: 'Perkeep' } as const
  return new HttpClient({
    allowInsecureHttp: account.allowInsecureHttp ?? false,
    serviceName: names[account.backend],
  })
}
