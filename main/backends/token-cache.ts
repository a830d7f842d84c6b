import { IntegrityError } from './errors.ts'

/** Reads the `exp` claim (seconds) of a JWT without verifying it: only the server can verify. */
export function jwtExpiry(token: string): number | undefined {
  const payload = token.split('.')[1]
  if (!payload) return undefined
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as {
      exp?: unknown
    }
    return typeof claims.exp === 'number' ? claims.exp : undefined
  } catch {
    return undefined
  }
}

/**
 * Holds a short-lived access token: fetches it on first use, again shortly before its JWT `exp`
 * passes, and again when a 401 shows it went stale early. Concurrent callers share one fetch.
 */
export class TokenCache {
  readonly #fetch: (signal?: AbortSignal) => Promise<string>
  readonly #marginMs: number
  readonly #now: () => number
  #token: string | undefined
  #refreshAtMs = 0
  #pending: Promise<string> | undefined

  constructor(
    fetchToken: (signal?: AbortSignal) => Promise<string>,
    options: { marginMs?: number; now?: () => number } = {},
  ) {
    this.#fetch = fetchToken
    this.#marginMs = options.marginMs ?? 60_000
    this.#now = options.now ?? Date.now
  }

  async get(signal?: AbortSignal): Promise<string> {
    if (this.#token && this.#now() < this.#refreshAtMs) return this.#token
    return this.refresh(signal)
  }

  /** Drops the current token and fetches a new one (one fetch for all concurrent callers). */
  async refresh(signal?: AbortSignal): Promise<string> {
    this.#pending ??= this.#load(signal).finally(() => {
      this.#pending = undefined
    })
    return this.#pending
  }

  async #load(signal?: AbortSignal): Promise<string> {
    const token = await this.#fetch(signal)
    if (!token) throw new IntegrityError('The server answered without an access token')
    const exp = jwtExpiry(token)
    this.#token = token
    // A token without `exp` is used until the server says otherwise (401 → refresh).
    const lifetimeMs = exp === undefined ? Number.POSITIVE_INFINITY : exp * 1000 - this.#now()
    // Short-lived tokens are refreshed at half their life rather than after a fixed margin.
    this.#refreshAtMs = this.#now() + lifetimeMs - Math.min(this.#marginMs, lifetimeMs / 2)
    return token
  }
}
