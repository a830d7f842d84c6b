import type { Dispatcher } from 'undici'
import type { AccountConfig } from '../backends/account.ts'
import type { Backend } from '../backends/backend.ts'
import { createBackend } from '../backends/create-backend.ts'
import { BandwidthLimiter } from '../backends/http/bandwidth.ts'
import { createAgent, HttpClient } from '../backends/http/client.ts'
import type { AccountSettings, FolderSettings } from '../settings/settings-schema.ts'

const SERVICE_NAMES = { dstor: 'dStor', kala: 'Kala', perkeep: 'Perkeep' } as const

/** An HTTP client for one account (its name in messages, its http:// permission). */
export function httpClientFor(
  account: AccountConfig,
  shared: { dispatcher?: Dispatcher; bandwidth?: BandwidthLimiter } = {},
): HttpClient {
  return new HttpClient({
    allowInsecureHttp: account.allowInsecureHttp ?? false,
    serviceName: SERVICE_NAMES[account.backend],
    ...(shared.dispatcher ? { dispatcher: shared.dispatcher } : {}),
    ...(shared.bandwidth ? { bandwidth: shared.bandwidth } : {}),
  })
}

/**
 * What the engine's backends share: one keep-alive agent (a connection limit per server, not per
 * folder) and one bandwidth limiter, so the user's limit holds across every upload.
 */
export class BackendWiring {
  readonly bandwidth: BandwidthLimiter
  readonly #agent: Dispatcher

  constructor(bandwidthLimit: number) {
    this.bandwidth = new BandwidthLimiter(bandwidthLimit)
    this.#agent = createAgent()
  }

  /** The engine's BackendFactory. */
  readonly makeBackend = (
    account: AccountSettings,
    secret: string,
    folder: FolderSettings,
  ): Backend =>
    createBackend(account, secret, {
      http: httpClientFor(account, { dispatcher: this.#agent, bandwidth: this.bandwidth }),
      remotePath: folder.remotePath,
    })

  async close(): Promise<void> {
    await this.#agent.close()
  }
}
