/**
 * The Kala reference server: PROTOCOLS.md §2 exactly, including its [choice] answers, and
 * nothing more lenient. Built on kit.ts, so tests can inject faults per route
 * (`kala.token`, `kala.session`, `kala.write`, `kala.close`, `kala.file`) and count requests.
 *
 * Where the page is silent, this server:
 * - wants `Content-Type: application/json` on JSON bodies (400 otherwise) and ignores unknown
 *   JSON fields;
 * - limits a whole write request (multipart framing included, like a proxy's body limit) to
 *   `maxBodyBytes`, default 10 MiB, answering 413 from `Content-Length` before reading;
 * - runs requests on one session one after another instead of interleaving their bytes, and
 *   records the peak overlap so tests can prove the client never overlaps;
 * - serves a file only once its session closed; open, unknown and expired uuids → 404.
 * The multipart rules are in kala-write.ts.
 */
import { createReadStream } from 'node:fs'
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { parseKalaHash } from '../../main/backends/kala/hash.ts'
import { KalaAuth } from './kala-auth.ts'
import { KalaSessionStore } from './kala-sessions.ts'
import type { KalaSession, KalaSessionInfo, KalaStoredFile } from './kala-sessions.ts'
import { receiveWrite } from './kala-write.ts'
import { HttpError, Router, listen } from './kit.ts'
import type { Ctx } from './kit.ts'

export type { KalaSessionInfo, KalaStoredFile } from './kala-sessions.ts'

export interface KalaServerOptions {
  /** Where session files live; a fresh temp folder (removed on close) when omitted. */
  readonly storageDir?: string
  /** username → password. */
  readonly users?: Readonly<Record<string, string>>
  readonly apiKeys?: readonly string[]
  /** Header that carries an API key; default `X-API-Key`. */
  readonly apiKeyHeader?: string
  /** Lifetime of issued access tokens; default 3600 s. */
  readonly accessTokenLifetimeSeconds?: number
  /** Open sessions expire this long after creation; default 24 h. */
  readonly sessionExpiryMs?: number
  /** Largest write request accepted; default 10 MiB (enough for an 8 MiB chunk). */
  readonly maxBodyBytes?: number
  /** Milliseconds since the epoch, for token expiry and session expiry; default Date.now. */
  readonly clock?: () => number
  readonly port?: number
  readonly host?: string
}

/** A running Kala reference server and the handles tests use to inspect and steer it. */
export interface KalaServer {
  readonly url: string
  readonly port: number
  readonly router: Router
  readonly storageDir: string
  readonly apiKeyHeader: string
  /** Largest write request accepted; settable so a test can force 413 mid-run. */
  maxBodyBytes: number
  close(): Promise<void>
  /** Files whose sessions closed successfully. */
  files(): KalaStoredFile[]
  sessions(): KalaSessionInfo[]
  session(uuid: string): KalaSessionInfo | undefined
  setPassword(username: string, password: string): void
  removeUser(username: string): void
  addApiKey(key: string): void
  revokeApiKey(key: string): void
  /** Every access token issued so far answers 401 from now on. */
  invalidateTokens(): void
  /** Makes an open session expire now (404 from then on). */
  expireSession(uuid: string): void
  /**
   * Fault: the next `times` write requests put `afterBytes` bytes of their `file` part into the
   * session and then lose the connection, leaving that partial state behind.
   */
  breakNextWrite(afterBytes: number, times?: number): void
}

const DEFAULT_MAX_BODY = 10 * 1024 * 1024
const JSON_LIMIT = 64 * 1024

/** Starts a Kala reference server on loopback. */
export async function createKalaServer(options: KalaServerOptions = {}): Promise<KalaServer> {
  const ownDir = options.storageDir === undefined
  const storageDir = options.storageDir ?? (await mkdtemp(join(tmpdir(), 'ferry-kala-')))
  await mkdir(storageDir, { recursive: true })
  const clock = options.clock ?? Date.now
  const auth = new KalaAuth({ ...options, clock })
  const store = new KalaSessionStore({
    dir: storageDir,
    expiryMs: options.sessionExpiryMs ?? 24 * 60 * 60 * 1000,
    clock,
  })
  const breaks: number[] = []
  const router = new Router()

  const requireAuth = async (ctx: Ctx): Promise<void> => {
    if (!(await auth.accepts(ctx.req.headers))) throw new HttpError(401, 'Unauthorized')
  }
  const findSession = (ctx: Ctx): KalaSession => {
    const session = store.find(ctx.params.uuid ?? '')
    if (!session) throw new HttpError(404, 'Session not found')
    return session
  }

  router.add('kala.token', 'POST', '/api/auth/access-token', async (ctx) => {
    const body = await readJsonObject(ctx)
    const { username, password } = body
    if (typeof username !== 'string' || typeof password !== 'string') {
      throw new HttpError(400, 'username and password must be strings')
    }
    const token = await auth.issue(username, password)
    if (token === undefined) throw new HttpError(401, 'Unauthorized')
    ctx.json(200, { data: { access_token: token } })
  })

  router.add('kala.session', 'POST', '/api/manage/filestore/sessions', async (ctx) => {
    await requireAuth(ctx)
    const body = await readJsonObject(ctx)
    const { originalFilename, fileSize, hash } = body
    if (originalFilename !== undefined && typeof originalFilename !== 'string') {
      throw new HttpError(400, 'originalFilename must be a string')
    }
    if (typeof fileSize !== 'number' || !Number.isSafeInteger(fileSize) || fileSize < 0) {
      throw new HttpError(400, 'fileSize must be a non-negative integer')
    }
    const digest = typeof hash === 'string' ? parseKalaHash(hash) : undefined
    if (typeof hash !== 'string' || digest === undefined) {
      throw new HttpError(400, 'hash must be "sha256:" and the padded base64 of a 32-byte digest')
    }
    const session = await store.create({ originalFilename, fileSize, hash, digest })
    ctx.json(200, { data: session.uuid })
  })

  router.add('kala.write', 'POST', '/api/manage/filestore/sessions/:uuid/write', async (ctx) => {
    await requireAuth(ctx)
    const session = findSession(ctx)
    if (session.state === 'closed') throw new HttpError(409, 'Session is already closed')
    if (!/^multipart\/form-data\s*;/i.test(ctx.req.headers['content-type'] ?? '')) {
      throw new HttpError(400, 'Expected a multipart/form-data body')
    }
    if (Number(ctx.req.headers['content-length'] ?? 0) > server.maxBodyBytes) {
      throw new HttpError(413, 'Request body too large')
    }
    session.writes++
    session.inFlight++
    session.peakConcurrentWrites = Math.max(session.peakConcurrentWrites, session.inFlight)
    try {
      const result = await session.serialize(async () => {
        // The session may have closed or expired while this request waited its turn.
        if (store.find(session.uuid) !== session) throw new HttpError(404, 'Session not found')
        if (session.state === 'closed') throw new HttpError(409, 'Session is already closed')
        const breakAfterBytes = breaks.shift()
        return receiveWrite(ctx.req, session, {
          maxBodyBytes: server.maxBodyBytes,
          breakAfterBytes,
        })
      })
      if (result.ok) ctx.json(200, { data: { size: result.size } })
    } finally {
      session.inFlight--
    }
  })

  router.add('kala.close', 'POST', '/api/manage/filestore/sessions/:uuid/close', async (ctx) => {
    await requireAuth(ctx)
    ctx.req.resume()
    const session = findSession(ctx)
    await session.serialize(() => store.close(session))
    ctx.json(200, { data: session.uuid })
  })

  router.add('kala.file', 'GET', '/api/manage/filestore/files/:uuid', async (ctx) => {
    await requireAuth(ctx)
    const session = store.find(ctx.params.uuid ?? '')
    if (!session || session.state !== 'closed') throw new HttpError(404, 'File not found')
    const { size } = await stat(session.path)
    ctx.res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': String(size),
    })
    await pipeline(createReadStream(session.path), ctx.res)
  })

  const running = await listen(router, { port: options.port, host: options.host })
  const server: KalaServer = {
    url: running.url,
    port: running.port,
    router,
    storageDir,
    apiKeyHeader: auth.apiKeyHeader,
    maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY,
    close: async () => {
      await running.close()
      if (ownDir) await rm(storageDir, { recursive: true, force: true })
    },
    files: () => store.files(),
    sessions: () => store.sessions(),
    session: (uuid) => store.sessions().find((s) => s.uuid === uuid),
    setPassword: (username, password) => auth.setPassword(username, password),
    removeUser: (username) => auth.removeUser(username),
    addApiKey: (key) => auth.addApiKey(key),
    revokeApiKey: (key) => auth.revokeApiKey(key),
    invalidateTokens: () => auth.invalidateTokens(),
    expireSession: (uuid) => store.expire(uuid),
    breakNextWrite: (afterBytes, times = 1) => {
      for (let i = 0; i < times; i++) breaks.push(afterBytes)
    },
  }
  return server
}

/** Reads a small JSON object body; wrong type, bad JSON or a non-object → 400. */
async function readJsonObject(ctx: Ctx): Promise<Record<string, unknown>> {
  if (!/^application\/json\s*(;|$)/i.test(ctx.req.headers['content-type'] ?? '')) {
    throw new HttpError(400, 'Expected an application/json body')
  }
  let value: unknown
  try {
    value = JSON.parse((await ctx.body(JSON_LIMIT)).toString('utf8'))
  } catch (error) {
    if (error instanceof HttpError) throw error
    throw new HttpError(400, 'Request body is not valid JSON')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new HttpError(400, 'Request body must be a JSON object')
  }
  return value as Record<string, unknown>
}
