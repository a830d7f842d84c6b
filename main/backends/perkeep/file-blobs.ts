import { createHash } from 'node:crypto'
import { lstat, open, readlink, type FileHandle } from 'node:fs/promises'
import type { BigIntStats } from 'node:fs'
import { CancelledError, FileChangedError, LocalFileError } from '../errors.ts'
import { Chunker, type Chunk } from './chunker.ts'
import {
  ChunkTree,
  directoryBlob,
  nameField,
  staticSetBlobs,
  symlinkBlob,
  type SchemaBlob,
  type UploadBlob,
} from './schema.ts'
import { loadUnixNames, unixFields, NO_UNIX_NAMES, type UnixEntryKind } from './unix-fields.ts'

/** Options of buildFileBlobs. */
export interface BuildFileOptions {
  readonly signal?: AbortSignal
  /** Called for each chunk as soon as it is cut (e.g. to start uploading early). */
  readonly onChunk?: (chunk: Chunk) => void
  /**
   * Called after each read with the chunks cut in it, if any; reading waits for a returned
   * promise, so a slow consumer holds the read back. A rejection ends the read with its error.
   */
  readonly onChunks?: (chunks: readonly Chunk[]) => void | Promise<void>
  /** Write unix permission/owner/group/times into the file map (default true). */
  readonly unixAttributes?: boolean
  /** Members added to (or overriding) the file map, e.g. a fixed unixMtime. */
  readonly extraFields?: Readonly<Record<string, unknown>>
  /** Bytes per read (default 1 MiB). */
  readonly readSize?: number
  /**
   * List only the schema blobs in `blobs`, not the chunks (whoever took them from onChunks
   * has them): a big file's chunk list is then not held until the end.
   */
  readonly schemaOnly?: boolean
  /**
   * Read exactly this many bytes (the size the file was listed with): a file that grew since is
   * cut there, so its blobs describe one consistent prefix (the caller's after-upload check sees
   * that it moved); one that is shorter is a FileChangedError. Without it the whole file is read,
   * and a file that grows while it is read is refused.
   */
  readonly length?: number
}

/** A file read once: its Perkeep blobs plus what the caller records about it. */
export interface FileBlobs {
  readonly fileRef: string
  /**
   * Chunks (file ranges; left out with schemaOnly), then bytes schema blobs innermost first,
   * then the file schema.
   */
  readonly blobs: readonly UploadBlob[]
  readonly size: number
  readonly sha256hex: string
  /** The mtime seen when the file was opened, to re-check it after upload. */
  readonly mtimeNs: bigint
  readonly chunkCount: number
}

/** A directory's or symlink's schema blobs, in upload order, the entry's own blob last. */
export interface EntryBlobs {
  readonly ref: string
  readonly blobs: readonly SchemaBlob[]
  readonly mtimeNs: bigint
}

/** Options of buildDirectoryBlobs and buildSymlinkBlob. */
export interface BuildEntryOptions {
  readonly unixAttributes?: boolean
}

const DEFAULT_READ_SIZE = 1 << 20

/**
 * Streams a regular file once: cuts it into Perkeep chunks, computes its sha256, and builds the
 * bytes/file schema blobs. Only the chunk list and the schema JSON are kept in memory; chunk
 * bytes are re-read by offset when uploading. `name` is the file's path relative to the synced
 * folder (its last segment becomes fileName), as text or as raw bytes for non-UTF-8 names.
 */
export async function buildFileBlobs(
  absPath: string | Buffer,
  name: string | Uint8Array,
  options: BuildFileOptions = {},
): Promise<FileBlobs> {
  const { signal, onChunk, onChunks } = options
  throwIfAborted(signal)
  const handle = await openFile(absPath)
  try {
    const stat = await handle.stat({ bigint: true }).catch(localError('Cannot stat'))
    if (!stat.isFile()) throw new LocalFileError('Not a regular file')
    const { length } = options
    if (length !== undefined && stat.size < BigInt(length)) {
      throw new FileChangedError('The file shrank since it was listed')
    }
    // Bytes to read: the listed size, else up to EOF (checked against the size at open).
    const expected = length ?? Number(stat.size)
    const readSize = Math.max(1, options.readSize ?? DEFAULT_READ_SIZE)
    const size = Math.min(readSize, Math.max(expected + 1, 4096))
    let current: Buffer = Buffer.allocUnsafe(size)
    // The next read goes here while the current piece is hashed; made once a read fills a
    // buffer, so a small file (one short read, then EOF) needs only one.
    let spare: Buffer | undefined
    const chunker = new Chunker()
    const tree = new ChunkTree({ keepChunks: !options.schemaOnly })
    const sha256 = createHash('sha256')
    let chunkCount = 0
    const take = async (chunks: readonly Chunk[]): Promise<void> => {
      if (chunks.length === 0) return
      for (const chunk of chunks) {
        chunkCount++
        tree.add(chunk)
        onChunk?.(chunk)
      }
      await onChunks?.(chunks)
    }
    let position = 0
    const readInto = (buffer: Buffer): Promise<number> => {
      // With a listed size, nothing past it: a full buffer of the rest, then a read of 0.
      const want = length === undefined ? buffer.length : Math.min(buffer.length, length - position)
      if (want === 0) return Promise.resolve(0)
      const read = handle
        .read(buffer, 0, want, position)
        .then(({ bytesRead }) => bytesRead, localError('Cannot read'))
      // Awaited on the next turn of the loop, maybe after a long wait for the consumer: a
      // failure in between must not count as unhandled.
      read.catch(() => undefined)
      return read
    }
    let reading: Promise<number> | undefined = readInto(current)
    try {
      for (;;) {
        throwIfAborted(signal)
        const bytesRead = await reading
        reading = undefined
        if (bytesRead === 0) break
        const piece = current.subarray(0, bytesRead)
        position += bytesRead
        if (bytesRead === current.length) {
          spare ??= Buffer.allocUnsafe(size)
          ;[current, spare] = [spare, current]
          reading = readInto(current)
        }
        sha256.update(piece)
        await take(chunker.push(piece))
        reading ??= readInto(current)
      }
    } finally {
      // Never close the file under a read still in flight.
      await reading?.catch(() => undefined)
    }
    await take(chunker.finish())
    if (chunker.bytesRead !== expected) {
      throw new FileChangedError('The file changed while it was being read')
    }
    const fields = {
      ...nameField(lastSegment(name)),
      ...(await attributes(stat, 'file', options.unixAttributes)),
      ...options.extraFields,
    }
    const { fileRef, blobs } = tree.fileBlobs(fields)
    return {
      fileRef,
      blobs,
      size: chunker.bytesRead,
      sha256hex: sha256.digest('hex'),
      mtimeNs: stat.mtimeNs,
      chunkCount,
    }
  } finally {
    await handle.close().catch(() => undefined)
  }
}

/**
 * A directory's static-set (with mergeSets sub-sets when large) and `directory` blob.
 * `memberRefs` must already be in Perkeep's order (sortStaticSetEntries).
 */
export async function buildDirectoryBlobs(
  absPath: string | Buffer,
  name: string | Uint8Array,
  memberRefs: readonly string[],
  options: BuildEntryOptions = {},
): Promise<EntryBlobs> {
  const stat = await lstat(absPath, { bigint: true }).catch(localError('Cannot stat'))
  if (!stat.isDirectory()) throw new LocalFileError('Not a directory')
  const set = staticSetBlobs(memberRefs)
  const unix = await attributes(stat, 'directory', options.unixAttributes)
  const dir = directoryBlob(lastSegment(name), set.ref, unix)
  return { ref: dir.ref, blobs: [...set.blobs, dir], mtimeNs: stat.mtimeNs }
}

/** A `symlink` blob for the link itself (never followed). */
export async function buildSymlinkBlob(
  absPath: string | Buffer,
  name: string | Uint8Array,
  options: BuildEntryOptions = {},
): Promise<EntryBlobs> {
  const stat = await lstat(absPath, { bigint: true }).catch(localError('Cannot stat'))
  if (!stat.isSymbolicLink()) throw new LocalFileError('Not a symbolic link')
  const target = await readlink(absPath, { encoding: 'buffer' }).catch(
    localError('Cannot read link'),
  )
  const unix = await attributes(stat, 'symlink', options.unixAttributes)
  const blob = symlinkBlob(lastSegment(name), target, unix)
  return { ref: blob.ref, blobs: [blob], mtimeNs: stat.mtimeNs }
}

async function attributes(
  stat: BigIntStats,
  kind: UnixEntryKind,
  wanted = true,
): Promise<Record<string, string | number>> {
  if (!wanted) return {}
  const names = process.platform === 'win32' ? NO_UNIX_NAMES : await loadUnixNames()
  return unixFields(stat, kind, names)
}

async function openFile(absPath: string | Buffer): Promise<FileHandle> {
  return open(absPath, 'r').catch(localError('Cannot open'))
}

function localError(what: string): (error: unknown) => never {
  return (error) => {
    const message = error instanceof Error ? error.message : String(error)
    throw new LocalFileError(`${what} file: ${message}`, { cause: error })
  }
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new CancelledError('Cancelled', { cause: signal.reason })
}

// The last path segment: schema maps carry base names only.
function lastSegment(name: string | Uint8Array): string | Uint8Array {
  if (typeof name === 'string') {
    const separator = process.platform === 'win32' ? /[\\/]/ : /\//
    const segments = name.split(separator)
    return segments[segments.length - 1] ?? name
  }
  const slash = name.lastIndexOf(0x2f)
  return slash < 0 ? name : name.subarray(slash + 1)
}
