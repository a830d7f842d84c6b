/**
 * The reference Perkeep server (PROTOCOLS.md §3): discovery, stat, multipart upload, PUT and
 * GET/HEAD of blobs as a current perkeepd answers them, or (mode 'legacy') the seed's 2010
 * preupload flow with server-chosen, expiring upload URLs (§3.6). Strict on purpose; faults are
 * opt-in per test through `router.faults` and the helpers below.
 *
 * Route names: perkeep.discovery, perkeep.stat, perkeep.upload (both modes), perkeep.put,
 * perkeep.get, perkeep.head, perkeep.preupload, perkeep.upload-result (redirect target).
 *
 * For tests it also logs every blob part as it begins to arrive (`received()`), noting the ones
 * it already held: a real server takes those without complaint, but a client that stats first
 * never needs to send them, so a test can count what was sent again.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import type { IncomingMessage } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import busboy from 'busboy'
import { BlobStore, MAX_BLOB_SIZE, refHash, type Received } from './perkeep-blob-store.ts'
import { drain, HttpError, listen, Router, sendJson, type Ctx } from './kit.ts'
import {
  fileBytes,
  fileDigest,
  fileSize,
  readDirectory,
  readSchema,
  type Schema,
  type TreeNode,
} from './perkeep-schema-reader.ts'

/** How the reference server behaves; everything is optional. */
export interface PerkeepServerOptions {
  /** Where blobs live; a temp folder (removed on close) when omitted. */
  readonly storageDir?: string
  /** Required credentials: HTTP Basic with user/password and/or `Authorization: Token <token>`. */
  readonly auth?: { readonly user?: string; readonly password?: string; readonly token?: string }
  /** Default `/bs-and-maybe-also-index/` (current) or `/` (legacy). */
  readonly blobRoot?: string
  readonly mode?: 'current' | 'legacy'
  /** Legacy: the most blob bytes one upload request may carry (framing not counted). 1 MiB. */
  readonly maxUploadSize?: number
  /** Legacy: how long an upload URL stays valid. 7200. */
  readonly uploadUrlExpirationSeconds?: number
  /** Answer uploads with this redirect to the JSON instead of the JSON itself. */
  readonly uploadRedirect?: RedirectStatus
  /** Clock in ms, so tests can expire upload URLs without waiting. */
  readonly now?: () => number
  readonly port?: number
}

export type RedirectStatus = 301 | 302 | 303

/** One multipart/PUT upload request as the server saw it. */
export interface UploadRecord {
  readonly route: 'perkeep.upload' | 'perkeep.put'
  /** Refs stored by this request, in order. */
  readonly stored: readonly string[]
  /** Blob bytes the request carried (every part, stored or not). */
  readonly blobBytes: number
  readonly errorText?: string
}

/** A blob part (multipart or PUT) as it began to arrive, whatever became of it. */
export interface ReceivedBlob {
  readonly route: 'perkeep.upload' | 'perkeep.put'
  readonly ref: string
  /** The server already held this blob when the part arrived: sent again for nothing. */
  readonly alreadyHad: boolean
}

/** A running reference server plus the helpers tests use to look inside it. */
export interface PerkeepServer {
  readonly url: string
  readonly router: Router
  readonly storageDir: string
  readonly store: BlobStore
  readonly mode: 'current' | 'legacy'
  /** The blob root path, e.g. `/bs-and-maybe-also-index/`. */
  readonly blobRoot: string
  close(): Promise<void>
  blobs(): { ref: string; size: number }[]
  has(ref: string): boolean
  blobCount(): number
  readBlob(ref: string): Promise<Buffer>
  readSchema(ref: string, type?: string): Promise<Schema>
  /** Reassembles a file from its `file` schema blob, checking every size. */
  fileBytes(fileRef: string): Promise<Buffer>
  /** Streams a file's content through a hash (for files too big to hold). */
  fileDigest(
    fileRef: string,
    hash?: 'sha1' | 'sha224' | 'sha256',
  ): Promise<{ size: number; digest: string }>
  fileSize(fileRef: string): Promise<number>
  /** Walks a `directory` schema blob into a tree. */
  readDirectory(dirRef: string): Promise<TreeNode>
  /** The next `times` uploads of `ref` (multipart or PUT) fail as if the digest mismatched. */
  rejectNext(ref: string, times?: number): void
  setUploadRedirect(status: RedirectStatus | undefined): void
  uploads(): readonly UploadRecord[]
  /** Every blob part received so far, in arrival order (see ReceivedBlob). */
  received(): readonly ReceivedBlob[]
  /** How many blob parts arrived that the server already held. */
  resentCount(): number
  /** File ref → placeholder permanode ref, for every file vivified. */
  vivified(): ReadonlyMap<string, string>
  /** Legacy: the upload URL that is valid now, if any. */
  currentUploadUrl(): string | undefined
}

const CURRENT_BLOB_ROOT = '/bs-and-maybe-also-index/'
const MAX_STAT_BLOBS = 1000
const CONFIG_TYPE = 'text/x-camli-configuration'
// perkeepd answers its JSON with this content type (httputil.ReturnJSON).
const JSON_HEADERS = { 'content-type': 'text/javascript' }

/** Starts a reference Perkeep server on 127.0.0.1. */
export async function createPerkeepServer(
  options: PerkeepServerOptions = {},
): Promise<PerkeepServer> {
  const mode = options.mode ?? 'current'
  const blobRoot = normaliseRoot(options.blobRoot ?? (mode === 'legacy' ? '/' : CURRENT_BLOB_ROOT))
  const ownDir = options.storageDir === undefined
  const storageDir = options.storageDir ?? (await mkdtemp(join(tmpdir(), 'ferry-perkeep-')))
  const store = new BlobStore(storageDir)
  await store.open()

  const now = options.now ?? Date.now
  const maxUploadSize = options.maxUploadSize ?? 1024 * 1024
  const expirySeconds = options.uploadUrlExpirationSeconds ?? 7200
  const storageGeneration = randomBytes(20).toString('hex')
  const rejections = new Map<string, number>()
  const uploads: UploadRecord[] = []
  const received: ReceivedBlob[] = []
  const noteReceived = (route: ReceivedBlob['route'], ref: string): void => {
    received.push({ route, ref, alreadyHad: store.has(ref) })
  }
  const vivified = new Map<string, string>()
  const results = new Map<string, unknown>()
  let redirect = options.uploadRedirect
  let baseUrl = ''
  let upload: { token: string; issuedAt: number } | undefined

  const issueUploadUrl = (): string => {
    upload = { token: randomBytes(16).toString('hex'), issuedAt: now() }
    return `${baseUrl}/legacy-upload/${upload.token}`
  }
  const currentToken = (): string | undefined =>
    upload !== undefined && now() - upload.issuedAt <= expirySeconds * 1000
      ? upload.token
      : undefined
  const legacyFields = (): Record<string, unknown> => ({
    maxUploadSize,
    uploadUrl: issueUploadUrl(),
    uploadUrlExpirationSeconds: expirySeconds,
  })
  const authorised = (ctx: Ctx): boolean => {
    if (checkAuth(ctx.req, options.auth)) return true
    drain(ctx.req)
    sendJson(
      ctx.res,
      401,
      { message: 'unauthorized' },
      { 'www-authenticate': 'Basic realm="perkeep"' },
    )
    return false
  }

  const takeRejection = (ref: string): boolean => {
    const left = rejections.get(ref) ?? 0
    if (left <= 0) return false
    rejections.set(ref, left - 1)
    return true
  }

  const answerUpload = (ctx: Ctx, body: unknown, headers: Record<string, string>): void => {
    if (redirect === undefined) {
      ctx.json(200, body, { ...JSON_HEADERS, ...headers })
      return
    }
    const id = randomBytes(8).toString('hex')
    results.set(id, body)
    ctx.res.writeHead(redirect, {
      location: `/camli-upload-result/${id}`,
      'content-length': '0',
      ...headers,
    })
    ctx.res.end()
  }

  const handleUpload = async (ctx: Ctx, legacy: boolean): Promise<void> => {
    if (!authorised(ctx)) return
    if (legacy) {
      if (currentToken() !== ctx.params.token)
        throw new HttpError(404, 'upload URL superseded or expired')
    }
    const parsed = await parseUpload(ctx.req, store, {
      takeRejection,
      onPart: (ref) => noteReceived('perkeep.upload', ref),
      commitEachPart: !legacy,
      totalLimit: legacy ? maxUploadSize : Number.POSITIVE_INFINITY,
    })
    if (parsed.overTotal) {
      uploads.push({ route: 'perkeep.upload', stored: [], blobBytes: parsed.blobBytes })
      throw new HttpError(400, `request carries over maxUploadSize (${maxUploadSize}) blob bytes`)
    }
    const errors = [...parsed.errors]
    const headers: Record<string, string> = {}
    if (ctx.req.headers['x-camlistore-vivify'] === '1') {
      const done: string[] = []
      for (const { blobRef } of parsed.received) {
        try {
          vivified.set(blobRef, await vivify(store, blobRef))
          done.push(blobRef)
        } catch (error) {
          errors.push(`Error vivifying blob ${blobRef}: ${(error as Error).message}`)
        }
      }
      // perkeepd names the vivified file blob here, not the permanode (handlers/upload.go).
      if (done.length > 0) headers['x-camlistore-vivified'] = done.join(', ')
    }
    const errorText = errors.length > 0 ? errors.join('\n') : undefined
    uploads.push({
      route: 'perkeep.upload',
      stored: parsed.received.map((r) => r.blobRef),
      blobBytes: parsed.blobBytes,
      ...(errorText === undefined ? {} : { errorText }),
    })
    const body = {
      received: parsed.received,
      ...(errorText === undefined ? {} : { errorText }),
      ...(legacy ? legacyFields() : {}),
    }
    answerUpload(ctx, body, headers)
  }

  const handleBlobRead = (ctx: Ctx, head: boolean): void => {
    if (!authorised(ctx)) return
    const ref = ctx.params.ref ?? ''
    if (!refHash(ref)) throw new HttpError(400, 'Malformed blobref')
    const size = store.size(ref)
    if (size === undefined) throw new HttpError(404, 'blob not found')
    ctx.res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': String(size),
    })
    if (head) {
      ctx.res.end()
      return
    }
    const body = store.stream(ref)
    body.on('error', () => ctx.res.destroy())
    body.pipe(ctx.res)
  }

  const router = new Router()
  router.add('perkeep.discovery', 'GET', '/', (ctx) => {
    const wantsConfig =
      ctx.url.searchParams.get('camli.mode') === 'config' ||
      (ctx.req.headers.accept ?? '').includes(CONFIG_TYPE)
    if (!wantsConfig) {
      ctx.res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      ctx.res.end('<!doctype html><title>Perkeep</title><p>This is a Perkeep server.</p>\n')
      return
    }
    if (mode === 'legacy') throw new HttpError(404, 'no discovery here')
    if (!authorised(ctx)) return
    ctx.json(200, discovery(blobRoot, storageGeneration), JSON_HEADERS)
  })
  router.add('perkeep.upload-result', 'GET', '/camli-upload-result/:id', (ctx) => {
    if (!authorised(ctx)) return
    const body = results.get(ctx.params.id ?? '')
    if (body === undefined) throw new HttpError(404, 'no such upload result')
    ctx.json(200, body, JSON_HEADERS)
  })

  if (mode === 'current') {
    const stat = async (ctx: Ctx): Promise<void> => {
      if (!authorised(ctx)) return
      const refs = parseRefList(await formParams(ctx))
      const found = refs.filter((ref) => store.has(ref))
      ctx.json(
        200,
        { stat: found.map((ref) => sized(store, ref)), canLongPoll: true },
        JSON_HEADERS,
      )
    }
    router.add('perkeep.stat', 'POST', `${blobRoot}camli/stat`, stat)
    router.add('perkeep.stat', 'GET', `${blobRoot}camli/stat`, stat)
    router.add('perkeep.upload', 'POST', `${blobRoot}camli/upload`, (ctx) =>
      handleUpload(ctx, false),
    )
    router.add('perkeep.put', 'PUT', `${blobRoot}camli/:ref`, async (ctx) => {
      if (!authorised(ctx)) return
      const ref = ctx.params.ref ?? ''
      const hash = refHash(ref)
      if (!hash) throw new HttpError(400, 'Bad path')
      noteReceived('perkeep.put', ref)
      if (Number(ctx.req.headers['content-length'] ?? 0) > MAX_BLOB_SIZE) {
        throw new HttpError(400, 'blob too big')
      }
      const got = await store.receive(ctx.req, hash)
      const bad = got.tooBig
        ? 'blob too big'
        : got.actualRef !== ref || takeRejection(ref)
          ? 'corrupt'
          : ''
      if (bad !== '') {
        store.discard(got)
        uploads.push({ route: 'perkeep.put', stored: [], blobBytes: got.size })
        throw new HttpError(400, bad === 'corrupt' ? "data doesn't match declared digest" : bad)
      }
      store.commit(got, ref)
      uploads.push({ route: 'perkeep.put', stored: [ref], blobBytes: got.size })
      ctx.res.writeHead(204)
      ctx.res.end()
    })
  } else {
    router.add('perkeep.preupload', 'POST', `${blobRoot}camli/preupload`, async (ctx) => {
      if (!authorised(ctx)) return
      const refs = parseRefList(await formParams(ctx))
      const alreadyHave = refs.filter((ref) => store.has(ref)).map((ref) => sized(store, ref))
      ctx.json(200, { alreadyHave, ...legacyFields() }, JSON_HEADERS)
    })
    router.add('perkeep.upload', 'POST', '/legacy-upload/:token', (ctx) => handleUpload(ctx, true))
  }
  router.add('perkeep.get', 'GET', `${blobRoot}camli/:ref`, (ctx) => handleBlobRead(ctx, false))
  router.add('perkeep.head', 'HEAD', `${blobRoot}camli/:ref`, (ctx) => handleBlobRead(ctx, true))

  const running = await listen(router, options.port === undefined ? {} : { port: options.port })
  baseUrl = running.url

  return {
    url: running.url,
    router,
    storageDir,
    store,
    mode,
    blobRoot,
    close: async () => {
      await running.close()
      store.close()
      if (ownDir) await rm(storageDir, { recursive: true, force: true })
    },
    blobs: () => store.list(),
    has: (ref) => store.has(ref),
    blobCount: () => store.count(),
    readBlob: (ref) => store.read(ref),
    readSchema: (ref, type) => readSchema(store, ref, type),
    fileBytes: (ref) => fileBytes(store, ref),
    fileDigest: (ref, hash) => fileDigest(store, ref, hash),
    fileSize: (ref) => fileSize(store, ref),
    readDirectory: (ref) => readDirectory(store, ref),
    rejectNext: (ref, times = 1) => {
      rejections.set(ref, (rejections.get(ref) ?? 0) + times)
    },
    setUploadRedirect: (status) => {
      redirect = status
    },
    uploads: () => uploads,
    received: () => received,
    resentCount: () => received.filter((r) => r.alreadyHad).length,
    vivified: () => vivified,
    currentUploadUrl: () => {
      const token = currentToken()
      return token === undefined ? undefined : `${baseUrl}/legacy-upload/${token}`
    },
  }
}

interface ParseOptions {
  readonly takeRejection: (ref: string) => boolean
  /** Called as each part named by a well-formed blobref begins, before its bytes are read. */
  readonly onPart: (ref: string) => void
  /** Current mode stores each good part at once (a dropped request keeps what arrived). */
  readonly commitEachPart: boolean
  readonly totalLimit: number
}

interface Parsed {
  readonly received: { blobRef: string; size: number }[]
  readonly errors: string[]
  readonly blobBytes: number
  readonly overTotal: boolean
}

/**
 * Reads a multipart upload part by part, each hashed as it arrives and stored only once it checks
 * out. The first bad part stops processing: the rest of the body is read and thrown away (§3.4).
 */
async function parseUpload(
  req: IncomingMessage,
  store: BlobStore,
  options: ParseOptions,
): Promise<Parsed> {
  let bb: busboy.Busboy
  try {
    bb = busboy({ headers: req.headers, preservePath: true, limits: { fieldSize: 64 * 1024 } })
  } catch (error) {
    throw new HttpError(
      400,
      `Expected multipart/form-data POST request; ${(error as Error).message}`,
    )
  }
  const received: { blobRef: string; size: number }[] = []
  const errors: string[] = []
  const pending: { got: Received; ref: string }[] = []
  let stopped = false
  let overTotal = false
  let blobBytes = 0
  let queue: Promise<void> = Promise.resolve()
  let failure: unknown

  const fail = (message: string): void => {
    errors.push(message)
    stopped = true
  }
  const onFile = async (name: string, stream: Readable, info: busboy.FileInfo): Promise<void> => {
    const hash = refHash(name)
    if (hash) options.onPart(name)
    if (stopped) return discardStream(stream)
    if (!hash) {
      fail(`Ignoring form key ${JSON.stringify(name)}`)
      return discardStream(stream)
    }
    if (info.filename !== name) {
      fail(
        `part ${name} has filename ${JSON.stringify(info.filename ?? null)}; it must repeat the blobref`,
      )
      return discardStream(stream)
    }
    if (info.mimeType !== 'application/octet-stream') {
      fail(`part ${name} has Content-Type ${info.mimeType}; expected application/octet-stream`)
      return discardStream(stream)
    }
    const got = await store.receive(stream, hash)
    blobBytes += got.size
    if (got.tooBig) {
      store.discard(got)
      return fail(`Error receiving blob ${name}: blob over the limit of ${MAX_BLOB_SIZE} bytes`)
    }
    if (got.actualRef !== name || options.takeRejection(name)) {
      store.discard(got)
      return fail(`Error receiving blob ${name}: corrupt blob; digest doesn't match`)
    }
    if (blobBytes > options.totalLimit) {
      store.discard(got)
      overTotal = true
      stopped = true
      return
    }
    if (options.commitEachPart) store.commit(got, name)
    else pending.push({ got, ref: name })
    received.push({ blobRef: name, size: got.size })
  }
  const enqueue = (step: () => Promise<void> | void): void => {
    queue = queue.then(step).catch((error: unknown) => {
      // A server-side failure (disk): give up on the request rather than stall the parser.
      failure ??= error
      stopped = true
      req.destroy()
    })
  }

  bb.on('file', (name, stream, info) => enqueue(() => onFile(name, stream, info)))
  bb.on('field', (name) =>
    enqueue(() => {
      if (!stopped) fail(`part ${name} is not a blob part (needs filename and a Content-Type)`)
    }),
  )
  let parseError: unknown
  try {
    await pipeline(req, bb)
  } catch (error) {
    parseError = error
  }
  await queue
  const fatal = failure ?? (parseError !== undefined && !req.complete ? parseError : undefined)
  if (fatal !== undefined) {
    for (const p of pending) store.discard(p.got)
    throw fatal
  }
  // A whole body that is not valid multipart: perkeepd keeps what it read and reports the rest.
  if (parseError !== undefined) {
    errors.push(`Error reading multipart section: ${(parseError as Error).message}`)
  }
  if (overTotal) {
    for (const p of pending) store.discard(p.got)
    return { received: [], errors, blobBytes, overTotal }
  }
  for (const { got, ref } of pending) store.commit(got, ref)
  return { received, errors, blobBytes, overTotal }
}

async function discardStream(stream: Readable): Promise<void> {
  for await (const _chunk of stream) {
    // read and drop, so the parser moves on
  }
}

/** The `camliversion=1&blob1=…` form, from the query and (for POST) the urlencoded body. */
async function formParams(ctx: Ctx): Promise<URLSearchParams> {
  const params = new URLSearchParams(ctx.url.search)
  if (ctx.req.method !== 'POST') return params
  const type = ctx.req.headers['content-type'] ?? ''
  if (!type.startsWith('application/x-www-form-urlencoded')) {
    throw new HttpError(400, 'expected an application/x-www-form-urlencoded body')
  }
  for (const [key, value] of new URLSearchParams((await ctx.body(1024 * 1024)).toString('utf8'))) {
    params.set(key, value)
  }
  return params
}

// Numbered from blob1; the first gap ends the list, like perkeepd's handleStat.
function parseRefList(params: URLSearchParams): string[] {
  if (!params.get('camliversion')) throw new HttpError(400, 'No camliversion')
  const refs = new Set<string>()
  for (let n = 1; ; n++) {
    const value = params.get(`blob${n}`)
    if (!value) break
    if (n > MAX_STAT_BLOBS) throw new HttpError(400, 'Too many stat blob checks')
    if (!refHash(value)) throw new HttpError(400, `Bogus blobref for key blob${n}`)
    refs.add(value)
  }
  return [...refs]
}

function sized(store: BlobStore, ref: string): { blobRef: string; size: number } {
  return { blobRef: ref, size: store.size(ref) ?? 0 }
}

function checkAuth(req: IncomingMessage, auth: PerkeepServerOptions['auth']): boolean {
  if (!auth) return true
  const header = req.headers.authorization ?? ''
  const [scheme = '', value = ''] = header.split(/\s+/, 2)
  if (scheme.toLowerCase() === 'basic' && auth.user !== undefined && auth.password !== undefined) {
    return same(Buffer.from(value, 'base64').toString('utf8'), `${auth.user}:${auth.password}`)
  }
  if (scheme === 'Token' && auth.token !== undefined) return same(value, auth.token)
  return false
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

function normaliseRoot(root: string): string {
  const withLead = root.startsWith('/') ? root : `/${root}`
  return withLead.endsWith('/') ? withLead : `${withLead}/`
}

/** A discovery document shaped like a real perkeepd's (doc/protocol/discovery.md). */
function discovery(blobRoot: string, storageGeneration: string): Record<string, unknown> {
  const publicKeyBlobRef = 'sha224-2b1c2a0c4bd4b1da7e0d4fd2d8a1a1d3f6e7c8b9a0b1c2d3e4f5a6b7'
  return {
    blobHashFuncs: ['sha224', 'sha1'],
    blobRoot,
    directoryHelper: '/ui/tree/',
    downloadHelper: '/ui/download/',
    helpRoot: '/help/',
    importerRoot: '/importer/',
    jsonSignRoot: '/sighelper/',
    ownerName: 'Ferry Test',
    publishRoots: {},
    searchRoot: '/my-search/',
    signing: {
      publicKey: `/sighelper/camli/${publicKeyBlobRef}`,
      publicKeyBlobRef,
      publicKeyId: '2931A67C26F5ABDA',
      signHandler: '/sighelper/camli/sig/sign',
      verifyHandler: '/sighelper/camli/sig/verify',
    },
    statusRoot: '/status/',
    storageGeneration,
    storageInitTime: new Date(0).toISOString().replace('.000', ''),
    syncHandlers: [],
    thumbVersion: '2',
    uiRoot: '/ui/',
    uploadHelper: '/ui/?camli.mode=uploadhelper',
    wsAuthToken: randomBytes(20).toString('hex'),
  }
}

/**
 * Checks that a received `file` schema is complete (every chunk stored, sizes right) and has a
 * mtime, as perkeepd's vivify does, then stores a placeholder permanode for it. A real server
 * signs the permanode and a camliContent claim; that is out of scope here.
 */
async function vivify(store: BlobStore, fileRef: string): Promise<string> {
  const schema = await readSchema(store, fileRef, 'file')
  await fileSize(store, fileRef)
  if (typeof schema.unixMtime !== 'string') throw new Error('file schema has no unixMtime')
  const permanode = [
    '{"camliVersion": 1,',
    '  "camliType": "permanode",',
    `  "claimDate": ${JSON.stringify(schema.unixMtime)},`,
    `  "key": ${JSON.stringify(fileRef)}`,
    '}',
  ].join('\n')
  return store.put(Buffer.from(permanode))
}
