import { createHash, type Hash } from 'node:crypto'

/** One content chunk of a file, cut as Perkeep's `pk-put` cuts it. */
export interface Chunk {
  /** Where the chunk starts in the file. */
  readonly offset: number
  readonly size: number
  /** The cut's level in the chunk tree; 0 for the last chunk of a file. */
  readonly bits: number
  /** sha224 blobref of the chunk's bytes. */
  readonly ref: string
}

/** Largest chunk: a cut is forced at 1 MiB. */
export const MAX_CHUNK_SIZE = 1 << 20
/** The first chunk ends at 256 KiB unless a forced cut came first. */
export const FIRST_CHUNK_SIZE = 256 << 10
/** Rolling-checksum split points are ignored while the chunk is this small or smaller. */
export const TOO_SMALL_THRESHOLD = 64 << 10

const WINDOW_SIZE = 64
const CHAR_OFFSET = 31
// A split point: the low 13 bits of s2 all set.
const SPLIT_MASK = 0x1fff
const NO_CHUNKS: readonly Chunk[] = Object.freeze([])
const EMPTY = new Uint8Array(0)

/**
 * Streaming "bupsplit" chunker (Perkeep's rollsum): feed successive pieces of a file with
 * `push`, then call `finish` at EOF. It keeps no chunk bytes, only the rolling state and a
 * running sha224, so memory does not depend on chunk or file size. Chunk boundaries do not
 * depend on how the file is split into pieces.
 */
export class Chunker {
  #s1 = WINDOW_SIZE * CHAR_OFFSET
  #s2 = WINDOW_SIZE * (WINDOW_SIZE - 1) * CHAR_OFFSET
  // The last 64 bytes rolled in, oldest first (zeros while the window fills).
  readonly #tail = new Uint8Array(WINDOW_SIZE)
  #bytesRead = 0
  #chunkStart = 0
  #hash: Hash = createHash('sha224')
  #finished = false
  // Per push: the piece, the file offset of its first byte, where its unhashed bytes start,
  // and the chunks cut in it.
  #piece: Uint8Array = EMPTY
  #pieceOffset = 0
  #hashFrom = 0
  #cuts: Chunk[] | undefined

  /** Bytes fed so far. */
  get bytesRead(): number {
    return this.#bytesRead
  }

  /** Feeds the next piece of the file; returns the chunks completed within it, in order. */
  push(piece: Uint8Array): readonly Chunk[] {
    if (this.#finished) throw new Error('Chunker: push after finish')
    const length = piece.length
    if (length === 0) return NO_CHUNKS
    this.#piece = piece
    this.#pieceOffset = this.#bytesRead
    this.#hashFrom = 0
    this.#cuts = undefined
    const tail = this.#tail
    let s1 = this.#s1
    let s2 = this.#s2
    // Only split points and forced cuts (at 256 KiB, or at 1 MiB of chunk) leave the hot loops.
    let forced = this.#forcedIndex()

    // The byte leaving the window entered 64 bytes ago: in the tail for the first 64 bytes of
    // the piece, in the piece itself after that.
    const head = Math.min(WINDOW_SIZE, length)
    for (let i = 0; i < head; i++) {
      const d = tail[i] as number
      s1 = (s1 + (piece[i] as number) - d) | 0
      s2 = (s2 + s1 - ((d + CHAR_OFFSET) << 6)) | 0
      if ((s2 & SPLIT_MASK) === SPLIT_MASK || i === forced) {
        forced = this.#maybeCut(i, s1, s2, forced)
      }
    }
    let i = head
    while (i < length) {
      // Unrolled by four up to the next forced cut; cuts only move `forced` further away.
      const stop = forced < length ? forced : length
      for (; i + 4 <= stop; i += 4) {
        const d0 = piece[i - WINDOW_SIZE] as number
        const d1 = piece[i - WINDOW_SIZE + 1] as number
        const d2 = piece[i - WINDOW_SIZE + 2] as number
        const d3 = piece[i - WINDOW_SIZE + 3] as number
        const a1 = (s1 + (piece[i] as number) - d0) | 0
        const b1 = (a1 + (piece[i + 1] as number) - d1) | 0
        const c1 = (b1 + (piece[i + 2] as number) - d2) | 0
        s1 = (c1 + (piece[i + 3] as number) - d3) | 0
        const a2 = (s2 + a1 - ((d0 + CHAR_OFFSET) << 6)) | 0
        const b2 = (a2 + b1 - ((d1 + CHAR_OFFSET) << 6)) | 0
        const c2 = (b2 + c1 - ((d2 + CHAR_OFFSET) << 6)) | 0
        s2 = (c2 + s1 - ((d3 + CHAR_OFFSET) << 6)) | 0
        if ((a2 & SPLIT_MASK) === SPLIT_MASK) forced = this.#maybeCut(i, a1, a2, forced)
        if ((b2 & SPLIT_MASK) === SPLIT_MASK) forced = this.#maybeCut(i + 1, b1, b2, forced)
        if ((c2 & SPLIT_MASK) === SPLIT_MASK) forced = this.#maybeCut(i + 2, c1, c2, forced)
        if ((s2 & SPLIT_MASK) === SPLIT_MASK) forced = this.#maybeCut(i + 3, s1, s2, forced)
      }
      // The few bytes left before the forced cut, and the forced cut itself.
      const end = stop < length ? stop + 1 : length
      for (; i < end; i++) {
        const d = piece[i - WINDOW_SIZE] as number
        s1 = (s1 + (piece[i] as number) - d) | 0
        s2 = (s2 + s1 - ((d + CHAR_OFFSET) << 6)) | 0
        if ((s2 & SPLIT_MASK) === SPLIT_MASK || i === forced) {
          forced = this.#maybeCut(i, s1, s2, forced)
        }
      }
    }

    if (this.#hashFrom < length) this.#hash.update(piece.subarray(this.#hashFrom))
    if (length >= WINDOW_SIZE) {
      tail.set(piece.subarray(length - WINDOW_SIZE))
    } else {
      tail.copyWithin(0, length)
      tail.set(piece, WINDOW_SIZE - length)
    }
    this.#s1 = s1
    this.#s2 = s2
    this.#bytesRead += length
    this.#piece = EMPTY
    return this.#cuts ?? NO_CHUNKS
  }

  /** Ends the file: returns the last chunk (bits 0) if bytes are left over, else nothing. */
  finish(): readonly Chunk[] {
    if (this.#finished) throw new Error('Chunker: finish called twice')
    this.#finished = true
    const size = this.#bytesRead - this.#chunkStart
    if (size === 0) return NO_CHUNKS
    const ref = `sha224-${this.#hash.digest('hex')}`
    return [{ offset: this.#chunkStart, size, bits: 0, ref }]
  }

  // Index in the current piece of the next forced cut: the first chunk always ends at 256 KiB
  // (nothing can cut earlier), later ones at the latest at 1 MiB.
  #forcedIndex(): number {
    const at = this.#chunkStart === 0 ? FIRST_CHUNK_SIZE : this.#chunkStart + MAX_CHUNK_SIZE
    return at - 1 - this.#pieceOffset
  }

  // The cut rules, in Perkeep's order, after rolling in the byte at index `i` of the piece.
  // Returns the index of the next forced cut.
  #maybeCut(i: number, s1: number, s2: number, forced: number): number {
    const n = this.#pieceOffset + i + 1
    const size = n - this.#chunkStart
    let bits: number
    if (size === MAX_CHUNK_SIZE) {
      bits = 20
    } else if (
      (s2 & SPLIT_MASK) === SPLIT_MASK &&
      n > FIRST_CHUNK_SIZE &&
      size > TOO_SMALL_THRESHOLD
    ) {
      // 13 + the count of consecutive one bits of the digest from bit 14 upwards.
      const ones = ~(((s1 << 16) | (s2 & 0xffff)) >>> 14)
      bits = 13 + (31 - Math.clz32(ones & -ones))
    } else if (n === FIRST_CHUNK_SIZE) {
      bits = 18
    } else {
      return forced
    }
    this.#hash.update(this.#piece.subarray(this.#hashFrom, i + 1))
    const ref = `sha224-${this.#hash.digest('hex')}`
    this.#hash = createHash('sha224')
    ;(this.#cuts ??= []).push({ offset: this.#chunkStart, size, bits, ref })
    this.#hashFrom = i + 1
    this.#chunkStart = n
    return this.#forcedIndex()
  }
}
