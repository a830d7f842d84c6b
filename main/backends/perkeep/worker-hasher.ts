import { Worker } from 'node:worker_threads'
import { CancelledError, FerryError, PermanentError, type ErrorKind } from '../errors.ts'
import { workerUrl } from '../worker-url.ts'
import type { Chunk } from './chunker.ts'
import { buildFileBlobs, type FileBlobs } from './file-blobs.ts'
import type { UploadBlob } from './schema.ts'
import type { FileHasher } from './streaming-send.ts'

/** Messages to the hash worker. */
export type ToWorker =
  | {
      readonly type: 'hash'
      readonly id: number
      readonly absPath: string
      readonly name: string
      readonly schemaOnly: boolean
      readonly length: number | undefined
    }
  | { readonly type: 'ack' | 'cancel'; readonly id: number }

/** Messages from the hash worker. */
export type FromWorker =
  | { readonly type: 'chunks'; readonly id: number; readonly chunks: readonly Chunk[] }
  | { readonly type: 'done'; readonly id: number; readonly blobs: FileBlobs }
  | {
      readonly type: 'error'
      readonly id: number
      readonly error: { readonly kind: ErrorKind | undefined; readonly message: string }
    }

interface Job {
  readonly worker: Worker
  readonly onChunks: ((chunks: readonly Chunk[]) => void | Promise<void>) | undefined
  readonly resolve: (blobs: FileBlobs) => void
  readonly reject: (error: unknown) => void
  /** Hashes the file on this thread instead, if the worker dies before a word about it. */
  readonly fallback: () => void
  // Chunk messages are handed over one after the other, in file order.
  queue: Promise<void>
  heard: boolean
  failure: unknown
}

/**
 * Hashes files on a worker thread (see hash-worker.ts), so the chunker and the digests neither
 * hold up the event loop nor share its core with the uploads. Same contract as buildFileBlobs.
 * Hashes on this thread instead when no worker can run (its file is not where the build put
 * it, or it dies before doing any work, as it may inside a packaged app).
 */
export class WorkerHasher {
  #worker: Worker | undefined
  #unavailable = false
  // Whether a worker ever answered: if not, one that dies is taken to be unable to start.
  #heardFromAny = false
  readonly #closing = new Set<Worker>()
  readonly #jobs = new Map<number, Job>()
  #nextId = 1

  /** A FileHasher: resolves as buildFileBlobs would, after every chunk was handed over. */
  readonly hash: FileHasher = (absPath, name, options) => {
    const worker = this.#started()
    if (!worker) return buildFileBlobs(absPath, name, options)
    const { signal } = options
    if (signal?.aborted) return Promise.reject(new CancelledError('Cancelled'))
    const id = this.#nextId++
    return new Promise<FileBlobs>((resolve, reject) => {
      const onAbort = (): void => worker.postMessage({ type: 'cancel', id } satisfies ToWorker)
      signal?.addEventListener('abort', onAbort, { once: true })
      const settle = (): void => {
        signal?.removeEventListener('abort', onAbort)
        this.#jobs.delete(id)
        if (![...this.#jobs.values()].some((job) => job.worker === worker)) worker.unref()
      }
      this.#jobs.set(id, {
        worker,
        onChunks: options.onChunks,
        resolve: (blobs) => {
          settle()
          resolve(blobs)
        },
        reject: (error) => {
          settle()
          reject(error)
        },
        fallback: () => {
          settle()
          buildFileBlobs(absPath, name, options).then(resolve, reject)
        },
        queue: Promise.resolve(),
        heard: false,
        failure: undefined,
      })
      // A job in progress keeps the process alive; an idle worker does not.
      worker.ref()
      const schemaOnly = options.schemaOnly ?? false
      const { length } = options
      worker.postMessage({ type: 'hash', id, absPath, name, schemaOnly, length } satisfies ToWorker)
    })
  }

  /** Stops the worker; jobs still running on it fail. */
  async close(): Promise<void> {
    const worker = this.#worker
    this.#worker = undefined
    if (!worker) return
    this.#closing.add(worker)
    await worker.terminate()
  }

  #started(): Worker | undefined {
    if (this.#worker || this.#unavailable) return this.#worker
    const url = workerUrl(import.meta.url, 'hash-worker')
    if (!url) {
      this.#unavailable = true
      return undefined
    }
    const worker = new Worker(url)
    worker.unref()
    worker.on('message', (message: FromWorker) => this.#receive(worker, message))
    let failed = false
    const fail = (error: Error): void => {
      if (failed) return
      failed = true
      if (this.#worker === worker) this.#worker = undefined
      const closing = this.#closing.delete(worker)
      if (!this.#heardFromAny && !closing) this.#unavailable = true
      for (const job of [...this.#jobs.values()]) {
        if (job.worker !== worker) continue
        if (!job.heard && !closing) job.fallback()
        else job.reject(new PermanentError(`The hashing thread stopped: ${error.message}`))
      }
    }
    worker.on('error', fail)
    worker.on('exit', (code) => fail(new Error(`exit code ${code}`)))
    this.#worker = worker
    return worker
  }

  #receive(worker: Worker, message: FromWorker): void {
    this.#heardFromAny = true
    const job = this.#jobs.get(message.id)
    if (!job) return
    job.heard = true
    const { id } = message
    if (message.type === 'chunks') {
      job.queue = job.queue.then(async () => {
        if (job.failure !== undefined) return
        try {
          await job.onChunks?.(message.chunks)
          worker.postMessage({ type: 'ack', id } satisfies ToWorker)
        } catch (error) {
          // The consumer gave up (a batch failed): stop reading, fail with its reason.
          job.failure = error
          worker.postMessage({ type: 'cancel', id } satisfies ToWorker)
        }
      })
      return
    }
    void job.queue.then(() => {
      if (job.failure !== undefined) job.reject(job.failure)
      else if (message.type === 'done') job.resolve(revive(message.blobs))
      else job.reject(reviveError(message.error))
    })
  }
}

// Structured cloning turns Buffers into plain Uint8Arrays.
function revive(blobs: FileBlobs): FileBlobs {
  return {
    ...blobs,
    blobs: blobs.blobs.map((blob): UploadBlob =>
      blob.kind === 'schema'
        ? {
            ...blob,
            bytes: Buffer.from(blob.bytes.buffer, blob.bytes.byteOffset, blob.bytes.byteLength),
          }
        : blob,
    ),
  }
}

function reviveError(error: { kind: ErrorKind | undefined; message: string }): Error {
  if (error.kind === 'cancelled') return new CancelledError(error.message)
  return error.kind ? new FerryError(error.kind, error.message) : new Error(error.message)
}
