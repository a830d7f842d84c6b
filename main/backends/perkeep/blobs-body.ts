import { randomBytes } from 'node:crypto'
import { open, type FileHandle } from 'node:fs/promises'
import { LocalFileError } from '../errors.ts'
import type { BodySource } from '../http/client.ts'

/** A byte range of a file on disk. */
export interface FileRange {
  readonly path: string
  readonly start: number
  readonly length: number
}

/** Where a blob's bytes come from: a byte range of a file on disk, or bytes in memory. */
export type BlobSource = FileRange | { readonly bytes: Uint8Array }

/** One blob of an upload request: its ref names the part, its bytes come from `source`. */
export interface BlobPart {
  readonly ref: string
  readonly source: BlobSource
}

// Bytes per piece handed to the socket. Pooled pieces are reused, so they may be big (fewer of
// them to go through the stream); fresh ones end up as garbage, and are kept to sizes malloc
// recycles well instead of piling up megabyte blocks between two collections.
const PIECE_SIZE = 1 << 20
const FRESH_PIECE_SIZE = 256 << 10
// Most buffers one readv fills (Linux's IOV_MAX is 1024).
const MAX_VIEWS = 512
const CRLF = Buffer.from('\r\n')
const SAFE_REF = /^[A-Za-z0-9-]+$/

/**
 * The multipart body of a Perkeep upload (PROTOCOLS.md §3.4), byte for byte what multipartBody
 * writes for parts named and filed under their refs, but built for many small file ranges: the
 * body goes out in pieces of up to 1 MiB, headers copied in and file bytes read straight into
 * their place, one readv per run of adjacent ranges, with one file open at a time. A stream per part
 * costs more than its bytes at Perkeep's ~70 KB chunks, and the piece is the only buffer held.
 * A file that shrank is a LocalFileError, as with multipartBody.
 */
export function blobsBody(
  parts: readonly BlobPart[],
  options: {
    /** After a piece goes out: how many of a part's bytes have gone out so far. */
    readonly onPartProgress?: (partIndex: number, sent: number) => void
    /** Where pieces come from and go back to once `release` is called. */
    readonly pool?: PiecePool
  } = {},
): BlobsBody {
  const boundary = `----FerryBoundary${randomBytes(12).toString('hex')}`
  const heads = parts.map((part) => {
    if (!SAFE_REF.test(part.ref)) throw new Error(`Not a blobref: ${part.ref}`)
    return Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="${part.ref}"; ` +
        `filename="${part.ref}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
    )
  })
  const tail = Buffer.from(`--${boundary}--\r\n`)
  let length = tail.length
  parts.forEach((part, i) => {
    length += (heads[i] as Buffer).length + sourceLength(part.source) + CRLF.length
  })

  const { pool } = options
  // Pooled pieces handed out, the bodies being read, and whether the request is over.
  const lent: Buffer[] = []
  let reading = 0
  let released = false
  const giveBack = (): void => {
    // Not while a read may still be filling one of them.
    if (!released || reading > 0) return
    pool?.give(lent)
    lent.length = 0
  }
  // No bigger than what is left: small requests get small pieces.
  const newPiece = (left: number): Buffer => {
    if (!pool || released) return Buffer.allocUnsafe(Math.min(FRESH_PIECE_SIZE, left))
    const full = pool.take()
    lent.push(full)
    return full.subarray(0, Math.min(PIECE_SIZE, left))
  }

  return {
    boundary,
    length,
    contentType: `multipart/form-data; boundary=${boundary}`,
    release() {
      released = true
      giveBack()
    },
    async *open() {
      const reader = new RangeReader()
      let left = length
      let piece: Buffer = Buffer.alloc(0)
      let used = 0
      // Progress reached by the bytes in the current piece, reported once it has gone out.
      let marks: [number, number][] = []
      const room = (): number => piece.length - used
      // Reads the file bytes placed in the piece, then hands it over and starts the next.
      const finish = async (): Promise<Buffer> => {
        await reader.fill()
        const out = piece.subarray(0, used)
        left -= used
        piece = newPiece(left)
        used = 0
        return out
      }
      const report = (): void => {
        for (const [i, sent] of marks) options.onPartProgress?.(i, sent)
        marks = []
      }
      // Bytes in memory are copied in; `part` counts them towards that part's progress.
      async function* copy(data: Uint8Array, part?: number): AsyncGenerator<Buffer> {
        for (let at = 0; at < data.length;) {
          const n = Math.min(data.length - at, room())
          piece.set(data.subarray(at, at + n), used)
          used += n
          at += n
          if (part !== undefined) marks.push([part, at])
          if (room() === 0) {
            yield await finish()
            report()
          }
        }
      }
      // File bytes only get their place now: reader.fill reads them in before the piece goes.
      async function* place(range: FileRange, part: number): AsyncGenerator<Buffer> {
        for (let at = range.start, end = at + range.length; at < end;) {
          const n = Math.min(end - at, room())
          reader.place(range.path, at, piece.subarray(used, used + n))
          used += n
          at += n
          marks.push([part, at - range.start])
          if (room() === 0) {
            yield await finish()
            report()
          }
        }
      }
      reading++
      try {
        piece = newPiece(left)
        for (const [i, part] of parts.entries()) {
          yield* copy(heads[i] as Buffer)
          yield* 'bytes' in part.source ? copy(part.source.bytes, i) : place(part.source, i)
          yield* copy(CRLF)
        }
        yield* copy(tail)
        if (used > 0) {
          yield await finish()
          report()
        }
      } finally {
        await reader.close()
        reading--
        giveBack()
      }
    },
  }
}

/** An upload body whose pieces can go back to their pool once the request is over. */
export interface BlobsBody extends BodySource {
  readonly boundary: string
  /**
   * The request is over (answered, or failed and its connection gone): the server has read
   * every byte it will act on, so the pieces may be filled again, as soon as no read of this
   * body is still filling one. A body whose reading never ends just leaves them to the GC.
   */
  release(): void
}

/**
 * Full-size pieces for upload bodies, reused from one request to the next: sending then makes
 * no garbage, where a fresh megabyte per megabyte sent keeps the GC busy and the heap large.
 * Holds at most `keep` idle pieces.
 */
export class PiecePool {
  readonly #idle: Buffer[] = []
  readonly #keep: number

  constructor(keep = 16) {
    this.#keep = keep
  }

  take(): Buffer {
    return this.#idle.pop() ?? Buffer.allocUnsafe(PIECE_SIZE)
  }

  give(pieces: readonly Buffer[]): void {
    for (const piece of pieces) if (this.#idle.length < this.#keep) this.#idle.push(piece)
  }

  /** Lets the idle pieces go (e.g. when a batch of uploads is over). */
  clear(): void {
    this.#idle.length = 0
  }
}

/** File ranges to read into their places in a piece, read together when the piece is done. */
class RangeReader {
  #file: { readonly path: string; readonly handle: FileHandle } | undefined
  #places: { readonly path: string; readonly position: number; readonly view: Buffer }[] = []

  place(path: string, position: number, view: Buffer): void {
    this.#places.push({ path, position, view })
  }

  /** Reads every placed range: one readv per run of adjacent ranges of one file. */
  async fill(): Promise<void> {
    const places = this.#places
    this.#places = []
    for (let i = 0; i < places.length;) {
      const first = places[i] as (typeof places)[number]
      let end = first.position + first.view.length
      let j = i + 1
      for (; j < places.length && j - i < MAX_VIEWS; j++) {
        const next = places[j] as (typeof places)[number]
        if (next.path !== first.path || next.position !== end) break
        end += next.view.length
      }
      const handle = await this.#open(first.path)
      const views = places.slice(i, j).map((place) => place.view)
      const { bytesRead } = await handle.readv(views, first.position).catch(localError(first.path))
      if (bytesRead < end - first.position) {
        await readRest(handle, views, bytesRead, first.position, first.path)
      }
      i = j
    }
  }

  async close(): Promise<void> {
    const file = this.#file
    this.#file = undefined
    await file?.handle.close().catch(() => undefined)
  }

  // One file open at a time: a request may carry a thousand small files.
  async #open(path: string): Promise<FileHandle> {
    if (this.#file?.path === path) return this.#file.handle
    await this.close()
    const handle = await open(path, 'r').catch(localError(path))
    this.#file = { path, handle }
    return handle
  }
}

// After a short readv: the rest, read by read; a read that finds nothing means the file shrank
// (the body's length was announced, so it cannot be sent as measured).
async function readRest(
  handle: FileHandle,
  views: readonly Buffer[],
  done: number,
  position: number,
  path: string,
): Promise<void> {
  let at = position
  for (const view of views) {
    const skip = Math.min(done, view.length)
    done -= skip
    for (let got = skip; got < view.length;) {
      const { bytesRead } = await handle
        .read(view, got, view.length - got, at + got)
        .catch(localError(path))
      if (bytesRead === 0) {
        throw new LocalFileError(`${path} changed while it was being sent (it shrank)`)
      }
      got += bytesRead
    }
    at += view.length
  }
}

function sourceLength(source: BlobSource): number {
  return 'bytes' in source ? source.bytes.byteLength : source.length
}

function localError(path: string): (error: unknown) => never {
  return (error) => {
    throw new LocalFileError(`Cannot read ${path}: ${(error as Error).message}`, { cause: error })
  }
}
