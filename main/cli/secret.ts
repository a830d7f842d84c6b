import type { AccountConfig } from '../backends/account.ts'
import { KeychainUnavailableError } from '../platform/keychain.ts'
import { accountSecretKey, type SecretStore } from '../platform/secret-store.ts'
import { CliError, EXIT } from './exit-codes.ts'

/** The keychain entry name for an account. */
export function accountKey(account: AccountConfig): string {
  return accountSecretKey(account)
}

/**
 * The account's secret: env FERRY_SECRET first (headless use), else the keychain entry saved by
 * `ferry login`. Neither is an authentication failure (exit 3) with the way out spelled out.
 */
export async function resolveSecret(
  account: AccountConfig,
  env: NodeJS.ProcessEnv,
  secrets: SecretStore,
): Promise<string> {
  const fromEnv = env['FERRY_SECRET']
  if (fromEnv) return fromEnv
  let stored: string | undefined
  let keychainProblem = ''
  try {
    stored = await secrets.get(accountKey(account))
  } catch (error) {
    if (!(error instanceof KeychainUnavailableError)) throw error
    keychainProblem = ` (${error.message})`
  }
  if (stored) return stored
  throw new CliError(
    EXIT.auth,
    `No ${describeSecret(account)} for ${account.server}: set FERRY_SECRET, or run ` +
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
