/**
 * Local CIDv0 of a file, exactly as `ipfs add` defaults make it (PROTOCOLS.md §1.4): UnixFS,
 * 256 KiB fixed chunks, dag-pb leaves, balanced DAG of at most 174 links per node, sha2-256, a
 * one-chunk file reduced to its leaf. Only the root CID is needed, so the blocks are never built:
 * a leaf's hash is the sha256 of a few bytes of framing around the chunk, fed straight from the
 * caller's pieces, and only the tiny parent nodes are encoded. Memory stays flat and nothing is
 * copied. The result is checked against the IPFS importer itself (test/backends/dstor/cid.test.ts)
 * and the reference server computes its CIDs with that importer.
 */
import { createHash, type Hash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { CID } from 'multiformats/cid'
import { create as createDigest } from 'multiformats/hashes/digest'
import { CancelledError, LocalFileError } from '../errors.ts'

/** UnixFS chunk size of `ipfs add` (bytes). */
export const CID_CHUNK_SIZE = 262_144

/** Most links per node in the balanced layout of `ipfs add`. */
export const CID_MAX_CHILDREN = 174

const SHA2_256 = 0x12

// Pieces smaller than this are copied while their leaf fills: the caller may reuse small buffers.
const COPY_BELOW = 64 * 1024

/** A finished node as its parent links to it. */
interface NodeLink {
  /** The sha2-256 multihash of the node's block (a CIDv0's bytes). */
  readonly multihash: Uint8Array
  /** Block bytes of the node and everything under it (the link's Tsize). */
  readonly cumulativeSize: number
  /** File bytes under the node (the parent's UnixFS blocksize entry). */
  readonly fileSize: number
}

/**
 * Incremental CIDv0 hasher fed by a read stream that other hashers share. Pieces of 64 KiB or
 * more are kept by reference until their 256 KiB chunk is complete, so never reuse their memory.
 * `update` hashes synchronously; it returns a promise so callers can treat every hasher alike.
 */
export class CidHasher {
  /** Pieces of the chunk being filled. */
  #pending: Uint8Array[] = []
  #pendingBytes = 0
  /** Leaves (then parents of 174 leaves) waiting for their parent. */
  #leaves: NodeLink[] = []
  readonly #parents: NodeLink[] = []
  #leafCount = 0
  #ended = false
  #failure: { readonly reason: unknown } | undefined
  #result: Promise<string> | undefined

  /** `highWaterMark` is accepted for callers of the earlier queueing hasher; nothing queues now. */
  constructor(_options: { readonly highWaterMark?: number } = {}) {}

  /** Adds the next piece of the file (any size). */
  async update(piece: Uint8Array): Promise<void> {
    if (this.#failure) throw this.#failure.reason
    if (this.#ended) throw new Error('CidHasher: update after digest')
    let rest = piece
    while (rest.byteLength > 0) {
      const take = Math.min(rest.byteLength, CID_CHUNK_SIZE - this.#pendingBytes)
      const part = rest.subarray(0, take)
      this.#pending.push(take < COPY_BELOW ? part.slice() : part)
      this.#pendingBytes += take
      rest = rest.subarray(take)
      if (this.#pendingBytes === CID_CHUNK_SIZE) this.#finishLeaf()
    }
  }

  /** Ends the input and returns the file's CIDv0 (`Qm…`). */
  digest(): Promise<string> {
    if (this.#failure) return Promise.reject(this.#failure.reason)
    this.#result ??= Promise.resolve().then(() => this.#root())
    this.#ended = true
    return this.#result
  }

  /** Stops hashing (read error, cancel); `digest()` then rejects with `reason`. */
  abort(reason: unknown = new CancelledError()): void {
    if (this.#result) return
    this.#ended = true
    this.#failure ??= { reason }
    this.#pending = []
    this.#leaves = []
  }

  #root(): string {
    // An empty file is one leaf with no data (the importer's chunker yields one empty chunk).
    if (this.#pendingBytes > 0 || this.#leafCount === 0) this.#finishLeaf()
    if (this.#leafCount === 1) return cidString(this.#leaves[0] as NodeLink)
    if (this.#leaves.length > 0) this.#parents.push(parentOf(this.#leaves))
    // The balanced layout: 174 at a time, level after level, until one node is left.
    let level: readonly NodeLink[] = this.#parents
    while (level.length > 1) {
      const next: NodeLink[] = []
      for (let i = 0; i < level.length; i += CID_MAX_CHILDREN) {
        next.push(parentOf(level.slice(i, i + CID_MAX_CHILDREN)))
      }
      level = next
    }
    return cidString(level[0] as NodeLink)
  }

  #finishLeaf(): void {
    const length = this.#pendingBytes
    // dag-pb PBNode { Data: UnixFS { Type: File, Data: chunk, filesize } }, no links.
    const unixfsHead = [0x08, 0x02, ...(length > 0 ? [0x12, ...varint(length)] : [])]
    const unixfsTail = [0x18, ...varint(length)]
    const unixfsLength = unixfsHead.length + length + unixfsTail.length
    const head = Buffer.from([0x0a, ...varint(unixfsLength), ...unixfsHead])
    const hash: Hash = createHash('sha256').update(head)
    for (const part of this.#pending) hash.update(part)
    hash.update(Buffer.from(unixfsTail))
    this.#pending = []
    this.#pendingBytes = 0
    this.#leafCount++
    this.#leaves.push({
      multihash: multihash(hash.digest()),
      cumulativeSize: head.length + length + unixfsTail.length,
      fileSize: length,
    })
    if (this.#leaves.length === CID_MAX_CHILDREN) {
      this.#parents.push(parentOf(this.#leaves))
      this.#leaves = []
    }
  }
}

/**
 * The parent node over `children`: dag-pb links first (Hash, empty Name, Tsize), then the UnixFS
 * data (Type: File, filesize, one blocksize per child), as the importer's balanced layout builds it.
 */
function parentOf(children: readonly NodeLink[]): NodeLink {
  const links: number[] = []
  const unixfsSizes: number[] = []
  let fileSize = 0
  let linked = 0
  for (const child of children) {
    const link = [
      0x0a,
      ...varint(child.multihash.length),
      ...child.multihash,
      0x12,
      0x00,
      0x18,
      ...varint(child.cumulativeSize),
    ]
    links.push(0x12, ...varint(link.length), ...link)
    unixfsSizes.push(0x20, ...varint(child.fileSize))
    fileSize += child.fileSize
    linked += child.cumulativeSize
  }
  const unixfs = [0x08, 0x02, 0x18, ...varint(fileSize), ...unixfsSizes]
  const block = Buffer.from([...links, 0x0a, ...varint(unixfs.length), ...unixfs])
  return {
    multihash: multihash(createHash('sha256').update(block).digest()),
    cumulativeSize: block.length + linked,
    fileSize,
  }
}

function multihash(sha256: Uint8Array): Uint8Array {
  return Uint8Array.from([SHA2_256, sha256.length, ...sha256])
}

function cidString(node: NodeLink): string {
  return CID.createV0(createDigest(SHA2_256, node.multihash.subarray(2))).toString()
}

/** Protobuf unsigned varint of a safe integer (arithmetic, not bit operations: sizes pass 2³²). */
function varint(value: number): number[] {
  const bytes: number[] = []
  let rest = value
  while (rest >= 0x80) {
    bytes.push((rest % 0x80) + 0x80)
    rest = Math.floor(rest / 0x80)
  }
  bytes.push(rest)
  return bytes
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
    throw typed
  }
  return hasher.digest()
}
