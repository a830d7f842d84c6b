import { Readable } from 'node:stream'
import { Agent, request, type Dispatcher } from 'undici'
import {
  AuthError,
  CancelledError,
  ConfigError,
  FerryError,
  IntegrityError,
  isNetworkError,
  PermanentError,
  RetryableError,
  toFerryError,
} from '../errors.ts'
import { BANDWIDTH_SLICE, type BandwidthLimiter } from './bandwidth.ts'
import { DEFAULT_RETRY, parseRetryAfter, withRetry, type RetryPolicy } from './retry.ts'
import { assertAllowedUrl, describeUrl } from './url-policy.ts'

/** A request body that can be opened again for a retry, streamed chunk by chunk. */
export interface BodySource {
  readonly length: number
  readonly contentType?: string
  open(): AsyncIterable<Uint8Array>
}

export type RequestBody = string | Uint8Array | BodySource

/** Supplies credentials per request; `refresh` is called once after a 401. */
export interface AuthProvider {
  headers(signal?: AbortSignal): Promise<Record<string, string>>
  refresh(signal?: AbortSignal): Promise<void>
}

export interface RequestSpec {
  readonly method: 'GET' | 'HEAD' | 'POST' | 'PUT'
  readonly url: string | URL
  readonly headers?: Readonly<Record<string, string>>
  readonly body?: RequestBody
  readonly auth?: AuthProvider
  readonly signal?: AbortSignal
  /**
   * Whether a retryable failure may be retried here. Defaults to true for GET, HEAD and PUT;
   * a POST that may have taken effect is retried by its caller, which knows how to recover.
   */
  readonly idempotent?: boolean
  /** Called as request body bytes go out. */
  readonly onBytesSent?: (bytes: number) => void
  /** Statuses the caller handles itself instead of getting a typed error (e.g. 404, 413). */
  readonly acceptStatus?: readonly number[]
  /**
   * The request presents credentials (a token or login endpoint): a 403 then means they were
   * refused. Elsewhere a 403 refuses one action (a path, a quota), not the account.
   */
  readonly authEndpoint?: boolean
}

export interface HttpResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly text: string
  /** The URL that answered (after redirects). */
  readonly url: string
}

export interface HttpClientOptions {
  /** Permit plain http:// to hosts other than loopback (the account must say so explicitly). */
  readonly allowInsecureHttp?: boolean
  readonly connectionsPerOrigin?: number
  readonly connectTimeoutMs?: number
  /** Time to wait for response headers once the request is sent (servers may process first). */
  readonly headersTimeoutMs?: number
  /** Longest silence allowed while a response body arrives. */
  readonly bodyTimeoutMs?: number
  readonly retry?: Partial<RetryPolicy>
  /** Names the service in error messages ("dStor answered 400: …"). */
  readonly serviceName?: string
  /** Share one agent between clients (the app uses one for everything). */
  readonly dispatcher?: Dispatcher
  /** The upload limit request bodies are held to, shared with the process's other clients. */
  readonly bandwidth?: BandwidthLimiter
}

const MAX_ANSWER_BYTES = 32 * 1024 * 1024
const MAX_REDIRECTS = 5
// Bodies this small (logins, JSON, forms) skip the bandwidth limit: they are not what fills
// the pipe, and should not queue behind upload slices.
const UNTHROTTLED_BYTES = 16 * 1024

/** Creates the shared keep-alive agent: one pool per origin with a connection limit. */
export function createAgent(options: HttpClientOptions = {}): Agent {
  return new Agent({
    connections: options.connectionsPerOrigin ?? 8,
    keepAliveTimeout: 30_000,
    headersTimeout: options.headersTimeoutMs ?? 120_000,
    bodyTimeout: options.bodyTimeoutMs ?? 60_000,
    // TLS verification stays on: no rejectUnauthorized override, ever.
    connect: { timeout: options.connectTimeoutMs ?? 10_000 },
  })
}

/**
 * The one HTTP door of the protocol layer: URL policy, timeouts, auth refresh after a 401,
 * retries with backoff honouring Retry-After, redirects, and every failure mapped to a typed
 * FerryError in one place.
 */
export class HttpClient {
  readonly retry: RetryPolicy
  readonly #dispatcher: Dispatcher
  readonly #ownsDispatcher: boolean
  readonly #allowInsecureHttp: boolean
  readonly #service: string
  #bandwidth: BandwidthLimiter | undefined

  constructor(options: HttpClientOptions = {}) {
    this.retry = { ...DEFAULT_RETRY, ...options.retry }
    this.#dispatcher = options.dispatcher ?? createAgent(options)
    this.#ownsDispatcher = options.dispatcher === undefined
    this.#allowInsecureHttp = options.allowInsecureHttp ?? false
    this.#service = options.serviceName ?? 'The server'
    this.#bandwidth = options.bandwidth
  }

  /** Holds request bodies sent from now on to `limiter` (undefined: no limit). */
  setBandwidth(limiter: BandwidthLimiter | undefined): void {
    this.#bandwidth = limiter
  }

  /** Throws ConfigError when this client may not talk to `url` (e.g. plain http to a remote host). */
  checkUrl(url: string | URL): URL {
    return assertAllowedUrl(url, this.#allowInsecureHttp)
  }

  async request(spec: RequestSpec): Promise<HttpResponse> {
    const idempotent = spec.idempotent ?? spec.method !== 'POST'
    const policy = idempotent ? this.retry : { ...this.retry, retries: 0 }
    return withRetry(policy, spec.signal, () => this.#withAuth(spec))
  }

  /** Sends and parses a JSON answer; an answer that is not JSON is an IntegrityError. */
  async json<T>(spec: RequestSpec): Promise<{ response: HttpResponse; body: T }> {
    const response = await this.request({
      ...spec,
      headers: { accept: 'application/json', ...spec.headers },
    })
    return { response, body: parseJson<T>(response, this.#service) }
  }

  async close(): Promise<void> {
    if (this.#ownsDispatcher) await this.#dispatcher.close()
  }

  async #withAuth(spec: RequestSpec): Promise<HttpResponse> {
    try {
      return await this.#send(spec)
    } catch (error) {
      // A 401 may only mean our token expired early: refresh once, try once more.
      if (!(error instanceof AuthError) || error.status !== 401 || !spec.auth) throw error
      await spec.auth.refresh(spec.signal)
      return this.#send(spec)
    }
  }

  async #send(spec: RequestSpec): Promise<HttpResponse> {
    let url = this.checkUrl(spec.url)
    let method: RequestSpec['method'] = spec.method
    let body = spec.body
    const authHeaders = spec.auth ? await spec.auth.headers(spec.signal) : {}
    const origin = url.origin
    for (let hop = 0; ; hop++) {
      // Nothing of ours follows a redirect to another origin: caller headers may carry keys
      // (dStor's api-key) and bodies may carry passwords.
      const sameOrigin = url.origin === origin
      const headers: Record<string, string> = sameOrigin
        ? { 'user-agent': 'Ferry/0.1', ...spec.headers, ...authHeaders }
        : { 'user-agent': 'Ferry/0.1', accept: spec.headers?.['accept'] ?? '*/*' }
      const payload = encodeBody(body, headers, {
        onBytesSent: spec.onBytesSent,
        bandwidth: this.#bandwidth,
        signal: spec.signal,
      })
      let answer: Dispatcher.ResponseData
      try {
        answer = await request(url, {
          dispatcher: this.#dispatcher,
          method,
          headers,
          body: payload,
          signal: spec.signal,
        })
      } catch (error) {
        throw mapNetworkError(error, spec, this.#service)
      }
      const status = answer.statusCode
      const responseHeaders = flattenHeaders(answer.headers)
      const location = responseHeaders['location']
      if ([301, 302, 303, 307, 308].includes(status) && location && hop < MAX_REDIRECTS) {
        await answer.body.dump()
        url = this.checkUrl(new URL(location, url))
        if (status >= 307 && body !== undefined && url.origin !== origin) {
          throw new PermanentError(
            `${this.#service} redirected an upload to another server (${describeUrl(url)}); refused`,
            { status },
          )
        }
        if (status <= 303) {
          method = method === 'HEAD' ? 'HEAD' : 'GET'
          body = undefined
        }
        continue
      }
      let text: string
      try {
        text = method === 'HEAD' ? '' : await readCapped(answer.body, MAX_ANSWER_BYTES)
      } catch (error) {
        throw mapNetworkError(error, spec, this.#service)
      }
      const response: HttpResponse = { status, headers: responseHeaders, text, url: url.href }
      if ((status >= 200 && status < 300) || spec.acceptStatus?.includes(status)) return response
      throw statusError(response, spec, this.#service)
    }
  }
}

/** How a body's bytes go out: who hears of them, and the limit they are held to. */
interface Sending {
  readonly onBytesSent: ((bytes: number) => void) | undefined
  readonly bandwidth: BandwidthLimiter | undefined
  readonly signal: AbortSignal | undefined
}

function encodeBody(
  body: RequestBody | undefined,
  headers: Record<string, string>,
  sending: Sending,
): Readable | undefined {
  if (body === undefined) return undefined
  if (typeof body === 'string' || body instanceof Uint8Array) {
    const bytes = typeof body === 'string' ? Buffer.from(body) : body
    headers['content-length'] = String(bytes.byteLength)
    sending.onBytesSent?.(0)
    const held =
      bytes.byteLength > UNTHROTTLED_BYTES ? sending : { ...sending, bandwidth: undefined }
    return Readable.from(sendingIterable([bytes], held), { objectMode: false })
  }
  headers['content-length'] = String(body.length)
  if (body.contentType) headers['content-type'] = body.contentType
  return Readable.from(sendingIterable(body.open(), sending), { objectMode: false })
}

/**
 * Hands a body to the socket as it asks for more, each byte only once the bandwidth limit lets
 * it go (looked up per chunk, so a new limit applies mid-body), and counts what went out.
 */
async function* sendingIterable(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  { onBytesSent, bandwidth, signal }: Sending,
): AsyncIterable<Uint8Array> {
  for await (const chunk of source) {
    if (bandwidth === undefined || bandwidth.limit === 0) {
      yield chunk
      onBytesSent?.(chunk.byteLength)
      continue
    }
    // In slices, so that a chunk of megabytes does not go out as one burst.
    for (let at = 0; at < chunk.byteLength; at += BANDWIDTH_SLICE) {
      const slice = chunk.subarray(at, at + BANDWIDTH_SLICE)
      await bandwidth.take(slice.byteLength, signal)
      yield slice
      onBytesSent?.(slice.byteLength)
    }
  }
}

async function readCapped(body: Dispatcher.ResponseData['body'], cap: number): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > cap) {
      body.destroy()
      throw new IntegrityError(`Answer larger than ${cap} bytes`)
    }
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

function flattenHeaders(headers: Dispatcher.ResponseData['headers']): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [key, value] of Object.entries(headers)) {
    if (value !== undefined)
      out[key.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value
  }
  return out
}

/** Picks the most useful human message out of an error answer. */
export function serverMessage(text: string): string | undefined {
  const trimmed = text.trim()
  if (!trimmed) return undefined
  try {
    const parsed: unknown = JSON.parse(trimmed)
    if (parsed && typeof parsed === 'object') {
      const record = parsed as Record<string, unknown>
      for (const key of ['message', 'errorText', 'errorExplanation', 'error']) {
        const value = record[key]
        if (typeof value === 'string' && value) return value.slice(0, 500)
      }
    }
  } catch {
    // Not JSON: fall through to the raw text.
  }
  return trimmed.slice(0, 200)
}

function statusError(response: HttpResponse, spec: RequestSpec, service: string): FerryError {
  const { status } = response
  const message = serverMessage(response.text)
  const where = `${spec.method} ${describeUrl(response.url)}`
  const text = `${service} answered ${status}${message ? `: ${message}` : ''} (${where})`
  const details = { status, serverMessage: message }
  if (status === 401 || (status === 403 && spec.authEndpoint)) return new AuthError(text, details)
  if (status === 408 || status === 425 || status === 429 || status >= 500) {
    return new RetryableError(text, {
      ...details,
      retryAfterMs: parseRetryAfter(response.headers['retry-after']),
    })
  }
  return new PermanentError(text, details)
}

function mapNetworkError(error: unknown, spec: RequestSpec, service: string): FerryError {
  if (error instanceof FerryError) return error
  if (spec.signal?.aborted) return new CancelledError('Cancelled', { cause: error })
  const code = (error as { code?: string } | null)?.code
  const reason = error instanceof Error ? error.message : String(error)
  const where = `${spec.method} ${describeUrl(spec.url)}`
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new RetryableError(`Cannot find ${service.toLowerCase()} host (${where})`, {
      cause: error,
    })
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID' || /certificate/i.test(reason)) {
    return new ConfigError(`The server's TLS certificate is not valid: ${reason} (${where})`, {
      cause: error,
    })
  }
  if (!isNetworkError(error)) return toFerryError(error, spec.signal)
  return new RetryableError(`Connection to ${service.toLowerCase()} failed: ${reason} (${where})`, {
    cause: error,
  })
}

function parseJson<T>(response: HttpResponse, service: string): T {
  try {
    return JSON.parse(response.text) as T
  } catch {
    throw new IntegrityError(
      `${service} sent an answer that is not valid JSON (${describeUrl(response.url)})`,
      { status: response.status },
    )
  }
}
