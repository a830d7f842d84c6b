import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { lstat, open } from 'node:fs/promises'
import type { LocalFile } from './backend.ts'
import { CancelledError, FileChangedError, LocalFileError } from './errors.ts'

/** Something that sees every byte of a file during the one hashing read (CID, chunker…). */
export type PieceConsumer = (piece: Uint8Array) => void | Promise<void>

const READ_SIZE = 1024 * 1024

/**
 * Read buffer size for a file of `size` bytes: a stream allocates a whole buffer per read, so a
 * 4 KiB file read with 1 MiB buffers makes 1 MiB of garbage (measured: a third of the CPU of a
 * small-file push went to the garbage collector).
 */
export function readSizeFor(size: number): number {
  return Math.min(READ_SIZE, Math.max(16 * 1024, size + 1))
}

/**
 * The one streaming read of a file that yields its sha256 and feeds the backend's own hashers
 * (PROTOCOLS.md §4). Reads exactly the size the file was listed with: a file that grew since is
 * cut there, like the bytes sent for it (multipart's readSource), so a file that never stops
 * growing still goes out as a consistent snapshot, and the after-upload check sees that it
 * moved. Fails with LocalFileError if the file is unreadable, FileChangedError if it shrank.
 */
export async function hashFile(
  file: LocalFile,
  consumers: readonly PieceConsumer[] = [],
  signal?: AbortSignal,
): Promise<string> {
  const sha256 = createHash('sha256')
  if (file.size === 0) {
    // Nothing to read (a stream cannot be given an empty range), but it must be readable.
    await assertReadable(file)
    return sha256.digest('hex')
  }
  let size = 0
  const stream = createReadStream(file.absPath, {
    end: file.size - 1,
    highWaterMark: readSizeFor(file.size),
    signal,
  })
  try {
    for await (const piece of stream as AsyncIterable<Buffer>) {
      size += piece.length
      sha256.update(piece)
      for (const consume of consumers) await consume(piece)
    }
  } catch (error) {
    if (signal?.aborted) throw new CancelledError()
    throw unreadable(file, error)
  }
  if (size !== file.size) throw changed(file)
  return sha256.digest('hex')
}

/**
 * Re-checks a file after its upload (PROTOCOLS.md §4): if its size or mtime moved, what the
 * server holds may not be what the file now is, so the result must not be recorded as synced.
 */
export async function assertUnchanged(file: LocalFile): Promise<void> {
  let stats
  try {
    stats = await lstat(file.absPath)
  } catch (error) {
    throw unreadable(file, error)
  }
  if (stats.size !== file.size || stats.mtimeMs !== file.mtimeMs) throw changed(file)
}

/** Opens and closes the file: an unreadable or vanished file is found before any request. */
export async function assertReadable(file: LocalFile): Promise<void> {
  try {
    await (await open(file.absPath, 'r')).close()
  } catch (error) {
    throw unreadable(file, error)
  }
}

/** The LocalFileError for a read that failed, in words a person understands. */
export function unreadable(file: LocalFile, error: unknown): LocalFileError {
  // readSource wraps the file system's error; its code says what happened.
  const cause = error instanceof LocalFileError && error.cause !== undefined ? error.cause : error
  if (cause instanceof LocalFileError) return cause
  return new LocalFileError(`Cannot read ${file.relPath}: ${fsErrorReason(cause)}`, { cause })
}

/** A file system error in words a person understands. */
export function fsErrorReason(error: unknown): string {
  const code = (error as { code?: string }).code
  if (code === 'ENOENT') return 'it was deleted'
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied'
  return (error as Error).message ?? String(error)
}

function changed(file: LocalFile): FileChangedError {
  return new FileChangedError(
    `${file.relPath} changed while it was being uploaded; it will be sent again`,
  )
}
