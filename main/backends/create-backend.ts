import type { AccountConfig } from './account.ts'
import type { Backend } from './backend.ts'
import { DstorBackend } from './dstor/dstor-backend.ts'
import type { BandwidthLimiter } from './http/bandwidth.ts'
import type { HttpClient } from './http/client.ts'
import { KalaBackend } from './kala/kala-backend.ts'
import { PerkeepBackend } from './perkeep/perkeep-backend.ts'

export interface BackendWiring {
  /** The backend owns it and closes it. */
  readonly http: HttpClient
  /** dStor's remote folder. */
  readonly remotePath?: string
  /** Files in flight at once. */
  readonly concurrency?: number
  /** The process-wide upload limit (one limiter for every backend), set on `http`. */
  readonly bandwidth?: BandwidthLimiter
}

/** Builds the backend for an account and its secret (API key, password or token, per auth). */
export function createBackend(
  account: AccountConfig,
  secret: string,
  wiring: BackendWiring,
): Backend {
  const { http, concurrency } = wiring
  if (wiring.bandwidth) http.setBandwidth(wiring.bandwidth)
  const user = account.user ?? ''
  switch (account.backend) {
    case 'dstor':
      return new DstorBackend({
        server: account.server,
        http,
        concurrency,
        remotePath: wiring.remotePath ?? '/',
        auth:
          account.auth === 'login'
            ? { method: 'login', email: user, password: secret }
            : { method: 'api-key', key: secret },
        ...(account.singleFilePath ? { singleFilePath: account.singleFilePath } : {}),
      })
    case 'kala':
      return new KalaBackend({
        server: account.server,
        http,
        concurrency,
        auth:
          account.auth === 'login'
            ? { method: 'login', username: user, password: secret }
            : {
                method: 'api-key',
                key: secret,
                ...(account.apiKeyHeader ? { headerName: account.apiKeyHeader } : {}),
              },
      })
    case 'perkeep':
      return new PerkeepBackend({
        server: account.server,
        http,
        concurrency,
        vivify: account.vivify ?? false,
        auth:
          account.auth === 'token'
            ? { method: 'token', token: secret }
            : { method: 'userpass', user: user || 'ferry', password: secret },
      })
  }
}
