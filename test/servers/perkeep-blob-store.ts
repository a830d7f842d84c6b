/**
 * The reference Perkeep server's storage: one file per blob on disk, an in-memory index of
 * ref → size, and streamed receiving that hashes while it writes. Kept apart from the HTTP layer
 * so the schema readers and tests can use it directly. Deliberately shares no code with the
 * client's blobref helpers, so a bug there cannot hide itself here.
 */
import { createHash, randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { finished } from 'node:stream/promises'

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

/** What streaming one blob's bytes to a temp file found. */
export interface Received {
  readonly tmpPath: string
  /** Bytes seen, counting those past the limit. */
  readonly size: number
  readonly tooBig: boolean
  /** The blobref of what was written (meaningless when tooBig). */
  readonly actualRef: string
}

/** Blobs on disk under `<dir>/blobs/<ref>`, with temp files under `<dir>/tmp/`. */
export class BlobStore {
  readonly dir: string
  readonly #sizes = new Map<string, number>()
  readonly #blobsDir: string
  readonly #tmpDir: string

  constructor(dir: string) {
    this.dir = dir
    this.#blobsDir = join(dir, 'blobs')
    this.#tmpDir = join(dir, 'tmp')
  }

  /** Creates the folders and indexes blobs already on disk (a restarted server keeps them). */
  async open(): Promise<void> {
    await mkdir(this.#blobsDir, { recursive: true })
    await mkdir(this.#tmpDir, { recursive: true })
    for (const name of await readdir(this.#blobsDir)) {
      if (!refHash(name)) continue
      this.#sizes.set(name, (await stat(join(this.#blobsDir, name))).size)
    }
  }

  has(ref: string): boolean {
    return this.#sizes.has(ref)
  }

  size(ref: string): number | undefined {
    return this.#sizes.get(ref)
  }

  count(): number {
    return this.#sizes.size
  }

  /** Every stored blob in the order it arrived. */
  list(): { ref: string; size: number }[] {
    return [...this.#sizes].map(([ref, size]) => ({ ref, size }))
  }

  pathOf(ref: string): string {
    return join(this.#blobsDir, ref)
  }

  /** The whole blob (tests and schema readers only: blobs are at most 16 MiB). */
  async read(ref: string): Promise<Buffer> {
    if (!this.has(ref)) throw new Error(`blob ${ref} is not stored`)
    return readFile(this.pathOf(ref))
  }

  stream(ref: string): Readable {
    return createReadStream(this.pathOf(ref))
  }

  /**
   * Streams `source` into a temp file while hashing it with `hash`. Past `limit` bytes it stops
   * writing but keeps reading, so a multipart parser can move on to the next part.
   */
  async receive(
    source: AsyncIterable<Buffer> | Iterable<Buffer>,
    hash: HashName,
    limit = MAX_BLOB_SIZE,
  ): Promise<Received> {
    const tmpPath = join(this.#tmpDir, randomUUID())
    const hasher = createHash(hash)
    const out = createWriteStream(tmpPath)
    let size = 0
    let tooBig = false
    try {
      for await (const chunk of source) {
        size += chunk.length
        if (tooBig) continue
        if (size > limit) {
          tooBig = true
          continue
        }
        hasher.update(chunk)
        if (!out.write(chunk)) await once(out, 'drain')
      }
    } catch (error) {
      out.destroy()
      await rm(tmpPath, { force: true })
      throw error
    }
    out.end()
    await finished(out)
    return { tmpPath, size, tooBig, actualRef: `${hash}-${hasher.digest('hex')}` }
  }

  /** Moves a verified temp file into place under its ref. */
  async commit(received: Received, ref: string): Promise<void> {
    await rename(received.tmpPath, this.pathOf(ref))
    this.#sizes.set(ref, received.size)
  }

  async discard(received: Received): Promise<void> {
    await rm(received.tmpPath, { force: true })
  }

  /** Stores bytes the server makes itself (placeholder permanodes). */
  async put(bytes: Buffer): Promise<string> {
    const received = await this.receive([bytes], 'sha224')
    await this.commit(received, received.actualRef)
    return received.actualRef
  }
}
