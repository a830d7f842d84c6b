import type { AccountConfig } from '../backends/account.ts'
import { KeychainUnavailableError } from '../platform/keychain.ts'
import { accountSecretKey, type SecretStore } from '../platform/secret-store.ts'
import { CliError, EXIT } from './exit-codes.ts'

/** The keychain entry name for an account. */
export function accountKey(account: AccountConfig): string {
  return accountSecretKey(account)
}

/** Which configured account a secret is for, when the engine syncs several. */
export interface SecretScope {
  /** The account's id in the settings (`ferry account add --name`). */
  readonly accountId: string
  /** Accounts in the settings: with more than one, plain FERRY_SECRET is not used. */
  readonly accountCount: number
}

/** The environment variable holding one configured account's secret: FERRY_SECRET_<ID>. */
export function secretVariable(accountId: string): string {
  return `FERRY_SECRET_${accountId.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}`
}

/**
 * The account's secret, for headless use from the environment first, else the keychain entry
 * saved by `ferry login`. A configured account (`scope`) reads FERRY_SECRET_<ID>, and plain
 * FERRY_SECRET only when it is the only account: with several, one secret would be sent to every
 * server. Neither is an authentication failure (exit 3) with the way out spelled out.
 */
export async function resolveSecret(
  account: AccountConfig,
  env: NodeJS.ProcessEnv,
  secrets: SecretStore,
  scope?: SecretScope,
): Promise<string> {
  const own = scope ? env[secretVariable(scope.accountId)] : undefined
  if (own) return own
  const shared = env['FERRY_SECRET']
  const sharedApplies = !scope || scope.accountCount <= 1
  if (shared && sharedApplies) return shared
  let stored: string | undefined
  let keychainProblem = ''
  try {
    stored = await secrets.get(accountKey(account))
  } catch (error) {
    if (!(error instanceof KeychainUnavailableError)) throw error
    keychainProblem = ` (${error.message})`
  }
  if (stored) return stored
  const variable = scope ? secretVariable(scope.accountId) : 'FERRY_SECRET'
  const ignored =
    shared && !sharedApplies
      ? ` (FERRY_SECRET is not used when there are several accounts: it would go to every server)`
      : ''
  throw new CliError(
    EXIT.auth,
    `No ${describeSecret(account)} for ${account.server}: set ${variable}${ignored}, or run ` +
      `\`ferry login --backend ${account.backend} --server ${account.server}` +
      `${account.auth === defaultAuthHint(account) ? '' : ` --auth ${account.auth}`}` +
      `${account.user && account.auth !== 'api-key' && account.auth !== 'token' ? ` --user ${account.user}` : ''}\`` +
      ` to keep it in the system keychain${keychainProblem}.`,
  )
}

export function describeSecret(account: AccountConfig): string {
  if (account.auth === 'api-key') return 'API key'
  if (account.auth === 'token') return 'token'
  return 'password'
}

function defaultAuthHint(account: AccountConfig): string {
  return account.backend === 'perkeep' ? 'userpass' : 'api-key'
}
