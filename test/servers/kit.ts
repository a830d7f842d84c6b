/**
 * Shared plumbing for the reference servers: a tiny router, JSON answers, request counting and
 * per-route fault injection. Servers stay strict; faults are opt-in per test.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import type { Busboy } from 'busboy'

export type Fault =
  /** Read a little of the request body (if any), then destroy the socket without answering. */
  | { readonly type: 'drop'; readonly afterBytes?: number }
  /** Answer at once with this status (the request is not processed). */
  | {
      readonly type: 'status'
      readonly status: number
      readonly headers?: Readonly<Record<string, string>>
      readonly body?: string
    }
  /** Wait, then process normally. */
  | { readonly type: 'delay'; readonly ms: number }
  /** Process normally, then answer with broken JSON instead of the real answer. */
  | { readonly type: 'malformed' }
  /** Process normally, then alter the JSON answer (wrong hash, CID, size…). */
  | { readonly type: 'rewrite'; readonly rewrite: (body: unknown) => unknown }

/** What a fault's `when` sees of a request (its body is not read yet). */
export interface FaultRequest {
  readonly req: IncomingMessage
  readonly url: URL
  readonly params: Readonly<Record<string, string>>
}

export interface FaultOptions {
  readonly times?: number
  readonly skip?: number
  /** Only requests this picks match (e.g. one file's session); others pass untouched. */
  readonly when?: (request: FaultRequest) => boolean
}

interface Armed {
  readonly fault: Fault
  readonly when: ((request: FaultRequest) => boolean) | undefined
  remaining: number
  skip: number
}

/** Faults armed per route name; each fires `times` times after skipping `skip` matching requests. */
export class Faults {
  readonly #armed = new Map<string, Armed[]>()

  inject(route: string, fault: Fault, options: FaultOptions = {}): void {
    const list = this.#armed.get(route) ?? []
    list.push({
      fault,
      when: options.when,
      remaining: options.times ?? 1,
      skip: options.skip ?? 0,
    })
    this.#armed.set(route, list)
  }

  clear(): void {
    this.#armed.clear()
  }

  /** Consumes and returns the fault for this request of `route`, if one is armed. */
  take(route: string, request?: FaultRequest): Fault | undefined {
    const list = this.#armed.get(route)
    if (!list) return undefined
    for (const armed of list) {
      if (armed.remaining <= 0) continue
      if (armed.when && (!request || !armed.when(request))) continue
      if (armed.skip > 0) {
        armed.skip--
        continue
      }
      armed.remaining--
      return armed.fault
    }
    return undefined
  }
}

/** Counts requests per route, so tests can assert that nothing was sent twice. */
export class RequestLog {
  readonly #counts = new Map<string, number>()

  record(route: string): void {
    this.#counts.set(route, (this.#counts.get(route) ?? 0) + 1)
  }

  count(route: string): number {
    return this.#counts.get(route) ?? 0
  }

  all(): Record<string, number> {
    return Object.fromEntries(this.#counts)
  }

  reset(): void {
    this.#counts.clear()
  }
}

/** Per-request helpers handed to route handlers. */
export interface Ctx {
  readonly req: IncomingMessage
  readonly res: ServerResponse
  readonly url: URL
  readonly params: Readonly<Record<string, string>>
  /** Sends a JSON answer (subject to malformed/rewrite faults). */
  json(status: number, body: unknown, headers?: Record<string, string>): void
  /** Reads the whole request body (for small JSON/form bodies only). */
  body(limit?: number): Promise<Buffer>
}

export type Handler = (ctx: Ctx) => Promise<void> | void

interface Route {
  readonly name: string
  readonly method: string
  readonly pattern: RegExp
  readonly keys: readonly string[]
  readonly handler: Handler
}

/** Error a handler throws to answer with a status and `{"message": ...}`. */
export class HttpError extends Error {
  readonly status: number
  readonly body: unknown

  constructor(status: number, message: string, body?: unknown) {
    super(message)
    this.status = status
    this.body = body ?? { message }
  }
}

/**
 * A minimal router. Paths use `:name` parameters; `optionalSlash` accepts the path with or
 * without a trailing slash (PROTOCOLS.md §1.2).
 */
export class Router {
  readonly faults = new Faults()
  readonly log = new RequestLog()
  readonly #routes: Route[] = []

  add(name: string, method: string, path: string, handler: Handler): this {
    const keys: string[] = []
    const source = path
      .replace(/\/$/, '')
      .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
      .replace(/:(\w+)/g, (_m, key: string) => {
        keys.push(key)
        return '([^/]+)'
      })
    this.#routes.push({ name, method, pattern: new RegExp(`^${source}/?$`), keys, handler })
    return this
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const route = this.#routes.find((r) => r.method === req.method && r.pattern.test(url.pathname))
    if (!route) {
      drain(req)
      sendJson(res, 404, { message: 'not found' })
      return
    }
    const match = route.pattern.exec(url.pathname)
    const params: Record<string, string> = {}
    route.keys.forEach((key, i) => {
      params[key] = decodeURIComponent(match?.[i + 1] ?? '')
    })
    this.log.record(route.name)
    const fault = this.faults.take(route.name, { req, url, params })
    if (fault?.type === 'drop') return dropMidBody(req, fault.afterBytes ?? 1)
    if (fault?.type === 'status') {
      drain(req)
      res.writeHead(fault.status, { 'content-type': 'application/json', ...fault.headers })
      res.end(fault.body ?? JSON.stringify({ message: `injected ${fault.status}` }))
      return
    }
    if (fault?.type === 'delay') await new Promise((r) => setTimeout(r, fault.ms))
    const ctx: Ctx = {
      req,
      res,
      url,
      params,
      json: (status, body, headers) => {
        if (fault?.type === 'malformed' && status < 300) {
          res.writeHead(status, { 'content-type': 'application/json', ...headers })
          res.end('{"message": "ok", "data": [')
          return
        }
        const out = fault?.type === 'rewrite' && status < 300 ? fault.rewrite(body) : body
        sendJson(res, status, out, headers)
      },
      body: (limit = 16 * 1024 * 1024) => readBody(req, limit),
    }
    try {
      await route.handler(ctx)
    } catch (error) {
      if (res.headersSent) {
        res.destroy()
        return
      }
      drain(req)
      if (error instanceof HttpError) sendJson(res, error.status, error.body)
      else sendJson(res, 500, { message: error instanceof Error ? error.message : String(error) })
    }
  }
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  })
  res.end(text)
}

export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > limit) throw new HttpError(413, 'request body too large')
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}

/** Discards a request body we will not read, so the client is not left writing into a void. */
export function drain(req: IncomingMessage): void {
  req.resume()
}

function dropMidBody(req: IncomingMessage, afterBytes: number): void {
  let seen = 0
  const kill = (): void => {
    req.socket.destroy()
  }
  const hasBody = req.headers['content-length'] !== '0' && req.method !== 'GET'
  if (!hasBody) return kill()
  req.on('data', (chunk: Buffer) => {
    seen += chunk.length
    if (seen >= afterBytes) kill()
  })
  req.on('end', kill)
}

export interface RunningServer {
  readonly url: string
  readonly port: number
  close(): Promise<void>
}

/** Listens on loopback (port 0 = any free port) and tracks sockets so close() is immediate. */
export async function listen(
  router: Router,
  options: { port?: number; host?: string } = {},
): Promise<RunningServer> {
  const sockets = new Set<Socket>()
  const server: Server = createServer((req, res) => {
    void router.handle(req, res)
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  const host = options.host ?? '127.0.0.1'
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, host, () => resolve())
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://${host}:${port}`,
    port,
    close: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** The connection dropped before the whole request body arrived. */
export class ConnectionLost extends Error {}

/** Pushes the request body into busboy with backpressure, counting it against the limit. */
export function feedBusboy(req: IncomingMessage, bb: Busboy, maxBodyBytes: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = 0
    let done = false
    const fail = (error: Error): void => {
      if (done) return
      done = true
      bb.destroy(error)
      // Keep reading (and discarding) so the client can still read our answer.
      req.resume()
      reject(error)
    }
    req.on('data', (chunk: Buffer) => {
      if (done) return
      seen += chunk.length
      if (seen > maxBodyBytes) return fail(new HttpError(413, 'request body too large'))
      if (!bb.write(chunk)) req.pause()
    })
    req.on('end', () => {
      if (!done) bb.end()
    })
    req.on('close', () => {
      if (!req.complete) fail(new ConnectionLost('connection lost mid-body'))
    })
    bb.on('drain', () => {
      if (!done) req.resume()
    })
    bb.on('error', (error: Error) => {
      fail(new HttpError(400, `malformed multipart body: ${error.message}`))
    })
    bb.on('finish', () => {
      done = true
      resolve()
    })
  })
}
