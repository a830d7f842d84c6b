/**
 * Local CIDv0 of a file, exactly as `ipfs add` defaults make it (PROTOCOLS.md §1.4), computed by
 * the maintained IPFS importer over a blockstore that keeps nothing: only the root CID is needed,
 * and memory stays bounded whatever the file size.
 */
import { createReadStream } from 'node:fs'
import type * as Importer from 'ipfs-unixfs-importer'
import type * as ImporterChunker from 'ipfs-unixfs-importer/chunker'
import type * as ImporterLayout from 'ipfs-unixfs-importer/layout'
import type { ImporterOptions, WritableStorage } from 'ipfs-unixfs-importer'
import { CancelledError, LocalFileError } from '../errors.ts'

/** UnixFS chunk size of `ipfs add` (bytes). */
export const CID_CHUNK_SIZE = 262_144

/** Most links per node in the balanced layout of `ipfs add`. */
export const CID_MAX_CHILDREN = 174

const DEFAULT_HIGH_WATER_MARK = 4 * 1024 * 1024

// Pieces smaller than this are copied together first: a queue entry per tiny piece would cost
// far more than the copy.
const COALESCE_BELOW = 64 * 1024

// Blocks are hashed by the importer before `put`; dropping them here is what keeps memory flat.
const discard: WritableStorage = { put: (cid) => cid }

// Loaded on first use: the importer and its codecs cost ~17 MB of memory, for dStor only.
let importer: Promise<typeof Importer> | undefined
async function loadImporter(): Promise<{
  importFile: (typeof Importer)['importFile']
  options: ImporterOptions
}> {
  importer ??= import('ipfs-unixfs-importer')
  const [{ importFile }, { fixedSize }, { balanced }] = await Promise.all([
    importer,
    import('ipfs-unixfs-importer/chunker'),
    import('ipfs-unixfs-importer/layout'),
  ])
  return { importFile, options: importerOptions(fixedSize, balanced) }
}

function importerOptions(
  fixedSize: (typeof ImporterChunker)['fixedSize'],
  balanced: (typeof ImporterLayout)['balanced'],
): ImporterOptions {
  // Spelled out rather than taken from a profile, so a change of the library's defaults cannot
  // silently change our CIDs.
  return {
    cidVersion: 0,
    rawLeaves: false,
    leafType: 'file',
    reduceSingleLeafToSelf: true,
    chunker: fixedSize({ chunkSize: CID_CHUNK_SIZE }),
    layout: balanced({ maxChildrenPerNode: CID_MAX_CHILDREN }),
  }
}

/**
 * Incremental CIDv0 hasher fed by a read stream that other hashers share. Await each `update`:
 * it resolves once the importer has room, which is how a fast reader is held back. Pieces of
 * 64 KiB or more are kept by reference until hashed, so never reuse their memory.
 */
export class CidHasher {
  readonly #queue: Uint8Array[] = []
  readonly #highWaterMark: number
  readonly #result: Promise<string>
  #queuedBytes = 0
  #stage: Uint8Array | undefined
  #staged = 0
  #ended = false
  #settled = false
  #failure: { readonly reason: unknown } | undefined
  #wakeConsumer: (() => void) | undefined
  #roomWaiters: Array<() => void> = []

  constructor(options: { readonly highWaterMark?: number } = {}) {
    this.#highWaterMark = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK
    this.#result = loadImporter()
      .then(({ importFile, options }) => importFile({ content: this.#pieces() }, discard, options))
      .then((entry) => entry.cid.toString())
    this.#result.then(
      () => this.#settle(undefined),
      (reason: unknown) => this.#settle({ reason }),
    )
  }

  /** Adds the next piece of the file (any size). Resolves when there is room for more. */
  async update(piece: Uint8Array): Promise<void> {
    this.#throwIfFailed()
    if (this.#ended) throw new Error('CidHasher: update after digest')
    if (piece.byteLength === 0) return
    if (piece.byteLength < COALESCE_BELOW) {
      if (this.#staged + piece.byteLength > COALESCE_BELOW) this.#flushStage()
      this.#stage ??= new Uint8Array(COALESCE_BELOW)
      this.#stage.set(piece, this.#staged)
      this.#staged += piece.byteLength
      if (this.#staged < COALESCE_BELOW) return
      this.#flushStage()
    } else {
      this.#flushStage()
      this.#enqueue(piece)
    }
    while (this.#queuedBytes > this.#highWaterMark && !this.#settled) {
      await new Promise<void>((resolve) => this.#roomWaiters.push(resolve))
    }
    this.#throwIfFailed()
  }

  /** Ends the input and returns the file's CIDv0 (`Qm…`). */
  digest(): Promise<string> {
    if (!this.#ended && !this.#failure) this.#flushStage()
    this.#ended = true
    this.#wakeConsumer?.()
    return this.#result
  }

  /** Stops hashing (read error, cancel); `digest()` then rejects with `reason`. */
  abort(reason: unknown = new CancelledError()): void {
    if (this.#settled) return
    this.#ended = true
    this.#failure ??= { reason }
    this.#queue.length = 0
    this.#queuedBytes = 0
    this.#stage = undefined
    this.#staged = 0
    this.#wakeConsumer?.()
    this.#releaseRoom()
  }

  async *#pieces(): AsyncGenerator<Uint8Array> {
    for (;;) {
      this.#throwIfFailed()
      const piece = this.#queue.shift()
      if (piece) {
        this.#queuedBytes -= piece.byteLength
        if (this.#queuedBytes <= this.#highWaterMark) this.#releaseRoom()
        yield piece
        continue
      }
      if (this.#ended) return
      await new Promise<void>((resolve) => {
        this.#wakeConsumer = resolve
      })
      this.#wakeConsumer = undefined
    }
  }

  #throwIfFailed(): void {
    if (this.#failure) throw this.#failure.reason
  }

  #flushStage(): void {
    if (!this.#stage || this.#staged === 0) return
    this.#enqueue(this.#stage.subarray(0, this.#staged))
    this.#stage = undefined
    this.#staged = 0
  }

  #enqueue(piece: Uint8Array): void {
    this.#queue.push(piece)
    this.#queuedBytes += piece.byteLength
    this.#wakeConsumer?.()
  }

  #releaseRoom(): void {
    const waiters = this.#roomWaiters
    this.#roomWaiters = []
    for (const wake of waiters) wake()
  }

  #settle(failure: { readonly reason: unknown } | undefined): void {
    this.#settled = true
    this.#failure ??= failure
    this.#releaseRoom()
  }
}

/** CIDv0 of the file at `path`, read once as a stream. */
export async function cidOfFile(path: string, signal?: AbortSignal): Promise<string> {
  const hasher = new CidHasher()
  try {
    const stream = createReadStream(path, { highWaterMark: 1024 * 1024, signal })
    for await (const piece of stream as AsyncIterable<Buffer>) await hasher.update(piece)
  } catch (error) {
    const typed = signal?.aborted
      ? new CancelledError('Cancelled', { cause: error })
      : new LocalFileError(`Cannot read ${path}: ${(error as Error).message}`, { cause: error })
    hasher.abort(typed)
    // Wait for the importer to wind down so nothing is left running behind the caller.
    await hasher.digest().catch(() => undefined)
    throw typed
  }
  return hasher.digest()
}
