/**
 * The reference Perkeep server's storage: blobs appended to pack files on disk, an in-memory
 * index of ref → where it is, and receiving that hashes in the same pass as it reads. Kept apart
 * from the HTTP layer so the schema readers and tests can use it directly. Deliberately shares no
 * code with the client's blobref helpers, so a bug there cannot hide itself here.
 *
 * Why packs, not one file per blob: a GiB is ~14 000 blobs, and creating that many files (and
 * temp files renamed into place) cost the server more CPU than hashing the bytes; the benchmark
 * runs the server on the client's cores. A pack is a log of records `[<ref> <size>]<bytes>`, as
 * in Perkeep's own diskpacked storage. A blob is checked in memory (at most 16 MiB), then its
 * whole record is written with one synchronous call, and only then indexed: it is never visible
 * half-written, and a record cut short by a crash is ignored on restart.
 */
import { createHash, randomUUID } from 'node:crypto'
import { closeSync, createReadStream, ftruncateSync, openSync, writevSync } from 'node:fs'
import { mkdir, open, readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'

/** Largest blob the server accepts, inclusive (PROTOCOLS.md §3.2). */
export const MAX_BLOB_SIZE = 16 * 1024 * 1024

/** Largest schema blob the readers will parse (PROTOCOLS.md §3.2). */
export const MAX_SCHEMA_SIZE = 1024 * 1024

/** Hash functions a blobref may name. */
export type HashName = 'sha1' | 'sha224' | 'sha256'

const HEX_LENGTHS: Readonly<Record<HashName, number>> = { sha1: 40, sha224: 56, sha256: 64 }
const REF = /^(sha1|sha224|sha256)-([0-9a-f]+)$/

/** The hash function of a well-formed blobref, or undefined for anything else. */
export function refHash(ref: string): HashName | undefined {
  const match = REF.exec(ref)
  if (!match) return undefined
  const hash = match[1] as HashName
  return match[2]?.length === HEX_LENGTHS[hash] ? hash : undefined
}

/** A blobref for some bytes (sha224 unless told). */
export function blobRefOf(bytes: Uint8Array | string, hash: HashName = 'sha224'): string {
  return `${hash}-${createHash(hash).update(bytes).digest('hex')}`
}

/** What reading one blob's bytes found; nothing is on disk until `commit`. */
export interface Received {
  /** The bytes (empty when tooBig, or once committed or discarded). */
  readonly chunks: Buffer[]
  /** Bytes seen, counting those past the limit. */
  readonly size: number
  readonly tooBig: boolean
  /** The blobref of the bytes (meaningless when tooBig). */
  readonly actualRef: string
}

/** Where a stored blob's bytes are: `size` bytes at `offset` of `path`. */
interface Place {
  readonly path: string
  readonly offset: number
  readonly size: number
}

/** The pack this server instance appends to. */
interface Pack {
  readonly path: string
  readonly fd: number
  size: number
}

/** A record header is `[<ref> <size>]`: under 100 bytes for the longest ref. */
const HEADER_MAX = 128

/**
 * Blobs in `<dir>/packs/*.pack`; each server instance appends to a pack of its own, made at its
 * first blob. Blobs in `<dir>/blobs/<ref>` (one file each, the older layout) are still read.
 */
export class BlobStore {
  readonly dir: string
  readonly #places = new Map<string, Place>()
  readonly #packsDir: string
  readonly #legacyDir: string
  #pack: Pack | undefined

  constructor(dir: string) {
    this.dir = dir
    this.#packsDir = join(dir, 'packs')
    this.#legacyDir = join(dir, 'blobs')
  }

  /** Creates the folder and indexes blobs already on disk (a restarted server keeps them). */
  async open(): Promise<void> {
    await mkdir(this.#packsDir, { recursive: true })
    for (const name of (await readdir(this.#packsDir)).sort()) {
      if (name.endsWith('.pack')) await this.#indexPack(join(this.#packsDir, name))
    }
    const legacy = await readdir(this.#legacyDir).catch(() => [])
    for (const name of legacy) {
      if (!refHash(name) || this.#places.has(name)) continue
      const path = join(this.#legacyDir, name)
      this.#places.set(name, { path, offset: 0, size: (await stat(path)).size })
    }
  }

  /** Closes the pack being written (blobs stay readable). */
  close(): void {
    if (this.#pack === undefined) return
    closeSync(this.#pack.fd)
    this.#pack = undefined
  }

  has(ref: string): boolean {
    return this.#places.has(ref)
  }

  size(ref: string): number | undefined {
    return this.#places.get(ref)?.size
  }

  count(): number {
    return this.#places.size
  }

  /** Every stored blob in the order it arrived. */
  list(): { ref: string; size: number }[] {
    return [...this.#places].map(([ref, { size }]) => ({ ref, size }))
  }

  /** The whole blob (tests and schema readers only: blobs are at most 16 MiB). */
  async read(ref: string): Promise<Buffer> {
    const place = this.#places.get(ref)
    if (!place) throw new Error(`blob ${ref} is not stored`)
    const bytes = Buffer.allocUnsafe(place.size)
    const handle = await open(place.path, 'r')
    try {
      for (let got = 0; got < place.size;) {
        const { bytesRead } = await handle.read(bytes, got, place.size - got, place.offset + got)
        if (bytesRead === 0) throw new Error(`blob ${ref} is cut short on disk`)
        got += bytesRead
      }
    } finally {
      await handle.close()
    }
    return bytes
  }

  stream(ref: string): Readable {
    const place = this.#places.get(ref)
    if (!place) throw new Error(`blob ${ref} is not stored`)
    if (place.size === 0) return Readable.from([])
    const end = place.offset + place.size - 1
    return createReadStream(place.path, { start: place.offset, end })
  }

  /** Bytes the store's files take on disk, and how many of them its index accounts for. */
  async diskUsage(): Promise<{ onDisk: number; indexed: number }> {
    let onDisk = 0
    for (const name of await readdir(this.#packsDir)) {
      onDisk += (await stat(join(this.#packsDir, name))).size
    }
    let indexed = 0
    for (const [ref, place] of this.#places) {
      indexed +=
        place.size + (place.path.startsWith(this.#packsDir) ? header(ref, place.size).length : 0)
    }
    for (const name of await readdir(this.#legacyDir).catch(() => [])) {
      onDisk += (await stat(join(this.#legacyDir, name))).size
    }
    return { onDisk, indexed }
  }

  /**
   * Reads `source` while hashing it with `hash`, keeping the bytes (no copy) for `commit`. Past
   * `limit` bytes it drops them but keeps reading, so a multipart parser can move on to the next
   * part.
   */
  async receive(
    source: AsyncIterable<Buffer> | Iterable<Buffer>,
    hash: HashName,
    limit = MAX_BLOB_SIZE,
  ): Promise<Received> {
    const hasher = createHash(hash)
    const chunks: Buffer[] = []
    let size = 0
    let tooBig = false
    for await (const chunk of source) {
      size += chunk.length
      if (tooBig) continue
      if (size > limit) {
        tooBig = true
        chunks.length = 0
        continue
      }
      hasher.update(chunk)
      chunks.push(chunk)
    }
    return { chunks, size, tooBig, actualRef: `${hash}-${hasher.digest('hex')}` }
  }

  /**
   * Stores a verified blob under `ref`: its record is written whole, then indexed. A ref already
   * stored is not written again (same ref, same bytes).
   */
  commit(received: Received, ref: string): void {
    if (received.tooBig) throw new Error(`blob ${ref} is over the limit`)
    if (!this.#places.has(ref)) {
      const pack = this.#currentPack()
      const head = header(ref, received.size)
      try {
        writeAll(pack.fd, [head, ...received.chunks], pack.size)
      } catch (error) {
        // Leave no partial record behind for the next one to follow (or a restart to trip on).
        try {
          ftruncateSync(pack.fd, pack.size)
        } catch {
          // the write's error is the one to report
        }
        throw error
      }
      const place = { path: pack.path, offset: pack.size + head.length, size: received.size }
      pack.size += head.length + received.size
      this.#places.set(ref, place)
    }
    received.chunks.length = 0
  }

  /** Drops received bytes that will not be stored. */
  discard(received: Received): void {
    received.chunks.length = 0
  }

  /** Stores bytes the server makes itself (placeholder permanodes). */
  async put(bytes: Buffer): Promise<string> {
    const received = await this.receive([bytes], 'sha224')
    this.commit(received, received.actualRef)
    return received.actualRef
  }

  #currentPack(): Pack {
    if (this.#pack === undefined) {
      // Sorts by creation time, so a restart indexes blobs in the order they arrived.
      const name = `${Date.now().toString().padStart(15, '0')}-${randomUUID()}.pack`
      const path = join(this.#packsDir, name)
      this.#pack = { path, fd: openSync(path, 'wx'), size: 0 }
    }
    return this.#pack
  }

  /** Indexes a pack's complete records; a record cut short (a crash mid-write) ends it. */
  async #indexPack(path: string): Promise<void> {
    const handle = await open(path, 'r')
    try {
      const { size: fileSize } = await handle.stat()
      const head = Buffer.alloc(HEADER_MAX)
      let at = 0
      while (at < fileSize) {
        const { bytesRead } = await handle.read(head, 0, HEADER_MAX, at)
        const bytes = head.subarray(0, bytesRead)
        const record = parseHeader(bytes)
        if (record === undefined) {
          if (bytesRead < HEADER_MAX && bytes.indexOf(0x5d) < 0) return // header cut short
          throw new Error(`${path}: no record header at byte ${at}`)
        }
        const offset = at + record.headerLength
        if (offset + record.size > fileSize) return
        if (!this.#places.has(record.ref)) {
          this.#places.set(record.ref, { path, offset, size: record.size })
        }
        at = offset + record.size
      }
    } finally {
      await handle.close()
    }
  }
}

function header(ref: string, size: number): Buffer {
  return Buffer.from(`[${ref} ${size}]`, 'latin1')
}

function parseHeader(
  bytes: Buffer,
): { ref: string; size: number; headerLength: number } | undefined {
  const close = bytes.indexOf(0x5d) // ]
  if (bytes[0] !== 0x5b || close < 0) return undefined // [
  const match = /^\[(\S+) (\d{1,9})\]$/.exec(bytes.toString('latin1', 0, close + 1))
  const ref = match?.[1]
  const size = Number(match?.[2])
  if (ref === undefined || !refHash(ref) || !(size <= MAX_BLOB_SIZE)) return undefined
  return { ref, size, headerLength: close + 1 }
}

/**
 * Writes `buffers` at `position` with synchronous calls, on purpose: records are small (~64 KiB
 * typically) and a thread-pool round trip per write costs more CPU than the write itself.
 */
function writeAll(fd: number, buffers: readonly Buffer[], position: number): void {
  let left = buffers.reduce((sum, buffer) => sum + buffer.length, 0)
  let pending = buffers
  while (left > 0) {
    const written = writevSync(fd, pending, position)
    position += written
    left -= written
    // A regular file takes it all in practice; finish a short write rather than assume.
    if (left > 0) pending = after(pending, written)
  }
}

/** `buffers` without their first `skip` bytes. */
function after(buffers: readonly Buffer[], skip: number): Buffer[] {
  const out: Buffer[] = []
  for (const buffer of buffers) {
    if (skip >= buffer.length) skip -= buffer.length
    else {
      out.push(skip > 0 ? buffer.subarray(skip) : buffer)
      skip = 0
    }
  }
  return out
}
