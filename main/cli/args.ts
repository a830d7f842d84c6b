import { parseArgs } from 'node:util'
import {
  DEFAULT_AUTH,
  isBackendKind,
  splitServerUrl,
  validateAccount,
  type AccountConfig,
  type AuthMethod,
} from '../backends/account.ts'
import { FerryError } from '../backends/errors.ts'
import { CliError, EXIT } from './exit-codes.ts'

export const USAGE = `Usage:
  ferry push <folder> --backend dstor|kala|perkeep --server <url>
             [--remote-path <path>] [--auth api-key|login|userpass|token] [--user <name>] [--json]
  ferry login  --backend <b> --server <url> [--auth <a>] [--user <name>]
  ferry logout --backend <b> --server <url> [--user <name>]
  ferry account add --backend <b> --server <url> [--auth <a>] [--user <name>] [--name <id>]
  ferry account remove <id> | ferry account list [--json]
  ferry folder add <folder> --account <id> [--remote-path <path>] [--exclude <pattern>]…
  ferry folder remove|pause|resume <id or folder> | ferry folder list [--json]
  ferry sync [--once] [--json]     keep every folder uploaded (until Ctrl-C), or sync once and exit
  ferry status [--watch] [--json]  what is stored, what is left, what failed
  ferry bandwidth [<rate>|off]     show or set the upload limit (e.g. 2MB = 2 MB/s), applied live

The secret (API key, password or token, per --auth) comes from env FERRY_SECRET, else from the
OS keychain entry saved by \`ferry login\`. \`ferry sync\` reads FERRY_SECRET_<ID> for account <id>
(FERRY_SECRET only when there is one account). State lives in env FERRY_HOME, else the app-data
folder.
Other options: --allow-insecure-http (plain http:// to a non-loopback host), --concurrency <n>.

Exit codes: 0 done, 1 some files failed, 2 usage or configuration error, 3 authentication failed.`

export interface ParsedArgs {
  readonly command: 'push' | 'login' | 'logout' | 'help'
  readonly folder?: string
  readonly account?: AccountConfig
  readonly remotePath: string
  readonly json: boolean
  readonly concurrency: number
}

/** Every option of every command (each command checks which it accepts). */
export const OPTIONS = {
  backend: { type: 'string' },
  server: { type: 'string' },
  'remote-path': { type: 'string' },
  auth: { type: 'string' },
  user: { type: 'string' },
  json: { type: 'boolean', default: false },
  concurrency: { type: 'string' },
  'allow-insecure-http': { type: 'boolean', default: false },
  'single-file-path': { type: 'string' },
  'api-key-header': { type: 'string' },
  vivify: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
  account: { type: 'string' },
  name: { type: 'string' },
  exclude: { type: 'string', multiple: true },
  once: { type: 'boolean', default: false },
  watch: { type: 'boolean', default: false },
} as const

export type OptionValues = ReturnType<typeof parseOptions>['values']

/** node:util parseArgs over OPTIONS; an unknown option is a usage error. */
export function parseOptions(argv: readonly string[]) {
  try {
    return parseArgs({ args: [...argv], allowPositionals: true, strict: true, options: OPTIONS })
  } catch (error) {
    throw new CliError(EXIT.usage, (error as Error).message)
  }
}

/** The account the options describe (backend, server, auth, user…), validated. */
export function accountFromOptions(values: OptionValues): AccountConfig {
  if (!values.backend || !isBackendKind(values.backend)) {
    throw new CliError(EXIT.usage, '--backend must be dstor, kala or perkeep')
  }
  if (!values.server) throw new CliError(EXIT.usage, '--server is required')
  try {
    const { server, user: urlUser } = splitServerUrl(values.server)
    const backend = values.backend
    const auth = (values.auth ?? DEFAULT_AUTH[backend]) as AuthMethod
    const user = values.user ?? urlUser ?? (backend === 'perkeep' ? 'ferry' : undefined)
    const account: AccountConfig = {
      backend,
      server,
      auth,
      ...(user === undefined ? {} : { user }),
      allowInsecureHttp: values['allow-insecure-http'],
      ...(values['single-file-path'] ? { singleFilePath: values['single-file-path'] } : {}),
      ...(values['api-key-header'] ? { apiKeyHeader: values['api-key-header'] } : {}),
      vivify: values.vivify,
    }
    validateAccount(account)
    return account
  } catch (error) {
    if (error instanceof FerryError) throw new CliError(EXIT.usage, error.message)
    throw error
  }
}

/** Parses and validates the command line; every problem is a usage error (exit 2). */
export function parseCommandLine(argv: readonly string[]): ParsedArgs {
  const { values, positionals } = parseOptions(argv)
  const [command, ...rest] = positionals
  if (values.help || command === undefined || command === 'help') {
    return { command: 'help', remotePath: '/', json: false, concurrency: 4 }
  }
  if (command !== 'push' && command !== 'login' && command !== 'logout') {
    throw new CliError(EXIT.usage, `Unknown command "${command}"`)
  }
  if (command === 'push' && rest.length !== 1) {
    throw new CliError(EXIT.usage, 'push takes exactly one folder')
  }
  if (command !== 'push' && rest.length > 0) {
    throw new CliError(EXIT.usage, `${command} takes no folder`)
  }
  const concurrency = values.concurrency === undefined ? 4 : Number(values.concurrency)
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
    throw new CliError(EXIT.usage, '--concurrency must be a whole number from 1 to 64')
  }
  return {
    command,
    ...(command === 'push' ? { folder: rest[0] } : {}),
    account: accountFromOptions(values),
    remotePath: values['remote-path'] ?? '/',
    json: values.json,
    concurrency,
  }
}
