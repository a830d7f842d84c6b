import { createHash } from 'node:crypto'
import { posix } from 'node:path'
import type { Backend, LocalFile, UploadOptions, UploadOutcome } from '../backend.ts'
import { mapLimit } from '../concurrency.ts'
import {
  CancelledError,
  IntegrityError,
  LocalFileError,
  PermanentError,
  RetryableError,
  toFerryError,
} from '../errors.ts'
import type { AuthProvider, HttpClient } from '../http/client.ts'
import { multipartBody, readSource, type PartSource } from '../http/multipart.ts'
import { sleep, withRetry } from '../http/retry.ts'
import { assertReadable, assertUnchanged, unreadable } from '../local-file.ts'
import { ProgressTracker } from '../progress.ts'
import { TokenCache } from '../token-cache.ts'
import { CidHasher } from './cid.ts'
import { planChunks, type ChunkLimits } from './chunk-plan.ts'

export type DstorAuth =
  | { readonly method: 'api-key'; readonly key: string }
  | { readonly method: 'login'; readonly email: string; readonly password: string }

export interface DstorOptions {
  readonly server: string
  readonly auth: DstorAuth
  readonly http: HttpClient
  /** Remote folder the synced folder maps to (`folder_path`, `x-dstor-folder-path`). */
  readonly remotePath?: string
  /** Path of the single-file upload (PROTOCOLS.md §1.3: not public; settable per account). */
  readonly singleFilePath?: string
  readonly limits?: Partial<ChunkLimits>
  /** Files hashed at once. */
  readonly concurrency?: number
  /** Give up polling a process after this long (files stay queued). */
  readonly statusTimeoutMs?: number
  /** Token lifetime asked of the server. */
  readonly tokenLifetimeSec?: number
}

/** One file of a request could not be read: it fails alone, the others go again without it. */
class FileFailed extends LocalFileError {
  readonly item: Outgoing

  constructor(item: Outgoing, error: LocalFileError) {
    super(error.message, { cause: error.cause })
    this.item = item
  }
}

/**
 * A file on its way to dStor. Its sha256 and CID are computed from the bytes as they are sent
 * (each attempt starts them afresh), so the file is read once and the digests describe exactly
 * what the server received.
 */
class Outgoing {
  readonly file: LocalFile
  #digests: Promise<{ sha256: string; cid: string }> | undefined

  constructor(file: LocalFile) {
    this.file = file
  }

  source(): PartSource {
    return { length: this.file.size, read: () => this.#read() }
  }

  /** The digests of the last attempt that sent the whole file. */
  digests(): Promise<{ sha256: string; cid: string }> {
    return (
      this.#digests ??
      Promise.reject(new IntegrityError(`${this.file.relPath} was never sent whole`))
    )
  }

  async *#read(): AsyncIterable<Uint8Array> {
    const sha256 = createHash('sha256')
    const cid = new CidHasher()
    let complete = false
    try {
      let pieces
      try {
        pieces = readSource({ path: this.file.absPath, length: this.file.size })
        for await (const piece of pieces) {
          sha256.update(piece)
          await cid.update(piece)
          yield piece
        }
      } catch (error) {
        throw new FileFailed(this, unreadable(this.file, error))
      }
      complete = true
      const hex = sha256.digest('hex')
      this.#digests = cid.digest().then((value) => ({ sha256: hex, cid: value }))
    } finally {
      // The request stopped early (failure, retry): wind the importer down, keep nothing.
      if (!complete) {
        cid.abort()
        void cid.digest().catch(() => undefined)
      }
    }
  }
}

interface StatusAnswer {
  readonly status?: unknown
  readonly data?: unknown
  readonly errorExplanation?: unknown
  readonly errorAtStage?: unknown
}

const DEFAULT_SINGLE_PATH = '/api/v0/add'

/**
 * dStor: a lone file goes through the single-file upload; several go through a folder process
 * (get-token, N multipart chunks of whole files, status polling). Every answer's CID is checked
 * against the CID computed locally in the same read that hashes the file.
 */
export class DstorBackend implements Backend {
  readonly kind = 'dstor'
  readonly #base: URL
  readonly #http: HttpClient
  readonly #auth: DstorAuth
  readonly #remotePath: string
  readonly #singlePath: string
  readonly #limits: Partial<ChunkLimits>
  readonly #concurrency: number
  readonly #statusTimeoutMs: number
  readonly #tokenLifetimeSec: number
  readonly #tokens: TokenCache
  readonly #authProvider: AuthProvider

  constructor(options: DstorOptions) {
    this.#http = options.http
    this.#base = this.#http.checkUrl(options.server)
    this.#auth = options.auth
    this.#remotePath = normaliseRemotePath(options.remotePath ?? '/')
    this.#singlePath = options.singleFilePath ?? DEFAULT_SINGLE_PATH
    this.#limits = options.limits ?? {}
    this.#concurrency = options.concurrency ?? 4
    this.#statusTimeoutMs = options.statusTimeoutMs ?? 10 * 60_000
    this.#tokenLifetimeSec = options.tokenLifetimeSec ?? 24 * 3600
    this.#tokens = new TokenCache((signal) => this.#fetchToken(signal))
    this.#authProvider = {
      headers: async (signal) => ({ authorization: `Bearer ${await this.#tokens.get(signal)}` }),
      refresh: async (signal) => void (await this.#tokens.refresh(signal)),
    }
  }

  async checkAuth(signal?: AbortSignal): Promise<void> {
    await this.#tokens.refresh(signal)
  }

  async upload(files: readonly LocalFile[], options: UploadOptions = {}): Promise<UploadOutcome[]> {
    const outcomes = new Map<LocalFile, UploadOutcome>()
    const settle = (outcome: UploadOutcome): void => {
      outcomes.set(outcome.file, outcome)
      options.onOutcome?.(outcome)
    }
    // Digests come from the very bytes sent (one read per file); a cheap open first keeps an
    // unreadable file from sinking the whole process it would have joined.
    const ready: Outgoing[] = []
    await mapLimit(
      files,
      16,
      async (file) => {
        try {
          await assertReadable(file)
          ready.push(new Outgoing(file))
        } catch (error) {
          settle({ ok: false, file, error: toFerryError(error, options.signal) })
        }
      },
      options.signal,
    )
    const plan = planChunks(ready, this.#limits)
    const progress = new ProgressTracker(options.onProgress)
    // Singles and processes are independent: run them side by side, `concurrency` at a time.
    const jobs = [
      ...plan.singles.map(
        (item) => async () => settle(await this.#single(item, progress, options)),
      ),
      ...plan.processes.map((group) => async () => {
        for (const outcome of await this.#process(group, progress, options)) settle(outcome)
      }),
    ]
    await mapLimit(jobs, this.#concurrency, (job) => job(), options.signal)
    return files.map((file) => outcomes.get(file) as UploadOutcome)
  }

  async close(): Promise<void> {
    await this.#http.close()
  }

  /** One file, one request: the answer carries its CID at once (PROTOCOLS.md §1.3). */
  async #single(
    item: Outgoing,
    progress: ProgressTracker,
    options: UploadOptions,
  ): Promise<UploadOutcome> {
    const { file } = item
    try {
      const folder = posix.join(this.#remotePath, posix.dirname(file.relPath))
      const { body } = await withRetry(this.#http.retry, options.signal, () =>
        this.#http.json<Record<string, unknown>>({
          method: 'POST',
          url: this.#url(this.#singlePath),
          headers: { 'x-dstor-folder-path': encodeURIComponent(folder).replace(/%2F/g, '/') },
          body: multipartBody(
            [
              {
                name: 'file',
                filename: posix.basename(file.relPath),
                source: item.source(),
              },
            ],
            { onPartProgress: (_, sent) => progress.reach(file.relPath, sent, file.relPath) },
          ),
          auth: this.#authProvider,
          signal: options.signal,
        }),
      )
      const cid = body['Hash'] ?? body['hash']
      return await this.#confirm(item, cid)
    } catch (error) {
      return this.#failure(file, error, options.signal)
    }
  }

  /**
   * A folder process for a group of files. Any failed request abandons the process; the whole
   * group then starts over as a new process (PROTOCOLS.md §1.2: no resume).
   */
  async #process(
    initial: readonly (readonly Outgoing[])[],
    progress: ProgressTracker,
    options: UploadOptions,
  ): Promise<UploadOutcome[]> {
    const failed: UploadOutcome[] = []
    let group = initial
    for (;;) {
      const items = group.flat()
      if (items.length === 0) return failed
      try {
        // A process that failed starts over as a new one; one still being processed when
        // polling gives up is left alone (its files stay queued), not uploaded again at once.
        const rows = await withRetry(
          this.#http.retry,
          options.signal,
          () => this.#runProcess(group, progress, options),
          { retryIf: (error) => !(error instanceof StillProcessingError) },
        )
        const byName = new Map(rows.map((row) => [row.name, row.cid]))
        const confirmed = await Promise.all(
          items.map(async (item) => {
            try {
              if (!byName.has(item.file.relPath)) {
                throw new IntegrityError(`dStor finished without confirming ${item.file.relPath}`)
              }
              return await this.#confirm(item, byName.get(item.file.relPath))
            } catch (error) {
              return this.#failure(item.file, error, options.signal)
            }
          }),
        )
        return [...failed, ...confirmed]
      } catch (error) {
        if (error instanceof FileFailed) {
          // One file became unreadable mid-request: it fails alone; the rest go again.
          failed.push({ ok: false, file: error.item.file, error })
          group = group.map((chunk) => chunk.filter((item) => item !== error.item))
          group = group.filter((chunk) => chunk.length > 0)
          continue
        }
        const typed = toFerryError(error, options.signal)
        if (typed.kind === 'auth' || typed.kind === 'cancelled') throw typed
        return [
          ...failed,
          ...items.map((item) => ({ ok: false as const, file: item.file, error: typed })),
        ]
      }
    }
  }

  async #runProcess(
    group: readonly (readonly Outgoing[])[],
    progress: ProgressTracker,
    options: UploadOptions,
  ): Promise<{ name: string; cid: unknown }[]> {
    const { signal } = options
    const { body } = await this.#http.json<{ token?: unknown }>({
      method: 'POST',
      url: this.#url('/v1/upload/get-token'),
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ chunks_number: group.length, folder_path: this.#remotePath }),
      auth: this.#authProvider,
      signal,
    })
    if (typeof body.token !== 'string' || !body.token) {
      throw new IntegrityError('dStor answered get-token without an upload token')
    }
    const uploadToken = body.token
    for (const chunk of group) {
      const { body: answer, response } = await this.#http.json<{ received?: unknown }>({
        method: 'POST',
        url: this.#url('/v1/upload/'),
        headers: { 'x-dstor-upload-token': uploadToken },
        body: multipartBody(
          chunk.map((item) => ({
            name: 'file',
            filename: item.file.relPath,
            source: item.source(),
          })),
          {
            onPartProgress: (i, sent) => {
              const relPath = (chunk[i] as Outgoing).file.relPath
              progress.reach(relPath, sent, relPath)
            },
          },
        ),
        auth: this.#authProvider,
        signal,
        acceptStatus: [404],
      })
      if (response.status === 404) throw processGone()
      if (typeof answer.received === 'number' && answer.received !== chunk.length) {
        throw new RetryableError(
          `dStor received ${answer.received} of the ${chunk.length} files sent; starting over`,
        )
      }
    }
    return this.#poll(uploadToken, signal)
  }

  async #poll(
    uploadToken: string,
    signal?: AbortSignal,
  ): Promise<{ name: string; cid: unknown }[]> {
    const deadline = Date.now() + this.#statusTimeoutMs
    for (let delay = 0; ; delay = Math.min(5_000, Math.max(500, delay * 1.5))) {
      if (delay) await sleep(delay, signal)
      const { body, response } = await this.#http.json<StatusAnswer>({
        method: 'GET',
        url: this.#url('/v1/upload/get-status/'),
        headers: { 'x-dstor-upload-token': uploadToken },
        auth: this.#authProvider,
        signal,
        acceptStatus: [404],
      })
      if (response.status === 404) throw processGone()
      if (body.status === 'DONE') return parseRows(body.data)
      if (body.status === 'ERROR') {
        const stage = typeof body.errorAtStage === 'string' ? body.errorAtStage : 'unknown stage'
        const why =
          typeof body.errorExplanation === 'string' ? body.errorExplanation : 'no explanation'
        throw new PermanentError(`dStor could not store the files (at ${stage}): ${why}`, {
          serverMessage: why,
        })
      }
      // Unknown statuses mean "not finished yet", never success (PROTOCOLS.md preamble).
      if (Date.now() > deadline) {
        throw new StillProcessingError()
      }
    }
  }

  async #confirm(item: Outgoing, cid: unknown): Promise<UploadOutcome> {
    // A file that moved while it was sent is reported as such, whatever the server computed.
    await assertUnchanged(item.file)
    const local = await item.digests()
    if (typeof cid !== 'string' || !cid) {
      throw new IntegrityError(`dStor did not return a CID for ${item.file.relPath}`)
    }
    if (cid !== local.cid) {
      throw new IntegrityError(
        `dStor stored ${item.file.relPath} as ${cid}, but its content is ${local.cid}`,
      )
    }
    return { ok: true, file: item.file, sha256: local.sha256, remote: { cid } }
  }

  #failure(file: LocalFile, error: unknown, signal?: AbortSignal): UploadOutcome {
    const typed = toFerryError(error, signal)
    if (typed.kind === 'auth' || typed instanceof CancelledError) throw typed
    return { ok: false, file, error: typed }
  }

  async #fetchToken(signal?: AbortSignal): Promise<string> {
    const url = this.#url('/v1/dev/temp-token')
    const expiry = String(Math.floor(Date.now() / 1000) + this.#tokenLifetimeSec)
    const { body } =
      this.#auth.method === 'api-key'
        ? await this.#http.json<{ access_token?: unknown }>({
            method: 'GET',
            url,
            headers: { 'api-key': this.#auth.key, 'x-expiration': expiry },
            signal,
            authEndpoint: true,
          })
        : await this.#http.json<{ access_token?: unknown }>({
            method: 'POST',
            url,
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ email: this.#auth.email, password: this.#auth.password }),
            signal,
            authEndpoint: true,
          })
    if (typeof body.access_token !== 'string') {
      throw new IntegrityError('dStor answered without an access token')
    }
    return body.access_token
  }

  #url(path: string): URL {
    const base = this.#base.href.endsWith('/') ? this.#base.href : `${this.#base.href}/`
    return new URL(path.replace(/^\//, ''), base)
  }
}

/** Polling gave up while dStor was still working: the files stay queued for a later run. */
class StillProcessingError extends RetryableError {
  constructor() {
    super('dStor is still processing the upload; it will be checked again later')
  }
}

// The process expired or was forgotten (PROTOCOLS.md §1.2): its files go again in a new one.
function processGone(): RetryableError {
  return new RetryableError('dStor no longer knows this upload; starting a new one', {
    status: 404,
  })
}

function parseRows(data: unknown): { name: string; cid: unknown }[] {
  if (!Array.isArray(data)) throw new IntegrityError('dStor reported DONE without its file list')
  return data.map((row: unknown) => {
    const record = (row ?? {}) as Record<string, unknown>
    return {
      name: String(record['Name'] ?? record['name'] ?? ''),
      cid: record['Hash'] ?? record['hash'],
    }
  })
}

function normaliseRemotePath(path: string): string {
  const clean = posix.normalize(`/${path}`).replace(/\/+$/, '')
  return clean === '' ? '/' : clean
}
