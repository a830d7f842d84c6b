import { toFerryError, type FerryError } from '../errors.ts'
import type { ProgressTracker } from '../progress.ts'
import type { BlobSender, OutgoingBlob } from './blob-sender.ts'
import type { BuildFileOptions, FileBlobs } from './file-blobs.ts'

/** Reads a file once into its Perkeep blobs, handing over chunks as they are cut. */
export type FileHasher = (
  absPath: string,
  name: string,
  options: Pick<BuildFileOptions, 'signal' | 'onChunks' | 'schemaOnly' | 'length'>,
) => Promise<FileBlobs>

/** How sendWhileHashing batches a file's chunks. */
export interface StreamingOptions {
  readonly signal?: AbortSignal
  readonly progress?: ProgressTracker
  /** Chunk bytes gathered before a batch is stat'ed and its missing chunks sent. */
  readonly batchBytes: number
  /** Batches in flight at once; hashing waits while this many are out. */
  readonly inFlight: number
  /** Upload requests per batch at once. */
  readonly parallel: number
  /** Blob bytes per upload request. */
  readonly requestBytes: number
  /** Bytes of the file to read and send: the size it was listed with (see BuildFileOptions). */
  readonly length?: number
}

/**
 * Hashes a big file while its content chunks go out: every `batchBytes` of cut chunks are
 * stat'ed and the missing ones sent, with at most `inFlight` batches out, so hashing and sending
 * overlap and only chunk descriptors are held (chunk bytes are re-read from disk by offset).
 * Resolves with the file's schema blobs once every chunk is on the server; the caller then
 * sends them (they name the chunks). Rejects with the first failure of a batch (the file
 * fails) or of the read; either way only after every batch it started has settled.
 */
export async function sendWhileHashing(
  sender: BlobSender,
  absPath: string,
  relPath: string,
  hash: FileHasher,
  options: StreamingOptions,
): Promise<FileBlobs> {
  const { signal, batchBytes } = options
  const running = new Set<Promise<void>>()
  // Chunks waiting in a batch or out with one: a repeat (runs of zeros) is not queued again,
  // and once its batch is back, the sender knows the server has it.
  const queued = new Set<string>()
  let batch: OutgoingBlob[] = []
  let bytes = 0
  let failure: FerryError | undefined

  const launch = (blobs: readonly OutgoingBlob[]): void => {
    const sending = sender
      .send(blobs, {
        signal,
        progress: options.progress,
        parallel: options.parallel,
        requestBytes: options.requestBytes,
        // Requests follow each other for the whole file: their buffers are worth reusing.
        reuseBuffers: true,
      })
      .then(
        (failed) => {
          for (const blob of blobs) failure ??= failed.get(blob.ref)
        },
        (error: unknown) => {
          // Auth or cancellation: fatal for the whole upload, rethrown by the caller.
          failure ??= toFerryError(error, signal)
        },
      )
      .finally(() => {
        running.delete(sending)
        for (const blob of blobs) queued.delete(blob.ref)
      })
    running.add(sending)
  }
  const flush = async (): Promise<void> => {
    if (batch.length > 0) {
      launch(batch)
      batch = []
      bytes = 0
    }
    while (running.size >= options.inFlight && !failure) await Promise.race(running)
  }

  let blobs: FileBlobs | undefined
  let readError: unknown
  try {
    blobs = await hash(absPath, relPath, {
      signal,
      schemaOnly: true,
      ...(options.length === undefined ? {} : { length: options.length }),
      onChunks: async (chunks) => {
        if (failure) throw failure
        for (const chunk of chunks) {
          if (queued.has(chunk.ref)) continue
          queued.add(chunk.ref)
          batch.push({
            ref: chunk.ref,
            size: chunk.size,
            source: { path: absPath, start: chunk.offset, length: chunk.size },
            owner: relPath,
            schema: false,
          })
          bytes += chunk.size
        }
        if (bytes >= batchBytes) await flush()
        if (failure) throw failure
      },
    })
    if (!failure && batch.length > 0) launch(batch)
  } catch (error) {
    readError = error
  }
  // Nothing keeps sending behind the caller's back, whatever happened.
  while (running.size > 0) await Promise.race(running)
  sender.idle()
  if (failure?.kind === 'auth' || failure?.kind === 'cancelled') throw failure
  if (readError !== undefined) throw readError
  if (failure) throw failure
  return blobs as FileBlobs
}
