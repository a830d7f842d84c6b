import type { BackendKind } from './backend.ts'
import { ConfigError } from './errors.ts'

export type AuthMethod = 'api-key' | 'login' | 'userpass' | 'token'

/** Everything needed to reach one storage account, except its secret (keychain only). */
export interface AccountConfig {
  readonly backend: BackendKind
  /** Server URL without credentials. */
  readonly server: string
  readonly auth: AuthMethod
  /** Login name / e-mail / Perkeep user; unused for API keys and tokens. */
  readonly user?: string
  /** Permit plain http:// to a non-loopback host. */
  readonly allowInsecureHttp?: boolean
  /** dStor's single-file upload path (PROTOCOLS.md §1.3). */
  readonly singleFilePath?: string
  /** Kala's API key header (PROTOCOLS.md §2.1). */
  readonly apiKeyHeader?: string
  /** Perkeep: ask the server to make a permanode per file (visible in its web UI). */
  readonly vivify?: boolean
}

export const BACKENDS: readonly BackendKind[] = ['dstor', 'kala', 'perkeep']

const AUTH_METHODS: Readonly<Record<BackendKind, readonly AuthMethod[]>> = {
  dstor: ['api-key', 'login'],
  kala: ['api-key', 'login'],
  perkeep: ['userpass', 'token'],
}

export const DEFAULT_AUTH: Readonly<Record<BackendKind, AuthMethod>> = {
  dstor: 'api-key',
  kala: 'api-key',
  perkeep: 'userpass',
}

export function isBackendKind(value: string): value is BackendKind {
  return (BACKENDS as readonly string[]).includes(value)
}

/** Checks that the auth method fits the backend and that a user is given where one is needed. */
export function validateAccount(account: AccountConfig): void {
  const allowed = AUTH_METHODS[account.backend]
  if (!allowed.includes(account.auth)) {
    throw new ConfigError(
      `${account.backend} accounts use --auth ${allowed.join(' or ')}, not ${account.auth}`,
    )
  }
  if (account.auth === 'login' && !account.user) {
    throw new ConfigError(
      `--auth login needs --user (the ${account.backend === 'dstor' ? 'e-mail' : 'user name'})`,
    )
  }
}

/**
 * Splits credentials out of a server URL: `http://alice@host:3179` → server
 * `http://host:3179`, user `alice`. A password in a URL is refused: it would end up in shell
 * history and settings.
 */
export function splitServerUrl(input: string): { server: string; user?: string } {
  let url: URL
  try {
    url = new URL(input)
  } catch {
    // Never echo the input: it may hold a password (https://user:pw@host).
    throw new ConfigError('Not a valid server address (expected https://host[:port][/path])')
  }
  if (url.password) {
    throw new ConfigError(
      'Do not put a password in the server address; use FERRY_SECRET or `ferry login`',
    )
  }
  const user = url.username ? decodeURIComponent(url.username) : undefined
  url.username = ''
  const server = url.href.replace(/\/$/, url.pathname === '/' ? '' : '/')
  return user === undefined ? { server } : { server, user }
}
