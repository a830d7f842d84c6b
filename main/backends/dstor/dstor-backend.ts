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
import { assertReadable, assertUnchanged, hashFile, unreadable } from '../local-file.ts'
import { ProgressTracker } from '../progress.ts'
import { TokenCache } from '../token-cache.ts'
import { CidHasher } from './cid.ts'
import { planChunks, type ChunkLimits } from './chunk-plan.ts'
import { DstorProcessJournal, type JournaledProcess } from './process-journal.ts'

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

/** What the local file's bytes hash to. */
interface Digests {
  readonly sha256: string
  readonly cid: string
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
  #digests: Promise<Digests> | undefined

  constructor(file: LocalFile) {
    this.file = file
  }

  source(): PartSource {
    return { length: this.file.size, read: () => this.#read() }
  }

  /** The digests of the last attempt that sent the whole file. */
  digests(): Promise<Digests> {
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

/** Files that a journaled process may already have stored. */
interface Recovery {
  readonly entry: JournaledProcess
  readonly items: readonly Outgoing[]
  readonly journal: DstorProcessJournal
}

/** Reports one outcome as soon as it is known. */
type Settle = (outcome: UploadOutcome) => void

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
 *
 * With a journal, each folder process is recorded when opened and as its chunks are confirmed,
 * so a push restarted after a crash polls a process whose chunks all went out instead of sending
 * them again; a process cut off earlier is abandoned (§1.2: no resume) and its files go again. A
 * single-file upload is one request, so there is nothing to recover: either its answer arrived
 * (and was reported) or the file is sent again, which stores the same CID under the same name.
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
    const progress = new ProgressTracker(options.onProgress)
    const journal = options.journal ? new DstorProcessJournal(options.journal) : undefined
    const { recoveries, rest } = journal
      ? this.#recoverable(ready, journal)
      : { recoveries: [], rest: ready }
    // Recoveries, singles and processes are independent: run them side by side, `concurrency`
    // at a time. A recovery that finds nothing to recover uploads its files itself.
    const jobs = [
      ...recoveries.map((recovery) => async () => {
        const recovered = await this.#recover(recovery, options.signal)
        if (!recovered) {
          for (const job of this.#jobs(recovery.items, progress, options, settle)) await job()
          return
        }
        for (const outcome of recovered) settle(outcome)
        // Only once every outcome is reported: a crash before this asks dStor again.
        recovery.journal.forget(recovery.entry.id)
      }),
      ...this.#jobs(rest, progress, options, settle),
    ]
    await mapLimit(jobs, this.#concurrency, (job) => job(), options.signal)
    return files.map((file) => outcomes.get(file) as UploadOutcome)
  }

  async close(): Promise<void> {
    await this.#http.close()
  }

  /** The uploads of `items`: singles and folder processes, as the chunk plan groups them. */
  #jobs(
    items: readonly Outgoing[],
    progress: ProgressTracker,
    options: UploadOptions,
    settle: Settle,
  ): (() => Promise<void>)[] {
    const plan = planChunks(items, this.#limits)
    return [
      ...plan.singles.map(
        (item) => async () => settle(await this.#single(item, progress, options)),
      ),
      ...plan.processes.map((group) => () => this.#process(group, progress, options, settle)),
    ]
  }

  /**
   * Splits the files to upload into those a journaled process may already have stored (same
   * path, size and mtime, and every chunk of that process sent, or all but the last, whose
   * answer may have been lost) and the rest. Entries that concern these files but cannot help
   * (cut off mid-process, other content, another remote folder) are dropped; entries about other
   * files are left alone.
   */
  #recoverable(
    ready: readonly Outgoing[],
    journal: DstorProcessJournal,
  ): { recoveries: Recovery[]; rest: Outgoing[] } {
    const byPath = new Map(ready.map((item) => [item.file.relPath, item]))
    const claimed = new Set<Outgoing>()
    const recoveries: Recovery[] = []
    for (const entry of journal.entries()) {
      if (!entry.files.some(([relPath]) => byPath.has(relPath))) continue
      const items = entry.files.flatMap(([relPath, size, mtimeMs]) => {
        const item = byPath.get(relPath)
        const same = item?.file.size === size && item.file.mtimeMs === mtimeMs
        return item && same && !claimed.has(item) ? [item] : []
      })
      if (
        items.length === 0 ||
        entry.folderPath !== this.#remotePath ||
        entry.sent < entry.chunks - 1
      ) {
        journal.forget(entry.id)
        continue
      }
      for (const item of items) claimed.add(item)
      recoveries.push({ entry, items, journal })
    }
    return { recoveries, rest: ready.filter((item) => !claimed.has(item)) }
  }

  /**
   * Asks dStor for the result of a journaled process instead of uploading its files again. On
   * DONE each file's CID is checked against the one computed from the local file now. Returns
   * undefined when the files must go again (ERROR, expired or forgotten, last chunk never
   * arrived), having dropped the entry; the entry stays while dStor is still working on it or
   * cannot be reached.
   */
  async #recover(
    { entry, items, journal }: Recovery,
    signal: AbortSignal | undefined,
  ): Promise<UploadOutcome[] | undefined> {
    let rows: { name: string; cid: unknown }[]
    try {
      rows = await this.#poll(entry.uploadToken, signal, entry.sent < entry.chunks)
    } catch (error) {
      const typed = toFerryError(error, signal)
      if (typed.kind === 'auth' || typed.kind === 'cancelled') throw typed
      const gone = typed.status === 404 || error instanceof ChunksMissingError
      if (typed.kind === 'retryable' && !gone) {
        return items.map((item) => ({ ok: false as const, file: item.file, error: typed }))
      }
      journal.forget(entry.id)
      return undefined
    }
    const byName = new Map(rows.map((row) => [row.name, row.cid]))
    return Promise.all(
      items.map(async (item) => {
        const { file } = item
        try {
          if (!byName.has(file.relPath)) {
            throw new IntegrityError(`dStor finished without confirming ${file.relPath}`)
          }
          return await this.#confirm(
            file,
            () => localDigests(file, signal),
            byName.get(file.relPath),
          )
        } catch (error) {
          return this.#failure(file, error, signal)
        }
      }),
    )
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
      return await this.#confirm(file, () => item.digests(), cid)
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
    settle: Settle,
  ): Promise<void> {
    const journal = options.journal ? new DstorProcessJournal(options.journal) : undefined
    let group = initial
    for (;;) {
      const items = group.flat()
      if (items.length === 0) return
      try {
        // A process that failed starts over as a new one; one still being processed when
        // polling gives up is left alone (its files stay queued), not uploaded again at once.
        const { rows, id } = await withRetry(
          this.#http.retry,
          options.signal,
          () => this.#runProcess(group, progress, options, journal),
          { retryIf: (error) => !(error instanceof StillProcessingError) },
        )
        const byName = new Map(rows.map((row) => [row.name, row.cid]))
        const confirmed = await Promise.all(
          items.map(async (item) => {
            try {
              if (!byName.has(item.file.relPath)) {
                throw new IntegrityError(`dStor finished without confirming ${item.file.relPath}`)
              }
              return await this.#confirm(
                item.file,
                () => item.digests(),
                byName.get(item.file.relPath),
              )
            } catch (error) {
              return this.#failure(item.file, error, options.signal)
            }
          }),
        )
        for (const outcome of confirmed) settle(outcome)
        // Only once every outcome is reported: a crash before this asks dStor again.
        if (id !== undefined) journal?.forget(id)
        return
      } catch (error) {
        if (error instanceof FileFailed) {
          // One file became unreadable mid-request: it fails alone; the rest go again.
          settle({ ok: false, file: error.item.file, error })
          group = group.map((chunk) => chunk.filter((item) => item !== error.item))
          group = group.filter((chunk) => chunk.length > 0)
          continue
        }
        const typed = toFerryError(error, options.signal)
        if (typed.kind === 'auth' || typed.kind === 'cancelled') throw typed
        for (const item of items) settle({ ok: false, file: item.file, error: typed })
        return
      }
    }
  }

  /**
   * One attempt at a folder process. With a journal the process is recorded once opened and
   * as each chunk is confirmed; an attempt that fails abandons it and drops the entry, unless
   * the process may still finish (cut off, still being processed, sign-in needed), which the
   * next push then asks about.
   */
  async #runProcess(
    group: readonly (readonly Outgoing[])[],
    progress: ProgressTracker,
    options: UploadOptions,
    journal: DstorProcessJournal | undefined,
  ): Promise<{ rows: { name: string; cid: unknown }[]; id: string | undefined }> {
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
    const id = journal?.begin(
      uploadToken,
      this.#remotePath,
      group.map((chunk) => chunk.map((item) => item.file)),
    )
    try {
      return {
        rows: await this.#sendChunks(uploadToken, group, progress, options, (sent) => {
          if (id !== undefined) journal?.chunksSent(id, sent)
        }),
        id,
      }
    } catch (error) {
      if (id !== undefined) {
        const kind = toFerryError(error, signal).kind
        const mayFinish =
          error instanceof StillProcessingError || kind === 'auth' || kind === 'cancelled'
        if (!mayFinish) journal?.forget(id)
      }
      throw error
    }
  }

  async #sendChunks(
    uploadToken: string,
    group: readonly (readonly Outgoing[])[],
    progress: ProgressTracker,
    options: UploadOptions,
    onChunkSent: (sent: number) => void,
  ): Promise<{ name: string; cid: unknown }[]> {
    const { signal } = options
    for (const [index, chunk] of group.entries()) {
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
      onChunkSent(index + 1)
    }
    return this.#poll(uploadToken, signal)
  }

  /**
   * Polls get-status until DONE. `lastChunkUnsure`: the last chunk's answer was lost, so a
   * first answer of UPLOADING means it never arrived and the process can never finish.
   */
  async #poll(
    uploadToken: string,
    signal?: AbortSignal,
    lastChunkUnsure = false,
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
      if (lastChunkUnsure && delay === 0 && body.status === 'UPLOADING') {
        throw new ChunksMissingError()
      }
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

  async #confirm(
    file: LocalFile,
    digests: () => Promise<Digests>,
    cid: unknown,
  ): Promise<UploadOutcome> {
    // A file that moved while it was sent is reported as such, whatever the server computed.
    await assertUnchanged(file)
    const local = await digests()
    if (typeof cid !== 'string' || !cid) {
      throw new IntegrityError(`dStor did not return a CID for ${file.relPath}`)
    }
    if (cid !== local.cid) {
      throw new IntegrityError(
        `dStor stored ${file.relPath} as ${cid}, but its content is ${local.cid}`,
      )
    }
    return { ok: true, file, sha256: local.sha256, remote: { cid } }
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

/** A recovered process still waits for chunks: its last one never arrived, so it cannot finish. */
class ChunksMissingError extends PermanentError {
  constructor() {
    super('dStor never received the last chunk of the interrupted upload')
  }
}

/** sha256 and CID of the file as it is now, in one read (for a process recovered from the journal). */
async function localDigests(file: LocalFile, signal?: AbortSignal): Promise<Digests> {
  const cid = new CidHasher()
  try {
    const sha256 = await hashFile(file, [(piece) => cid.update(piece)], signal)
    return { sha256, cid: await cid.digest() }
  } catch (error) {
    cid.abort(error)
    // Wait for the importer to wind down so nothing is left running behind the caller.
    await cid.digest().catch(() => undefined)
    throw error
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
