import { availableParallelism } from 'node:os'
import { basename, join } from 'node:path'
import type { Backend, FolderTree, LocalFile, UploadOptions, UploadOutcome } from '../backend.ts'
import { mapLimit } from '../concurrency.ts'
import {
  FileChangedError,
  IntegrityError,
  PermanentError,
  toFerryError,
  type FerryError,
} from '../errors.ts'
import { multipartBody } from '../http/multipart.ts'
import { withRetry } from '../http/retry.ts'
import { ProgressTracker } from '../progress.ts'
import type { AuthProvider, HttpClient } from '../http/client.ts'
import { assertUnchanged } from '../local-file.ts'
import { discoverTarget, type BlobTarget } from './blob-target.ts'
import { BlobSender, type OutgoingBlob } from './blob-sender.ts'
import {
  buildDirectoryBlobs,
  buildFileBlobs,
  buildSymlinkBlob,
  type FileBlobs,
} from './file-blobs.ts'
import { sortStaticSetEntries, type UploadBlob } from './schema.ts'
import { sendWhileHashing, type FileHasher } from './streaming-send.ts'
import { WorkerHasher } from './worker-hasher.ts'

export type PerkeepAuth =
  | { readonly method: 'userpass'; readonly user: string; readonly password: string }
  | { readonly method: 'token'; readonly token: string }

export interface PerkeepOptions {
  readonly server: string
  readonly auth: PerkeepAuth
  readonly http: HttpClient
  /** Ask the server for a permanode per file, so files show in Perkeep's web UI. */
  readonly vivify?: boolean
  /** Files hashed at once. */
  readonly concurrency?: number
  /** Files per wave: a wave is hashed, then its missing blobs are sent together. */
  readonly waveFiles?: number
  readonly waveBytes?: number
  /** Files at least this big are sent while they are hashed, in batches of chunks. */
  readonly streamBytes?: number
  /** Chunk bytes per batch of a big file. */
  readonly batchBytes?: number
  /** Batches of a big file in flight at once. */
  readonly batchesInFlight?: number
  /** Blob bytes per upload request of a big file (each keeps its buffers until answered). */
  readonly requestBytes?: number
  /**
   * Hash big files on a worker thread, leaving this thread to send. Default: only with four or
   * more cores; with fewer, the thread would compete with the sending (and, on a test machine,
   * the server) for the same cores and cost ~25 MB of memory for nothing.
   */
  readonly hashOnWorker?: boolean
}

interface Prepared {
  readonly file: LocalFile
  readonly blobs: FileBlobs
}

/**
 * Perkeep: each file becomes content chunks plus `bytes`/`file` schema blobs, byte-identical to
 * Perkeep's own client; folders become `static-set` + `directory` blobs (PROTOCOLS.md §3.5).
 * A file is read up to the size it was listed with, so one that keeps growing goes out as a
 * consistent prefix, and the after-upload check reports that it moved (FileChangedError).
 */
export class PerkeepBackend implements Backend {
  readonly kind = 'perkeep'
  readonly #server: URL
  readonly #http: HttpClient
  readonly #auth: AuthProvider
  readonly #vivify: boolean
  readonly #concurrency: number
  readonly #waveFiles: number
  readonly #waveBytes: number
  readonly #streamBytes: number
  readonly #batchBytes: number
  readonly #batchesInFlight: number
  readonly #requestBytes: number
  readonly #worker: WorkerHasher | undefined
  #sender: Promise<BlobSender> | undefined

  constructor(options: PerkeepOptions) {
    this.#http = options.http
    this.#server = this.#http.checkUrl(options.server)
    const header =
      options.auth.method === 'userpass'
        ? `Basic ${Buffer.from(`${options.auth.user}:${options.auth.password}`).toString('base64')}`
        : `Token ${options.auth.token}`
    // Static credentials: nothing to refresh; a 401 is final.
    this.#auth = { headers: async () => ({ authorization: header }), refresh: async () => {} }
    this.#vivify = options.vivify ?? false
    this.#concurrency = options.concurrency ?? 4
    this.#waveFiles = options.waveFiles ?? 1000
    this.#waveBytes = options.waveBytes ?? 64 * 1024 * 1024
    this.#streamBytes = options.streamBytes ?? 32 * 1024 * 1024
    this.#batchBytes = options.batchBytes ?? 16 * 1024 * 1024
    this.#batchesInFlight = options.batchesInFlight ?? 3
    this.#requestBytes = options.requestBytes ?? 4 * 1024 * 1024
    this.#worker =
      (options.hashOnWorker ?? availableParallelism() >= 4) ? new WorkerHasher() : undefined
  }

  async checkAuth(signal?: AbortSignal): Promise<void> {
    // Discovery may be open to all; a stat is always behind auth.
    const target = await this.#targetOf(signal)
    await target.stat([], signal)
  }

  async upload(files: readonly LocalFile[], options: UploadOptions = {}): Promise<UploadOutcome[]> {
    const sender = await this.#ready(options.signal)
    const progress = new ProgressTracker(options.onProgress)
    const outcomes: UploadOutcome[] = []
    // One wave is sent while the next is hashed; a big file is hashed and sent on its own. The
    // wave being sent never rejects unobserved: its failure is kept until it is drained.
    let sending: Promise<{ sent: UploadOutcome[] } | { failed: unknown }> | undefined
    const drain = async (): Promise<void> => {
      const done = await sending
      sending = undefined
      if (!done) return
      if ('failed' in done) throw done.failed
      outcomes.push(...done.sent)
    }
    try {
      for (const group of this.#groups(files)) {
        if ('big' in group) {
          await drain()
          outcomes.push(await this.#stream(sender, group.big, progress, options))
          continue
        }
        const prepared = await this.#hashWave(group.wave, outcomes, options)
        await drain()
        sending = this.#send(sender, prepared, progress, options).then(
          (sent) => ({ sent }),
          (failed: unknown) => ({ failed }),
        )
      }
      await drain()
    } finally {
      // A fatal error while hashing must not leave the previous wave running behind our back.
      await sending
    }
    const byFile = new Map(outcomes.map((o) => [o.file, o]))
    return files.map((file) => byFile.get(file) as UploadOutcome)
  }

  /**
   * Stores the folder as static-set + directory blobs, deepest folders first (each directory
   * names its children's refs), all of them sent in one go; returns the root directory's ref.
   */
  async storeTree(tree: FolderTree, options: UploadOptions = {}): Promise<string> {
    const sender = await this.#ready(options.signal)
    const parentOf = (rel: string): string =>
      rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : ''
    const children = new Map<string, { name: string; ref: string; isDirectory: boolean }[]>()
    const add = (rel: string, ref: string, isDirectory: boolean): void => {
      const parent = parentOf(rel)
      const list = children.get(parent) ?? []
      list.push({ name: basename(rel), ref, isDirectory })
      children.set(parent, list)
    }
    for (const file of tree.files) {
      if ('fileRef' in file.remote) add(file.relPath, file.remote.fileRef, false)
    }
    const blobs: OutgoingBlob[] = []
    for (const link of tree.symlinks ?? []) {
      // A link that changed into something else since the scan is left out until the next one.
      const built = await buildSymlinkBlob(join(tree.root, link), link).catch(() => undefined)
      if (!built) continue
      for (const blob of built.blobs) {
        blobs.push({
          ref: blob.ref,
          size: blob.size,
          source: { bytes: blob.bytes },
          owner: link,
          schema: true,
        })
      }
      add(link, built.ref, false)
    }
    const depth = (rel: string): number => (rel === '' ? 0 : rel.split('/').length)
    let root: string | undefined
    for (const folder of [...tree.folders].sort((a, b) => depth(b) - depth(a))) {
      const members = sortStaticSetEntries(children.get(folder) ?? []).map((e) => e.ref)
      const name = folder === '' ? basename(tree.root) : folder
      const built = await buildDirectoryBlobs(join(tree.root, folder), name, members)
      for (const blob of built.blobs) {
        blobs.push({
          ref: blob.ref,
          size: blob.size,
          source: { bytes: blob.bytes },
          owner: folder,
          schema: true,
        })
      }
      if (folder === '') root = built.ref
      else add(folder, built.ref, true)
    }
    if (!root) throw new IntegrityError('The folder tree had no root')
    const [failure] = (await sender.send(blobs, { signal: options.signal })).values()
    if (failure) throw failure
    return root
  }

  async close(): Promise<void> {
    await this.#worker?.close()
    await this.#http.close()
  }

  /** Hashes a wave's files; the ones that cannot be read are settled as failed right away. */
  async #hashWave(
    wave: readonly LocalFile[],
    outcomes: UploadOutcome[],
    options: UploadOptions,
  ): Promise<Prepared[]> {
    const prepared: Prepared[] = []
    await mapLimit(
      wave,
      this.#concurrency,
      async (file) => {
        try {
          const blobs = await buildFileBlobs(file.absPath, file.relPath, {
            signal: options.signal,
            length: file.size,
          })
          checkSize(file, blobs)
          prepared.push({ file, blobs })
        } catch (error) {
          outcomes.push(
            this.#settle({ ok: false, file, error: toFerryError(error, options.signal) }, options),
          )
        }
      },
      options.signal,
    )
    return prepared
  }

  async #send(
    sender: BlobSender,
    prepared: readonly Prepared[],
    progress: ProgressTracker,
    options: UploadOptions,
  ): Promise<UploadOutcome[]> {
    const blobsOf = (item: Prepared): OutgoingBlob[] =>
      item.blobs.blobs.map((blob) => outgoing(item.file, blob))
    // With vivify, each file schema goes alone afterwards, with the header that asks for it.
    const failures = await sender.send(
      prepared.flatMap((item) =>
        blobsOf(item).filter((b) => !this.#vivify || b.ref !== item.blobs.fileRef),
      ),
      { signal: options.signal, progress, parallel: this.#concurrency },
    )
    return Promise.all(
      prepared.map(async (item) => {
        try {
          const error = blobsOf(item)
            .map((b) => failures.get(b.ref))
            .find((e): e is FerryError => e !== undefined)
          if (error) throw error
          return await this.#confirm(item, options)
        } catch (thrown) {
          return this.#settle(
            { ok: false, file: item.file, error: toFerryError(thrown, options.signal) },
            options,
          )
        }
      }),
    )
  }

  /**
   * A big file: its chunks go out in batches while it is still being hashed; its schema blobs
   * follow once every chunk is on the server.
   */
  async #stream(
    sender: BlobSender,
    file: LocalFile,
    progress: ProgressTracker,
    options: UploadOptions,
  ): Promise<UploadOutcome> {
    try {
      const blobs = await sendWhileHashing(sender, file.absPath, file.relPath, this.#hash, {
        signal: options.signal,
        progress,
        batchBytes: this.#batchBytes,
        inFlight: this.#batchesInFlight,
        parallel: 1,
        requestBytes: this.#requestBytes,
        length: file.size,
      })
      checkSize(file, blobs)
      const schema = blobs.blobs.filter(
        (b) => b.kind === 'schema' && (!this.#vivify || b.ref !== blobs.fileRef),
      )
      const failures = await sender.send(
        schema.map((blob) => outgoing(file, blob)),
        { signal: options.signal, progress, parallel: 1 },
      )
      const [error] = failures.values()
      if (error) throw error
      return await this.#confirm({ file, blobs }, options)
    } catch (thrown) {
      return this.#settle({ ok: false, file, error: toFerryError(thrown, options.signal) }, options)
    }
  }

  readonly #hash: FileHasher = (absPath, name, options) =>
    this.#worker
      ? this.#worker.hash(absPath, name, options)
      : buildFileBlobs(absPath, name, options)

  /** Every blob of the file is on the server: vivify if asked, re-check the file, settle. */
  async #confirm(item: Prepared, options: UploadOptions): Promise<UploadOutcome> {
    if (this.#vivify) await this.#vivifyFile(item, options.signal)
    // Whatever the server said, a file that moved meanwhile is not what we sent.
    await assertUnchanged(item.file)
    return this.#settle(
      {
        ok: true,
        file: item.file,
        sha256: item.blobs.sha256hex,
        remote: { fileRef: item.blobs.fileRef },
      },
      options,
    )
  }

  /**
   * Sends a file schema alone with `X-Camlistore-Vivify: 1`, even if the server already holds
   * it (a permanode is made per request), and checks the server says it did.
   */
  async #vivifyFile(item: Prepared, signal?: AbortSignal): Promise<void> {
    const schema = item.blobs.blobs.find((b) => b.ref === item.blobs.fileRef)
    if (!schema || schema.kind !== 'schema') throw new IntegrityError('The file has no schema blob')
    const target = await this.#targetOf(signal)
    const { answer, response } = await withRetry(this.#http.retry, signal, () =>
      target.upload(
        multipartBody([
          { name: schema.ref, filename: schema.ref, source: { bytes: schema.bytes } },
        ]),
        { 'x-camlistore-vivify': '1' },
        signal,
      ),
    )
    const stored = answer.received.some((r) => r.blobRef === schema.ref && r.size === schema.size)
    if (!stored || answer.errorText || !response.headers['x-camlistore-vivified']) {
      throw new PermanentError(
        `Perkeep stored ${item.file.relPath} but could not make it visible in its web UI` +
          (answer.errorText ? `: ${answer.errorText}` : ''),
        answer.errorText ? { serverMessage: answer.errorText } : {},
      )
    }
  }

  #settle(outcome: UploadOutcome, options: UploadOptions): UploadOutcome {
    if (!outcome.ok && (outcome.error.kind === 'auth' || outcome.error.kind === 'cancelled')) {
      throw outcome.error
    }
    options.onOutcome?.(outcome)
    return outcome
  }

  /** Waves of small files, bounded in count and bytes; a file of streamBytes or more alone. */
  *#groups(files: readonly LocalFile[]): Iterable<{ wave: LocalFile[] } | { big: LocalFile }> {
    let wave: LocalFile[] = []
    let bytes = 0
    for (const file of files) {
      if (file.size >= this.#streamBytes) {
        yield { big: file }
        continue
      }
      if (
        wave.length > 0 &&
        (wave.length >= this.#waveFiles || bytes + file.size > this.#waveBytes)
      ) {
        yield { wave }
        wave = []
        bytes = 0
      }
      wave.push(file)
      bytes += file.size
    }
    if (wave.length > 0) yield { wave }
  }

  #target: Promise<BlobTarget> | undefined

  #targetOf(signal?: AbortSignal): Promise<BlobTarget> {
    this.#target ??= discoverTarget(this.#server, this.#http, this.#auth, signal).catch(
      (error: unknown) => {
        this.#target = undefined
        throw error
      },
    )
    return this.#target
  }

  #ready(signal?: AbortSignal): Promise<BlobSender> {
    this.#sender ??= this.#targetOf(signal).then(
      (target) => new BlobSender(target, this.#http.retry),
    )
    this.#sender.catch(() => {
      this.#sender = undefined
    })
    return this.#sender
  }
}

function checkSize(file: LocalFile, blobs: FileBlobs): void {
  if (blobs.size !== file.size) {
    throw new FileChangedError(`${file.relPath} changed since it was listed`)
  }
}

function outgoing(file: LocalFile, blob: UploadBlob): OutgoingBlob {
  return {
    ref: blob.ref,
    size: blob.size,
    source:
      blob.kind === 'range'
        ? { path: file.absPath, start: blob.offset, length: blob.size }
        : { bytes: blob.bytes },
    owner: file.relPath,
    schema: blob.kind === 'schema',
  }
}
