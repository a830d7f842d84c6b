/**
 * Credentials of the Kala reference server (PROTOCOLS.md §2.1): users who log in for a real
 * HS256 JWT with `exp`, and API keys sent in a configurable header.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import { SignJWT, jwtVerify } from 'jose'

export interface KalaAuthOptions {
  /** username → password. */
  readonly users?: Readonly<Record<string, string>>
  readonly apiKeys?: readonly string[]
  /** Header that carries an API key; default `X-API-Key`. */
  readonly apiKeyHeader?: string
  readonly accessTokenLifetimeSeconds?: number
  /** Milliseconds since the epoch; lets tests move time instead of waiting. */
  readonly clock?: () => number
}

/** Users, API keys and access tokens, changeable at run time so tests can revoke them. */
export class KalaAuth {
  readonly apiKeyHeader: string
  readonly #users = new Map<string, string>()
  readonly #apiKeys = new Set<string>()
  readonly #lifetimeSeconds: number
  readonly #clock: () => number
  #secret: Uint8Array = randomBytes(32)

  constructor(options: KalaAuthOptions = {}) {
    this.apiKeyHeader = options.apiKeyHeader ?? 'X-API-Key'
    this.#lifetimeSeconds = options.accessTokenLifetimeSeconds ?? 3600
    this.#clock = options.clock ?? Date.now
    for (const [user, password] of Object.entries(options.users ?? {}))
      this.setPassword(user, password)
    for (const key of options.apiKeys ?? []) this.addApiKey(key)
  }

  /** A signed access token for these credentials, or undefined if they are wrong. */
  async issue(username: string, password: string): Promise<string | undefined> {
    const known = this.#users.get(username)
    if (known === undefined || !safeEqual(known, password)) return undefined
    const now = Math.floor(this.#clock() / 1000)
    return new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(username)
      .setIssuedAt(now)
      .setExpirationTime(now + this.#lifetimeSeconds)
      .sign(this.#secret)
  }

  /** True when the request carries a valid bearer token or API key. */
  async accepts(headers: IncomingHttpHeaders): Promise<boolean> {
    const key = headers[this.apiKeyHeader.toLowerCase()]
    if (typeof key === 'string' && [...this.#apiKeys].some((k) => safeEqual(k, key))) return true
    const match = /^Bearer\s+(\S+)\s*$/i.exec(headers.authorization ?? '')
    if (!match?.[1]) return false
    try {
      const { payload } = await jwtVerify(match[1], this.#secret, {
        algorithms: ['HS256'],
        currentDate: new Date(this.#clock()),
        requiredClaims: ['exp', 'sub'],
      })
      return payload.sub !== undefined && this.#users.has(payload.sub)
    } catch {
      return false
    }
  }

  /** Adds a user or changes a password; tokens already issued stay valid until they expire. */
  setPassword(username: string, password: string): void {
    this.#users.set(username, password)
  }

  /** Removes a user; their outstanding tokens stop working at once. */
  removeUser(username: string): void {
    this.#users.delete(username)
  }

  addApiKey(key: string): void {
    this.#apiKeys.add(key)
  }

  revokeApiKey(key: string): void {
    this.#apiKeys.delete(key)
  }

  /** Rotates the signing key, so every access token issued so far answers 401. */
  invalidateTokens(): void {
    this.#secret = randomBytes(32)
  }
}

// Hashing first makes the comparison constant-time whatever the lengths.
function safeEqual(a: string, b: string): boolean {
  const digest = (s: string): Buffer => createHash('sha256').update(s).digest()
  return timingSafeEqual(digest(a), digest(b))
}
