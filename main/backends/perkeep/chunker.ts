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

// The rolling state after byte q depends only on the 64 bytes q-63…q (every byte's share of s2
// leaves with it): s1 = 64*31 + Σ w[k], s2 = 64*63*31 + Σ (64 - k)·w[k], oldest byte first.
const S1_BASE = WINDOW_SIZE * CHAR_OFFSET
const S2_BASE = WINDOW_SIZE * (WINDOW_SIZE - 1) * CHAR_OFFSET

/**
 * Streaming "bupsplit" chunker (Perkeep's rollsum): feed successive pieces of a file with
 * `push`, then call `finish` at EOF. It keeps no chunk bytes, only the rolling state and a
 * running sha224, so memory does not depend on chunk or file size. Chunk boundaries do not
 * depend on how the file is split into pieces.
 *
 * No cut is possible in the first 64 KiB of a chunk (nor before the 256 KiB one), and the
 * rolling state is a function of the last 64 bytes alone, so those bytes are only hashed: the
 * state is rebuilt from the window at the first byte where a cut can happen, and rolled from
 * there. On random data that leaves about one byte in seven to roll; the cuts are exactly those
 * of rolling every byte.
 */
export class Chunker {
  #s1 = 0
  #s2 = 0
  // Whether #s1/#s2 hold the state after the last byte fed (else it is rebuilt at #checkFrom).
  #rolling = false
  // The last 64 bytes fed, oldest first (zeros while the window fills).
  readonly #tail = new Uint8Array(WINDOW_SIZE)
  #bytesRead = 0
  #chunkStart = 0
  // File offset of the first byte after which the current chunk may end.
  #checkFrom = FIRST_CHUNK_SIZE - 1
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
    const base = this.#bytesRead
    this.#piece = piece
    this.#pieceOffset = base
    this.#hashFrom = 0
    this.#cuts = undefined
    const tail = this.#tail
    let s1 = this.#s1
    let s2 = this.#s2
    let rolling = this.#rolling
    let i = 0

    for (;;) {
      if (!rolling) {
        // Skip to the first byte a cut may follow and rebuild the state from its window, whose
        // older bytes may still be in the tail.
        const j = this.#checkFrom - base
        if (j >= length) break
        let sum = 0
        let weighted = 0
        for (let k = 0; k < WINDOW_SIZE; k++) {
          const at = j - (WINDOW_SIZE - 1) + k
          const w = (at >= 0 ? piece[at] : tail[WINDOW_SIZE + at]) as number
          sum += w
          weighted += (WINDOW_SIZE - k) * w
        }
        s1 = (S1_BASE + sum) | 0
        s2 = (S2_BASE + weighted) | 0
        i = j + 1
        rolling = true
        if (this.#maybeCut(j, s1, s2)) {
          rolling = false
          continue
        }
      }
      // Roll to the end of the piece or the next cut; only split points and the forced cut
      // (at 256 KiB, or at 1 MiB of chunk) leave the hot loops.
      const forced = this.#forcedIndex()
      const stop = forced < length ? forced : length
      let cut = false
      // The byte leaving the window entered 64 bytes ago: in the tail for the first 64 bytes
      // of the piece, in the piece itself after that.
      for (; i < WINDOW_SIZE && i < stop; i++) {
        const d = tail[i] as number
        s1 = (s1 + (piece[i] as number) - d) | 0
        s2 = (s2 + s1 - ((d + CHAR_OFFSET) << 6)) | 0
        if ((s2 & SPLIT_MASK) === SPLIT_MASK && this.#maybeCut(i, s1, s2)) {
          cut = true
          break
        }
      }
      if (!cut) {
        // Unrolled by four up to the forced cut.
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
          // Once one of the four cuts, the state of the rest no longer matters.
          if (
            ((a2 & SPLIT_MASK) === SPLIT_MASK && this.#maybeCut(i, a1, a2)) ||
            ((b2 & SPLIT_MASK) === SPLIT_MASK && this.#maybeCut(i + 1, b1, b2)) ||
            ((c2 & SPLIT_MASK) === SPLIT_MASK && this.#maybeCut(i + 2, c1, c2)) ||
            ((s2 & SPLIT_MASK) === SPLIT_MASK && this.#maybeCut(i + 3, s1, s2))
          ) {
            cut = true
            break
          }
        }
      }
      if (!cut) {
        // The few bytes left before the forced cut, and the forced cut itself.
        const end = stop < length ? stop + 1 : length
        for (; i < end; i++) {
          const d = (i < WINDOW_SIZE ? tail[i] : piece[i - WINDOW_SIZE]) as number
          s1 = (s1 + (piece[i] as number) - d) | 0
          s2 = (s2 + s1 - ((d + CHAR_OFFSET) << 6)) | 0
          if (((s2 & SPLIT_MASK) === SPLIT_MASK || i === forced) && this.#maybeCut(i, s1, s2)) {
            cut = true
            break
          }
        }
      }
      if (!cut) break
      rolling = false
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
    this.#rolling = rolling
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
  // Returns whether the chunk ended there.
  #maybeCut(i: number, s1: number, s2: number): boolean {
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
      return false
    }
    this.#hash.update(this.#piece.subarray(this.#hashFrom, i + 1))
    const ref = `sha224-${this.#hash.digest('hex')}`
    this.#hash = createHash('sha224')
    ;(this.#cuts ??= []).push({ offset: this.#chunkStart, size, bits, ref })
    this.#hashFrom = i + 1
    this.#chunkStart = n
    this.#checkFrom = n + TOO_SMALL_THRESHOLD
    return true
  }
}
