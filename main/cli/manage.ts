import { stat } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { AccountConfig } from '../backends/account.ts'
import type { Backend } from '../backends/backend.ts'
import { FerryError } from '../backends/errors.ts'
import { KeychainUnavailableError } from '../platform/keychain.ts'
import type { SecretStore } from '../platform/secret-store.ts'
import {
  addAccount,
  addFolder,
  findAccount,
  newAccountId,
  removeAccount,
  removeFolder,
  setFolderPaused,
} from '../settings/edit-settings.ts'
import type { AccountSettings, Settings } from '../settings/settings-schema.ts'
import type { SettingsStore } from '../settings/settings-store.ts'
import { accountFromOptions, parseOptions } from './args.ts'
import { CliError, EXIT, type ExitCode } from './exit-codes.ts'
import type { CliIo } from './io.ts'
import { login } from './login.ts'
import { accountKey } from './secret.ts'

export interface ManageDeps {
  readonly settings: SettingsStore
  readonly secrets: SecretStore
  readonly makeBackend: (account: AccountConfig, secret: string) => Backend
}

/** `ferry account add|remove|list` and `ferry folder add|remove|list|pause|resume`. */
export async function manage(
  argv: readonly string[],
  io: CliIo,
  deps: ManageDeps,
): Promise<ExitCode> {
  const { values, positionals } = parseOptions(argv)
  const [noun, verb, ...rest] = positionals
  const print = (line: string): void => void io.stdout.write(`${line}\n`)
  // The settings rules throw ConfigErrors; on the command line those are usage errors.
  const rules = <T>(apply: () => T): T => {
    try {
      return apply()
    } catch (error) {
      if (error instanceof FerryError) throw new CliError(EXIT.usage, error.message)
      throw error
    }
  }
  const edit = (change: (s: Settings) => Settings): Settings =>
    rules(() => deps.settings.update(change))
  const one = (what: string): string => {
    if (rest.length !== 1) throw new CliError(EXIT.usage, `${noun} ${verb} takes one ${what}`)
    return rest[0] as string
  }

  if (noun === 'account' && verb === 'list') {
    const { accounts } = deps.settings.read()
    if (values.json) print(JSON.stringify(accounts))
    else if (accounts.length === 0) print('No accounts yet: add one with `ferry account add`.')
    else
      for (const a of accounts)
        print(`${a.id}\t${a.backend}\t${a.server}\t${a.auth}${a.user ? ` (${a.user})` : ''}`)
    return EXIT.ok
  }
  if (noun === 'account' && verb === 'add') {
    if (rest.length > 0) throw new CliError(EXIT.usage, 'account add takes options only')
    const account = accountFromOptions(values)
    const current = deps.settings.read()
    const entry: AccountSettings = { ...account, id: values.name ?? newAccountId(current, account) }
    // A duplicate is refused before anything is asked or stored.
    rules(() => addAccount(current, entry))
    const code = await login(
      account,
      (secret) => deps.makeBackend(account, secret),
      deps.secrets,
      io,
      { keychainOptional: true },
    )
    edit((s) => addAccount(s, entry))
    print(`Added account ${entry.id}.`)
    return code
  }
  if (noun === 'account' && verb === 'remove') {
    const id = one('account name')
    const account = rules(() => findAccount(deps.settings.read(), id))
    edit((s) => removeAccount(s, id))
    try {
      await deps.secrets.delete(accountKey(account))
    } catch (error) {
      if (!(error instanceof KeychainUnavailableError)) throw error
      io.stderr.write(`ferry: ${error.message}; its keychain entry may remain.\n`)
    }
    print(`Removed account ${id}.`)
    return EXIT.ok
  }
  if (noun === 'folder' && verb === 'list') {
    const { folders } = deps.settings.read()
    if (values.json) print(JSON.stringify(folders))
    else if (folders.length === 0) print('No synced folders yet: add one with `ferry folder add`.')
    else {
      for (const f of folders) {
        print(`${f.id}\t${f.path}\t→ ${f.accountId}:${f.remotePath}${f.paused ? '\t(paused)' : ''}`)
      }
    }
    return EXIT.ok
  }
  if (noun === 'folder' && verb === 'add') {
    const path = resolve(one('folder'))
    if (!(await stat(path).catch(() => undefined))?.isDirectory()) {
      throw new CliError(EXIT.usage, `${path} is not a folder`)
    }
    if (!values.account) throw new CliError(EXIT.usage, 'folder add needs --account <name>')
    const accountId = values.account
    const settings = edit((s) =>
      addFolder(s, {
        path,
        accountId,
        remotePath: values['remote-path'] ?? '/',
        excludes: values.exclude ?? [],
      }),
    )
    const added = settings.folders.find((f) => f.path === path)
    print(`Syncing ${path} to ${accountId} as ${added?.id}.`)
    return EXIT.ok
  }
  if (noun === 'folder' && (verb === 'remove' || verb === 'pause' || verb === 'resume')) {
    const target = one('folder (name or path)')
    if (verb === 'remove') edit((s) => removeFolder(s, target))
    else edit((s) => setFolderPaused(s, target, verb === 'pause'))
    print(
      `${verb === 'remove' ? 'Stopped syncing' : verb === 'pause' ? 'Paused' : 'Resumed'} ${target}.`,
    )
    return EXIT.ok
  }
  throw new CliError(EXIT.usage, `Unknown command "${[noun, verb].filter(Boolean).join(' ')}"`)
}
