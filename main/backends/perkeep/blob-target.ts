import { ConfigError, IntegrityError, RetryableError } from '../errors.ts'
import type { AuthProvider, HttpClient, HttpResponse, RequestBody } from '../http/client.ts'

/** One blob as a server reports it (stat, preupload, upload answers). */
export interface SizedRef {
  readonly blobRef: string
  readonly size: number
}

/** An upload answer: what was stored, and the server's complaint if it stopped early. */
export interface UploadAnswer {
  readonly received: readonly SizedRef[]
  readonly errorText?: string
  /** Legacy servers: the byte limit for the next request. */
  readonly maxUploadSize?: number
}

/**
 * Where blobs go: the current protocol (stat + upload under a discovered blobRoot) or the seed's
 * legacy preupload flow with server-chosen upload URLs (PROTOCOLS.md §3.6).
 */
export interface BlobTarget {
  readonly mode: 'current' | 'legacy'
  /** Largest sum of blob bytes one upload request may carry. */
  maxRequestBytes(): number
  /** The refs among `refs` (≤ 1000) that the server already holds, with their sizes. */
  stat(refs: readonly string[], signal?: AbortSignal): Promise<SizedRef[]>
  upload(
    body: RequestBody,
    headers: Record<string, string>,
    signal?: AbortSignal,
    onBytesSent?: (bytes: number) => void,
  ): Promise<{ answer: UploadAnswer; response: HttpResponse }>
}

/** Perkeep's own client keeps one upload request at or under 32 MB. */
export const MAX_REQUEST_BYTES = 32 * 1000 * 1000
export const MAX_STAT_REFS = 1000

/**
 * Finds the blob root: a URL with a path is the blob root itself; otherwise discovery
 * (`GET /` asking for the configuration); a 404 there sends us to the legacy preupload flow.
 */
export async function discoverTarget(
  server: URL,
  http: HttpClient,
  auth: AuthProvider,
  signal?: AbortSignal,
): Promise<BlobTarget> {
  if (server.pathname !== '/' && server.pathname !== '') {
    const root = new URL(server.href.endsWith('/') ? server.href : `${server.href}/`)
    return new CurrentTarget(root, http, auth)
  }
  const response = await http.request({
    method: 'GET',
    url: server,
    headers: { accept: 'text/x-camli-configuration' },
    auth,
    signal,
    acceptStatus: [404],
  })
  if (response.status === 404) return LegacyTarget.start(server, http, auth, signal)
  let config: { blobRoot?: unknown }
  try {
    config = JSON.parse(response.text) as { blobRoot?: unknown }
  } catch {
    throw new ConfigError(
      `${server.origin} does not answer like a Perkeep server (no configuration document)`,
    )
  }
  if (typeof config.blobRoot !== 'string' || !config.blobRoot) {
    throw new ConfigError(`The Perkeep server at ${server.origin} did not say where blobs go`)
  }
  const blobRoot = new URL(config.blobRoot, server)
  if (!blobRoot.pathname.endsWith('/')) blobRoot.pathname += '/'
  return new CurrentTarget(blobRoot, http, auth)
}

class CurrentTarget implements BlobTarget {
  readonly mode = 'current'
  readonly #root: URL
  readonly #http: HttpClient
  readonly #auth: AuthProvider

  constructor(root: URL, http: HttpClient, auth: AuthProvider) {
    this.#root = root
    this.#http = http
    this.#auth = auth
  }

  maxRequestBytes(): number {
    return MAX_REQUEST_BYTES
  }

  async stat(refs: readonly string[], signal?: AbortSignal): Promise<SizedRef[]> {
    const { body } = await this.#http.json<{ stat?: unknown }>({
      method: 'POST',
      url: new URL('camli/stat', this.#root),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: statForm(refs),
      auth: this.#auth,
      signal,
      // Asking is harmless: a stat may be repeated.
      idempotent: true,
    })
    return sizedRefs(body.stat, 'stat')
  }

  async upload(
    body: RequestBody,
    headers: Record<string, string>,
    signal?: AbortSignal,
    onBytesSent?: (bytes: number) => void,
  ): Promise<{ answer: UploadAnswer; response: HttpResponse }> {
    const { body: answer, response } = await this.#http.json<Record<string, unknown>>({
      method: 'POST',
      url: new URL('camli/upload', this.#root),
      headers,
      body,
      auth: this.#auth,
      signal,
      onBytesSent,
    })
    return { answer: uploadAnswer(answer), response }
  }
}

/**
 * The seed's flow: preupload names the next upload URL; each upload answer names the next.
 * Every answer supersedes the URL before it, so requests go one at a time, in call order.
 */
class LegacyTarget implements BlobTarget {
  readonly mode = 'legacy'
  readonly #server: URL
  readonly #http: HttpClient
  readonly #auth: AuthProvider
  #queue: Promise<unknown> = Promise.resolve()
  #uploadUrl: URL | undefined
  #expiresAt = 0
  #maxUploadSize = MAX_REQUEST_BYTES

  private constructor(server: URL, http: HttpClient, auth: AuthProvider) {
    this.#server = server
    this.#http = http
    this.#auth = auth
  }

  static async start(
    server: URL,
    http: HttpClient,
    auth: AuthProvider,
    signal?: AbortSignal,
  ): Promise<LegacyTarget> {
    const target = new LegacyTarget(server, http, auth)
    const response = await target.#preupload([], signal, [404])
    if (response === undefined) {
      throw new ConfigError(`${server.origin} answers neither Perkeep discovery nor preupload`)
    }
    return target
  }

  maxRequestBytes(): number {
    return this.#maxUploadSize
  }

  async stat(refs: readonly string[], signal?: AbortSignal): Promise<SizedRef[]> {
    return (await this.#oneAtATime(() => this.#preupload(refs, signal))) ?? []
  }

  upload(
    body: RequestBody,
    headers: Record<string, string>,
    signal?: AbortSignal,
    onBytesSent?: (bytes: number) => void,
  ): Promise<{ answer: UploadAnswer; response: HttpResponse }> {
    return this.#oneAtATime(() => this.#upload(body, headers, signal, onBytesSent))
  }

  #oneAtATime<T>(request: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(request, request)
    this.#queue = run.catch(() => undefined)
    return run
  }

  async #upload(
    body: RequestBody,
    headers: Record<string, string>,
    signal?: AbortSignal,
    onBytesSent?: (bytes: number) => void,
  ): Promise<{ answer: UploadAnswer; response: HttpResponse }> {
    // An upload URL past its expiry is not worth a try (PROTOCOLS.md §3.6).
    if (!this.#uploadUrl || Date.now() >= this.#expiresAt) await this.#preupload([], signal)
    try {
      const { body: answer, response } = await this.#http.json<Record<string, unknown>>({
        method: 'POST',
        url: this.#uploadUrl as URL,
        headers,
        body,
        auth: this.#auth,
        signal,
        onBytesSent,
        acceptStatus: [404],
      })
      if (response.status === 404) {
        this.#uploadUrl = undefined
        throw new RetryableError(
          'The Perkeep upload URL was no longer valid; asking for a new one',
          {
            status: 404,
          },
        )
      }
      this.#remember(answer)
      return { answer: uploadAnswer(answer), response }
    } catch (error) {
      // After a drop the URL may be spent: the next attempt asks preupload for a fresh one.
      this.#uploadUrl = undefined
      throw error
    }
  }

  async #preupload(
    refs: readonly string[],
    signal?: AbortSignal,
    acceptStatus: readonly number[] = [],
  ): Promise<SizedRef[] | undefined> {
    const response = await this.#http.request({
      method: 'POST',
      url: new URL('/camli/preupload', this.#server),
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json, text/javascript',
      },
      body: statForm(refs),
      auth: this.#auth,
      signal,
      idempotent: true,
      acceptStatus,
    })
    if (response.status === 404) return undefined
    const body = parseObject(response.text, 'preupload')
    this.#remember(body)
    if (!this.#uploadUrl)
      throw new IntegrityError('Perkeep preupload answered without an uploadUrl')
    return sizedRefs(body['alreadyHave'], 'preupload')
  }

  #remember(answer: Record<string, unknown>): void {
    const url = answer['uploadUrl']
    if (typeof url === 'string' && url) {
      this.#uploadUrl = new URL(url, this.#server)
      this.#http.checkUrl(this.#uploadUrl)
      const seconds = answer['uploadUrlExpirationSeconds']
      // Renew a little early so a request never starts on a URL about to lapse.
      const life = typeof seconds === 'number' && seconds > 0 ? seconds * 1000 : 60_000
      this.#expiresAt = Date.now() + life * 0.9
    }
    const max = answer['maxUploadSize']
    if (typeof max === 'number' && max > 0) this.#maxUploadSize = Math.min(max, MAX_REQUEST_BYTES)
  }
}

function parseObject(text: string, what: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text)
    if (value && typeof value === 'object') return value as Record<string, unknown>
  } catch {
    // Reported below.
  }
  throw new IntegrityError(`Perkeep's ${what} answer is not valid JSON`)
}

function statForm(refs: readonly string[]): string {
  const params = new URLSearchParams({ camliversion: '1' })
  refs.forEach((ref, i) => params.append(`blob${i + 1}`, ref))
  return params.toString()
}

function sizedRefs(value: unknown, what: string): SizedRef[] {
  if (value === undefined || value === null) return []
  if (!Array.isArray(value)) throw new IntegrityError(`Perkeep's ${what} answer is not a list`)
  return value.flatMap((item: unknown) => {
    const record = (item ?? {}) as Record<string, unknown>
    return typeof record['blobRef'] === 'string' && typeof record['size'] === 'number'
      ? [{ blobRef: record['blobRef'], size: record['size'] }]
      : []
  })
}

function uploadAnswer(body: Record<string, unknown>): UploadAnswer {
  const errorText = body['errorText']
  const max = body['maxUploadSize']
  return {
    received: sizedRefs(body['received'], 'upload'),
    ...(typeof errorText === 'string' && errorText ? { errorText } : {}),
    ...(typeof max === 'number' ? { maxUploadSize: max } : {}),
  }
}
