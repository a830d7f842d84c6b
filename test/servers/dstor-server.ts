/**
 * The dStor reference server: PROTOCOLS.md §1 exactly, including its [choice] answers, and
 * nothing more lenient. Built on kit.ts, so tests can inject faults per route and count requests:
 * `dstor.token` (GET temp-token), `dstor.login` (POST temp-token), `dstor.get-token`,
 * `dstor.upload`, `dstor.status`, `dstor.single`, `dstor.ipfs`.
 *
 * Where the page is silent, this server:
 * - caps every token at `tokenLifetimeSeconds` and at the API key's own expiry; `x-expiration`
 *   may ask for less, never more; a malformed or past `x-expiration` → 400;
 * - answers a wrong email/password with 401 `{"message": "invalid email or password"}`;
 * - answers an unknown, foreign or expired upload token with 404, a missing one with 400;
 * - trims leading/trailing slashes of folder paths ('' is the root) and refuses `.`, `..` and
 *   empty segments in them (400);
 * - wants a percent-encoded `x-dstor-folder-path`: raw non-ASCII or a bad escape → 400;
 * - gives folders numeric ids for `x-dstor-parent-id` (root = 0; `folderId()` tells a test the
 *   id of a path); an unknown id → 404;
 * - answers a single-file upload with `Size` as a string, as the IPFS HTTP API does;
 * - limits a folder-process chunk (`POST /v1/upload/`) to `maxBodyBytes`, 512 MiB as §1.2 says,
 *   and a single-file upload to `maxSingleBodyBytes`, by default not at all: §1.3 states no
 *   limit, so a file of any size goes up in one request. Over a limit → 413;
 * - stores content by CID, so `GET /ipfs/{CID}` (no auth) serves any file it holds.
 *
 * For tests it also keeps what a real server would not show: every file part it began to
 * receive (`receipts()`, so a test can count what was sent again) and each process's files.
 */
import { randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { SignJWT, jwtVerify } from 'jose'
import { ConnectionLost, receiveFiles, removeFiles } from './dstor-multipart.ts'
import type { ReceivedFile } from './dstor-multipart.ts'
import { HttpError, Router, listen } from './kit.ts'
import type { Ctx } from './kit.ts'

/** A 64-character API key of the default account. */
export const DSTOR_DEFAULT_API_KEY = 'd5'.repeat(32)
export const DSTOR_DEFAULT_EMAIL = 'user@example.com'
export const DSTOR_DEFAULT_PASSWORD = 'correct horse battery staple'

/** One dStor account: an API key, a login, or both. */
export interface DstorAccountOptions {
  /** Names the account in `listFiles`; default its email, else `account-<n>`. */
  readonly id?: string
  readonly apiKey?: string
  /** Unix seconds when the API key stops working; default 365 days from start. */
  readonly apiKeyExpiresAt?: number
  readonly email?: string
  readonly password?: string
}

export interface DstorServerOptions {
  /** Where uploads are kept; a fresh temp folder (removed on close) when omitted. */
  readonly storageDir?: string
  /** Default: one account with the DSTOR_DEFAULT_* credentials. */
  readonly accounts?: readonly DstorAccountOptions[]
  /** Longest token the server issues; default 24 h. */
  readonly tokenLifetimeSeconds?: number
  /** HS256 secret; random when omitted. */
  readonly jwtSecret?: string
  /** A process not completed within this expires (get-status → 404); default 1 h. */
  readonly processExpiryMs?: number
  /** Pause before each status step after the last chunk; default 20 ms. */
  readonly stageDelayMs?: number
  /** Path of the single-file upload; default `/api/v0/add`. */
  readonly singleFilePath?: string
  /** Largest body of a folder-process chunk (`POST /v1/upload/`, §1.2); default 512 MiB. */
  readonly maxBodyBytes?: number
  /** Largest body of a single-file upload (§1.3); default none (Infinity), as §1.3 states none. */
  readonly maxSingleBodyBytes?: number
  /** Largest `chunks_number`; default 10 000. */
  readonly maxChunks?: number
  /** Milliseconds since the epoch, for tokens and process expiry; default Date.now. */
  readonly clock?: () => number
  readonly port?: number
  readonly host?: string
}

export type DstorStatus = 'UPLOADING' | 'ADDING_TO_IPFS' | 'SAVING_DATA' | 'DONE' | 'ERROR'

/** A stored file, as the dStor file tree would show it. */
export interface DstorStoredFile {
  readonly account: string
  /** Normalised remote folder ('' = root). */
  readonly folderPath: string
  /** Path relative to the folder, as the client sent it. */
  readonly name: string
  readonly cid: string
  readonly size: number
  /** Where the bytes are on disk (content-addressed, shared by equal files). */
  readonly storedPath: string
  readonly comment: string | undefined
  readonly via: 'process' | 'single'
}

/** What a test can see of an upload process. */
export interface DstorProcessInfo {
  readonly token: string
  readonly account: string
  readonly folderPath: string
  readonly chunksNumber: number
  readonly chunksReceived: number
  readonly status: DstorStatus
  readonly expired: boolean
  /** The files its chunks carried so far, with the CIDs computed as they arrived. */
  readonly files: readonly { readonly name: string; readonly cid: string; readonly size: number }[]
}

/**
 * A file part the server began to receive, in arrival order, whatever became of it (stored,
 * refused, cut off): what the client sent, for tests that count re-sends.
 */
export interface DstorReceipt {
  readonly route: 'dstor.upload' | 'dstor.single'
  /** The upload token of the process (folder-process chunks only). */
  readonly token?: string
  /** Normalised remote folder ('' = root): the process's, or the single upload's header. */
  readonly folderPath: string
  /** The part's filename as sent. */
  readonly name: string
}

/** A process ERROR to inject: the next completed processes fail at this stage. */
export interface DstorProcessError {
  readonly stage?: 'ADDING_TO_IPFS' | 'SAVING_DATA'
  readonly explanation?: string
}

/** A running dStor reference server and the handles tests use to inspect and steer it. */
export interface DstorServer {
  readonly url: string
  readonly port: number
  readonly router: Router
  readonly storageDir: string
  readonly singleFilePath: string
  /** Largest folder-process chunk; settable so a test can force 413 without sending 512 MiB. */
  maxBodyBytes: number
  /** Largest single-file upload body (Infinity: no limit); settable like maxBodyBytes. */
  maxSingleBodyBytes: number
  close(): Promise<void>
  /** The stored tree: the latest file per (account, folder, name). */
  listFiles(account?: string): DstorStoredFile[]
  processes(): DstorProcessInfo[]
  /** Every file part received so far, in order (see DstorReceipt). */
  receipts(): readonly DstorReceipt[]
  /** The key stops working, and so do the tokens made with it. */
  revokeApiKey(apiKey: string): void
  /** The login stops working, and so do the tokens made with it. */
  revokeLogin(email: string): void
  /** Every token issued so far answers 401 from now on. */
  invalidateTokens(): void
  /** The next `times` processes to complete end in ERROR. */
  injectProcessError(error?: DstorProcessError, options?: { times?: number }): void
  /** Numeric id of a folder (created if new), for `x-dstor-parent-id`. */
  folderId(folderPath: string, account?: string): number
}

interface Account {
  readonly id: string
  readonly apiKey: string | undefined
  readonly apiKeyExpiresAt: number
  readonly email: string | undefined
  readonly password: string | undefined
}

interface Process {
  readonly id: string
  readonly token: string
  readonly account: string
  readonly folderPath: string
  readonly chunksNumber: number
  readonly dir: string
  readonly expiresAt: number
  readonly names: Set<string>
  readonly files: Array<ReceivedFile & { readonly comment: string | undefined }>
  chunksReceived: number
  status: DstorStatus
  data: Array<{ Name: string; Hash: string; Size: number }> | undefined
  errorExplanation: string | undefined
  errorAtStage: string | undefined
  cleanup: NodeJS.Timeout | undefined
}

const DAY = 24 * 60 * 60
const UPLOAD_TOKEN_HEADER = 'x-dstor-upload-token'

/** Starts a dStor reference server on loopback. */
export async function createDstorServer(options: DstorServerOptions = {}): Promise<DstorServer> {
  const ownsStorage = options.storageDir === undefined
  const storageDir = options.storageDir ?? (await mkdtemp(join(tmpdir(), 'ferry-dstor-')))
  await mkdir(join(storageDir, 'tmp'), { recursive: true })
  await mkdir(join(storageDir, 'ipfs'), { recursive: true })
  const state = new DstorState(storageDir, options)
  const router = new Router()
  state.routes(router)
  const running = await listen(router, { port: options.port, host: options.host })
  return {
    url: running.url,
    port: running.port,
    router,
    storageDir,
    singleFilePath: state.singleFilePath,
    get maxBodyBytes() {
      return state.maxBodyBytes
    },
    set maxBodyBytes(value: number) {
      state.maxBodyBytes = value
    },
    get maxSingleBodyBytes() {
      return state.maxSingleBodyBytes
    },
    set maxSingleBodyBytes(value: number) {
      state.maxSingleBodyBytes = value
    },
    close: async () => {
      await running.close()
      await state.close()
      if (ownsStorage) await rm(storageDir, { recursive: true, force: true })
    },
    listFiles: (account) => state.listFiles(account),
    processes: () => state.processInfos(),
    receipts: () => state.receipts,
    revokeApiKey: (apiKey) => state.revokeApiKey(apiKey),
    revokeLogin: (email) => state.revokeLogin(email),
    invalidateTokens: () => state.invalidateTokens(),
    injectProcessError: (error = {}, { times = 1 } = {}) => state.injectProcessError(error, times),
    folderId: (folderPath, account) => state.folderId(normalizeFolder(folderPath), account),
  }
}

class DstorState {
  readonly singleFilePath: string
  maxBodyBytes: number
  maxSingleBodyBytes: number
  readonly #storageDir: string
  readonly #accounts: readonly Account[]
  readonly #tokenLifetime: number
  readonly #processExpiryMs: number
  readonly #stageDelayMs: number
  readonly #maxChunks: number
  readonly #clock: () => number
  readonly #processes = new Map<string, Process>()
  readonly #stored: DstorStoredFile[] = []
  readonly #revokedCredentials = new Set<string>()
  readonly #folders = new Map<string, number>()
  readonly #injectedErrors: DstorProcessError[] = []
  readonly #running = new Set<Promise<void>>()
  readonly receipts: DstorReceipt[] = []
  #secret: Uint8Array
  #nextProcess = 1
  #closed = false

  constructor(storageDir: string, options: DstorServerOptions) {
    this.#storageDir = storageDir
    this.#clock = options.clock ?? Date.now
    this.#tokenLifetime = options.tokenLifetimeSeconds ?? DAY
    this.#processExpiryMs = options.processExpiryMs ?? 60 * 60 * 1000
    this.#stageDelayMs = options.stageDelayMs ?? 20
    this.#maxChunks = options.maxChunks ?? 10_000
    this.maxBodyBytes = options.maxBodyBytes ?? 512 * 1024 * 1024
    this.maxSingleBodyBytes = options.maxSingleBodyBytes ?? Number.POSITIVE_INFINITY
    this.singleFilePath = options.singleFilePath ?? '/api/v0/add'
    this.#secret = options.jwtSecret ? new TextEncoder().encode(options.jwtSecret) : randomBytes(32)
    const start = this.#now()
    const accounts = options.accounts ?? [
      {
        apiKey: DSTOR_DEFAULT_API_KEY,
        email: DSTOR_DEFAULT_EMAIL,
        password: DSTOR_DEFAULT_PASSWORD,
      },
    ]
    this.#accounts = accounts.map((account, i) => ({
      id: account.id ?? account.email ?? `account-${i + 1}`,
      apiKey: account.apiKey,
      apiKeyExpiresAt: account.apiKeyExpiresAt ?? start + 365 * DAY,
      email: account.email,
      password: account.password,
    }))
  }

  routes(router: Router): void {
    router
      .add('dstor.token', 'GET', '/v1/dev/temp-token', (ctx) => this.#tokenByKey(ctx))
      .add('dstor.login', 'POST', '/v1/dev/temp-token', (ctx) => this.#tokenByLogin(ctx))
      .add('dstor.get-token', 'POST', '/v1/upload/get-token', (ctx) => this.#startProcess(ctx))
      .add('dstor.upload', 'POST', '/v1/upload', (ctx) => this.#receiveChunk(ctx))
      .add('dstor.status', 'GET', '/v1/upload/get-status', (ctx) => this.#status(ctx))
      .add('dstor.single', 'POST', this.singleFilePath, (ctx) => this.#single(ctx))
      .add('dstor.ipfs', 'GET', '/ipfs/:cid', (ctx) => this.#serve(ctx))
  }

  async close(): Promise<void> {
    this.#closed = true
    for (const process of this.#processes.values()) clearTimeout(process.cleanup)
    await Promise.allSettled(this.#running)
  }

  // ---- access tokens (§1.1) ----

  async #tokenByKey(ctx: Ctx): Promise<void> {
    const key = header(ctx, 'api-key')
    const account = this.#accounts.find((a) => key !== undefined && a.apiKey === key)
    const now = this.#now()
    if (
      !account ||
      this.#revokedCredentials.has(keyCredential(account)) ||
      account.apiKeyExpiresAt <= now
    ) {
      throw new HttpError(401, 'invalid api key')
    }
    const exp = this.#expiry(ctx, now, account.apiKeyExpiresAt)
    ctx.json(200, { access_token: await this.#sign(account, keyCredential(account), now, exp) })
  }

  async #tokenByLogin(ctx: Ctx): Promise<void> {
    const body = await jsonBody(ctx)
    const { email, password } = body
    if (typeof email !== 'string' || typeof password !== 'string') {
      throw new HttpError(400, 'email and password are required')
    }
    const account = this.#accounts.find((a) => a.email !== undefined && a.email === email)
    if (
      !account ||
      account.password !== password ||
      this.#revokedCredentials.has(loginCredential(account))
    ) {
      throw new HttpError(401, 'invalid email or password')
    }
    const now = this.#now()
    const exp = this.#expiry(ctx, now, Number.POSITIVE_INFINITY)
    ctx.json(200, { access_token: await this.#sign(account, loginCredential(account), now, exp) })
  }

  #expiry(ctx: Ctx, now: number, credentialExpiresAt: number): number {
    let exp = Math.min(now + this.#tokenLifetime, credentialExpiresAt)
    const asked = header(ctx, 'x-expiration')
    if (asked !== undefined) {
      if (!/^\d{1,12}$/.test(asked) || Number(asked) <= now) {
        throw new HttpError(400, 'x-expiration must be a future unix time in seconds')
      }
      exp = Math.min(exp, Number(asked))
    }
    return exp
  }

  #sign(account: Account, credential: string, now: number, exp: number): Promise<string> {
    return new SignJWT({ cred: credential })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(account.id)
      .setIssuedAt(now)
      .setExpirationTime(exp)
      .sign(this.#secret)
  }

  async #authenticate(ctx: Ctx): Promise<Account> {
    const match = /^Bearer +(\S+)$/.exec(header(ctx, 'authorization') ?? '')
    if (!match?.[1]) throw new HttpError(401, 'invalid token')
    const payload = await jwtVerify(match[1], this.#secret, {
      algorithms: ['HS256'],
      requiredClaims: ['exp', 'sub'],
      currentDate: new Date(this.#clock()),
    }).then(
      (verified) => verified.payload,
      () => {
        throw new HttpError(401, 'invalid token')
      },
    )
    const account = this.#accounts.find((a) => a.id === payload.sub)
    if (
      !account ||
      typeof payload.cred !== 'string' ||
      this.#revokedCredentials.has(payload.cred)
    ) {
      throw new HttpError(401, 'invalid token')
    }
    return account
  }

  revokeApiKey(apiKey: string): void {
    for (const account of this.#accounts) {
      if (account.apiKey === apiKey) this.#revokedCredentials.add(keyCredential(account))
    }
  }

  revokeLogin(email: string): void {
    for (const account of this.#accounts) {
      if (account.email === email) this.#revokedCredentials.add(loginCredential(account))
    }
  }

  invalidateTokens(): void {
    this.#secret = randomBytes(32)
  }

  // ---- folder upload process (§1.2) ----

  async #startProcess(ctx: Ctx): Promise<void> {
    const account = await this.#authenticate(ctx)
    const body = await jsonBody(ctx)
    const chunks = body.chunks_number
    if (typeof chunks !== 'number' || !Number.isInteger(chunks) || chunks < 1) {
      throw new HttpError(400, 'chunks_number must be a positive integer')
    }
    if (chunks > this.#maxChunks)
      throw new HttpError(413, `chunks_number is above ${this.#maxChunks}`)
    if (typeof body.folder_path !== 'string')
      throw new HttpError(400, 'folder_path must be a string')
    const folderPath = normalizeFolder(body.folder_path)
    this.folderId(folderPath, account.id)
    const id = `p${this.#nextProcess++}`
    const dir = join(this.#storageDir, 'tmp', id)
    await mkdir(dir, { recursive: true })
    const token = randomBytes(24).toString('base64url')
    const process: Process = {
      id,
      token,
      account: account.id,
      folderPath,
      chunksNumber: chunks,
      dir,
      expiresAt: this.#clock() + this.#processExpiryMs,
      names: new Set(),
      files: [],
      chunksReceived: 0,
      status: 'UPLOADING',
      data: undefined,
      errorExplanation: undefined,
      errorAtStage: undefined,
      cleanup: undefined,
    }
    // Only frees the disk; whether a process has expired is decided by the clock.
    process.cleanup = setTimeout(() => {
      if (process.status === 'UPLOADING') void rm(process.dir, { recursive: true, force: true })
    }, this.#processExpiryMs + 1000)
    process.cleanup.unref()
    this.#processes.set(token, process)
    ctx.json(200, { message: 'ok', token })
  }

  async #receiveChunk(ctx: Ctx): Promise<void> {
    const account = await this.#authenticate(ctx)
    const process = this.#process(ctx, account)
    const comment = header(ctx, 'x-dstor-comment')
    if (process.chunksReceived >= process.chunksNumber) {
      throw new HttpError(409, 'all chunks of this upload were already received')
    }
    const names = new Set<string>()
    let files: ReceivedFile[]
    try {
      files = await receiveFiles(ctx.req, {
        dir: process.dir,
        maxBodyBytes: this.maxBodyBytes,
        accept: (name) => {
          const checked = checkFileName(name)
          this.receipts.push({
            route: 'dstor.upload',
            token: process.token,
            folderPath: process.folderPath,
            name: checked,
          })
          if (process.names.has(checked) || names.has(checked)) {
            throw new HttpError(409, `file "${checked}" was already received in this upload`)
          }
          names.add(checked)
        },
      })
    } catch (error) {
      if (error instanceof ConnectionLost) return
      throw error
    }
    // Another request of this process may have finished while this one was being read.
    const clash = files.find((file) => process.names.has(file.name))
    const refusal =
      this.#isExpired(process) || !this.#processes.has(process.token)
        ? new HttpError(404, 'upload not found')
        : process.chunksReceived >= process.chunksNumber
          ? new HttpError(409, 'all chunks of this upload were already received')
          : clash
            ? new HttpError(409, `file "${clash.name}" was already received in this upload`)
            : undefined
    if (refusal) {
      await removeFiles(files)
      throw refusal
    }
    for (const file of files) {
      process.names.add(file.name)
      process.files.push({ ...file, comment })
    }
    process.chunksReceived++
    if (process.chunksReceived === process.chunksNumber) {
      process.status = 'ADDING_TO_IPFS'
      clearTimeout(process.cleanup)
      const run = this.#complete(process)
      this.#running.add(run)
      void run.finally(() => this.#running.delete(run))
    }
    ctx.json(200, { message: 'ok', upload_token: process.token, received: files.length })
  }

  async #status(ctx: Ctx): Promise<void> {
    const account = await this.#authenticate(ctx)
    const process = this.#process(ctx, account)
    switch (process.status) {
      case 'DONE':
        ctx.json(200, { status: 'DONE', data: process.data })
        return
      case 'ERROR':
        ctx.json(200, {
          status: 'ERROR',
          errorExplanation: process.errorExplanation,
          errorAtStage: process.errorAtStage,
        })
        return
      default:
        ctx.json(200, { status: process.status })
    }
  }

  #process(ctx: Ctx, account: Account): Process {
    const token = header(ctx, UPLOAD_TOKEN_HEADER)
    if (token === undefined) throw new HttpError(400, `missing ${UPLOAD_TOKEN_HEADER}`)
    const process = this.#processes.get(token)
    if (!process || process.account !== account.id || this.#isExpired(process)) {
      throw new HttpError(404, 'upload not found')
    }
    return process
  }

  #isExpired(process: Process): boolean {
    return process.status === 'UPLOADING' && this.#clock() >= process.expiresAt
  }

  async #complete(process: Process): Promise<void> {
    const injected = this.#injectedErrors.shift()
    const failAt = injected ? (injected.stage ?? 'ADDING_TO_IPFS') : undefined
    let stage: DstorStatus = 'ADDING_TO_IPFS'
    try {
      await this.#pause()
      if (injected && failAt === 'ADDING_TO_IPFS') throw new InjectedError(injected)
      // Each file's CID was computed as its bytes arrived (dstor-multipart.ts).
      stage = process.status = 'SAVING_DATA'
      await this.#pause()
      if (injected && failAt === 'SAVING_DATA') throw new InjectedError(injected)
      for (const file of process.files) {
        await this.#store(process.account, process.folderPath, file, file.cid, 'process')
      }
      process.data = process.files.map((file) => ({
        Name: file.name,
        Hash: file.cid,
        Size: file.size,
      }))
      process.status = 'DONE'
    } catch (error) {
      process.errorExplanation =
        error instanceof InjectedError ? error.message : `internal error: ${String(error)}`
      process.errorAtStage = stage
      process.status = 'ERROR'
    } finally {
      await rm(process.dir, { recursive: true, force: true })
    }
  }

  #pause(): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('server closed'))
    return new Promise((resolve) => setTimeout(resolve, this.#stageDelayMs))
  }

  injectProcessError(error: DstorProcessError, times: number): void {
    for (let i = 0; i < times; i++) this.#injectedErrors.push(error)
  }

  // ---- single-file upload (§1.3) ----

  async #single(ctx: Ctx): Promise<void> {
    const account = await this.#authenticate(ctx)
    const folderPath = this.#singleFolder(ctx, account)
    const comment = header(ctx, 'x-dstor-comment')
    const dir = join(this.#storageDir, 'tmp', 'single')
    await mkdir(dir, { recursive: true })
    let count = 0
    let files: ReceivedFile[]
    try {
      files = await receiveFiles(ctx.req, {
        dir,
        maxBodyBytes: this.maxSingleBodyBytes,
        accept: (name) => {
          this.receipts.push({ route: 'dstor.single', folderPath, name: checkFileName(name) })
          if (++count > 1) throw new HttpError(400, 'send exactly one file')
        },
      })
    } catch (error) {
      if (error instanceof ConnectionLost) return
      throw error
    }
    const [file] = files
    if (!file) throw new HttpError(400, 'send exactly one file')
    try {
      await this.#store(account.id, folderPath, { ...file, comment }, file.cid, 'single')
      ctx.json(200, { Name: file.name, Hash: file.cid, Size: String(file.dagSize) })
    } finally {
      await rm(file.tempPath, { force: true })
    }
  }

  #singleFolder(ctx: Ctx, account: Account): string {
    const rawPath = header(ctx, 'x-dstor-folder-path')
    const rawParent = header(ctx, 'x-dstor-parent-id')
    if (rawPath !== undefined && rawParent !== undefined) {
      throw new HttpError(400, 'send x-dstor-folder-path or x-dstor-parent-id, not both')
    }
    if (rawParent !== undefined) {
      if (!/^\d{1,15}$/.test(rawParent))
        throw new HttpError(400, 'x-dstor-parent-id must be a number')
      const id = Number(rawParent)
      if (id === 0) return ''
      const prefix = `${account.id}\n`
      for (const [key, value] of this.#folders) {
        if (value === id && key.startsWith(prefix)) return key.slice(prefix.length)
      }
      throw new HttpError(404, 'folder not found')
    }
    if (rawPath === undefined) return ''
    if (/[^\x21-\x7e ]/.test(rawPath)) {
      throw new HttpError(400, 'x-dstor-folder-path must be percent-encoded')
    }
    let decoded: string
    try {
      decoded = decodeURIComponent(rawPath)
    } catch {
      throw new HttpError(400, 'x-dstor-folder-path has a bad percent-encoding')
    }
    const folderPath = normalizeFolder(decoded)
    this.folderId(folderPath, account.id)
    return folderPath
  }

  folderId(folderPath: string, account = this.#accounts[0]?.id ?? ''): number {
    if (folderPath === '') return 0
    const key = `${account}\n${folderPath}`
    let id = this.#folders.get(key)
    if (id === undefined) {
      id = this.#folders.size + 1
      this.#folders.set(key, id)
    }
    return id
  }

  // ---- storage and retrieval ----

  async #store(
    account: string,
    folderPath: string,
    file: ReceivedFile & { readonly comment: string | undefined },
    cid: string,
    via: DstorStoredFile['via'],
  ): Promise<void> {
    const storedPath = join(this.#storageDir, 'ipfs', cid)
    const exists = await stat(storedPath).then(
      () => true,
      () => false,
    )
    if (exists) await rm(file.tempPath, { force: true })
    else await rename(file.tempPath, storedPath)
    this.#stored.push({
      account,
      folderPath,
      name: file.name,
      cid,
      size: file.size,
      storedPath,
      comment: file.comment,
      via,
    })
  }

  async #serve(ctx: Ctx): Promise<void> {
    const cid = ctx.params.cid ?? ''
    const known = /^[A-Za-z0-9]{10,100}$/.test(cid) && this.#stored.some((f) => f.cid === cid)
    if (!known) throw new HttpError(404, 'not found')
    const path = join(this.#storageDir, 'ipfs', cid)
    const { size } = await stat(path)
    ctx.res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': String(size),
    })
    await pipeline(createReadStream(path), ctx.res)
  }

  listFiles(account?: string): DstorStoredFile[] {
    const latest = new Map<string, DstorStoredFile>()
    for (const file of this.#stored) {
      if (account !== undefined && file.account !== account) continue
      latest.set(`${file.account}\n${file.folderPath}\n${file.name}`, file)
    }
    return [...latest.values()]
  }

  processInfos(): DstorProcessInfo[] {
    return [...this.#processes.values()].map((p) => ({
      token: p.token,
      account: p.account,
      folderPath: p.folderPath,
      chunksNumber: p.chunksNumber,
      chunksReceived: p.chunksReceived,
      status: p.status,
      expired: this.#isExpired(p),
      files: p.files.map((file) => ({ name: file.name, cid: file.cid, size: file.size })),
    }))
  }

  #now(): number {
    return Math.floor(this.#clock() / 1000)
  }
}

class InjectedError extends Error {
  constructor(error: DstorProcessError) {
    super(error.explanation ?? 'injected failure')
  }
}

function keyCredential(account: Account): string {
  return `key:${account.id}`
}

function loginCredential(account: Account): string {
  return `login:${account.id}`
}

function header(ctx: Ctx, name: string): string | undefined {
  const value = ctx.req.headers[name]
  return Array.isArray(value) ? value[0] : value
}

async function jsonBody(ctx: Ctx): Promise<Record<string, unknown>> {
  const text = (await ctx.body(1024 * 1024)).toString('utf8')
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    throw new HttpError(400, 'body must be JSON')
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpError(400, 'body must be a JSON object')
  }
  return body as Record<string, unknown>
}

/** A file's name must be a relative path without `.`, `..` or empty segments (§1.2). */
function checkFileName(name: string | undefined): string {
  if (name === undefined || name === '') throw new HttpError(400, 'every part needs a filename')
  if (name.includes('\0')) throw new HttpError(400, 'file names cannot contain NUL')
  if (name.startsWith('/') || /^[A-Za-z]:[\\/]/.test(name)) {
    throw new HttpError(400, `file name "${name}" is not a relative path`)
  }
  if (name.split('/').some((segment) => segment === '' || segment === '.' || segment === '..')) {
    throw new HttpError(400, `file name "${name}" has an empty, "." or ".." segment`)
  }
  return name
}

/** Trims outer slashes ('' = root); refuses `.`, `..` and empty inner segments. */
function normalizeFolder(folderPath: string): string {
  const trimmed = folderPath.replace(/^\/+|\/+$/g, '')
  if (trimmed === '') return ''
  if (
    trimmed.includes('\0') ||
    trimmed.split('/').some((s) => s === '' || s === '.' || s === '..')
  ) {
    throw new HttpError(400, `invalid folder path "${folderPath}"`)
  }
  return trimmed
}
