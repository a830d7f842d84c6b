import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { Chunker, MAX_CHUNK_SIZE, type Chunk } from '../../../main/backends/perkeep/chunker.ts'

const VECTOR = readFileSync('/work/shared/vectors/perkeep/rand-seed123-5MiB.bin')

function chunkAll(bytes: Uint8Array, pieceSizes: (index: number) => number): Chunk[] {
  const chunker = new Chunker()
  const chunks: Chunk[] = []
  let offset = 0
  for (let index = 0; offset < bytes.length; index++) {
    const size = Math.max(1, pieceSizes(index))
    chunks.push(...chunker.push(bytes.subarray(offset, offset + size)))
    offset += size
  }
  chunks.push(...chunker.finish())
  return chunks
}

const whole = (bytes: Uint8Array): Chunk[] => chunkAll(bytes, () => bytes.length)

// Perkeep's rollsum and writeFileChunks, byte by byte, written from the contract (§3.5) and
// Perkeep's Go code without any of the production code's shortcuts.
function referenceChunks(bytes: Uint8Array): Chunk[] {
  const window = new Uint8Array(64)
  let wofs = 0
  let s1 = 64 * 31
  let s2 = 64 * 63 * 31
  let n = 0
  let last = 0
  const chunks: Chunk[] = []
  const cut = (bits: number): void => {
    const ref = `sha224-${createHash('sha224').update(bytes.subarray(last, n)).digest('hex')}`
    chunks.push({ offset: last, size: n - last, bits, ref })
    last = n
  }
  for (const c of bytes) {
    const d = window[wofs] as number
    window[wofs] = c
    wofs = (wofs + 1) & 63
    s1 = (s1 + c - d) >>> 0
    s2 = (s2 + s1 - 64 * (d + 31)) >>> 0
    n++
    const size = n - last
    const onSplit = (s2 & 0x1fff) === 0x1fff
    if (size === 1 << 20) {
      cut(20)
    } else if (onSplit && n > 256 << 10 && size > 64 << 10) {
      const digest = ((s1 << 16) | (s2 & 0xffff)) >>> 0
      let rsum = digest >>> 13
      let bits = 13
      while (((rsum >>> 1) & 1) !== 0) {
        rsum >>>= 1
        bits++
      }
      cut(bits)
    } else if (n === 256 << 10) {
      cut(18)
    }
  }
  if (n !== last) cut(0)
  return chunks
}

// Deterministic bytes: xorshift noise, optionally with a repeated 64-byte pattern that puts the
// rolling sum on a cycle (split points every few bytes) and 1.3 MB of zeros (a forced 1 MiB cut).
function pseudoRandom(length: number, seed: number, structured = false): Uint8Array {
  const out = new Uint8Array(length)
  let x = seed >>> 0 || 1
  const pattern = new Uint8Array(64).map((_, i) => (i * 37 + seed) & 0xff)
  for (let i = 0; i < length; i++) {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    if (structured && i >= 400_000 && i < 700_000) out[i] = pattern[i & 63] as number
    else if (structured && i >= 700_000 && i < 2_000_000) out[i] = 0
    else out[i] = x & 0xff
  }
  return out
}

describe('Chunker on the Perkeep vector file', () => {
  const chunks = whole(VECTOR)

  it('cuts the 5 MiB vector into the 70 chunks pk-put makes', () => {
    expect(chunks).toHaveLength(70)
    expect(chunks.slice(0, 5).map((c) => c.offset)).toEqual([0, 262144, 358150, 433428, 525437])
    expect(chunks.slice(-2).map((c) => c.offset)).toEqual([5152695, 5227716])
    expect(chunks[0]?.bits).toBe(18)
    expect(chunks.at(-1)?.bits).toBe(0)
  })

  it('covers the file exactly, with correct sha224 refs and sizes', () => {
    let offset = 0
    for (const chunk of chunks) {
      expect(chunk.offset).toBe(offset)
      expect(chunk.size).toBeGreaterThan(0)
      expect(chunk.size).toBeLessThanOrEqual(MAX_CHUNK_SIZE)
      const bytes = VECTOR.subarray(chunk.offset, chunk.offset + chunk.size)
      expect(chunk.ref).toBe(`sha224-${createHash('sha224').update(bytes).digest('hex')}`)
      offset += chunk.size
    }
    expect(offset).toBe(5_242_880)
  })

  it('agrees with a naive byte-by-byte reference implementation', () => {
    expect(chunks).toEqual(referenceChunks(VECTOR))
  })

  it.each([
    ['1 MiB', () => 1 << 20],
    ['odd sizes', (i: number) => [63, 64, 65, 1, 4097, 99_991, 262_143][i % 7] as number],
    ['64 bytes', () => 64],
    ['pseudo-random sizes', (i: number) => ((i * 7919 + 13) % 200_003) + 1],
  ])('gives identical chunks when fed in %s pieces', (_name, sizes) => {
    expect(chunkAll(VECTOR, sizes)).toEqual(chunks)
  })

  it('gives identical chunks when fed one byte at a time', () => {
    // A prefix past the 256 KiB cut and several split points keeps this quick.
    const prefix = VECTOR.subarray(0, 700_000)
    const expected = whole(prefix)
    expect(expected.length).toBeGreaterThan(4)
    expect(chunkAll(prefix, () => 1)).toEqual(expected)
  })
})

describe('Chunker rules', () => {
  it('forces cuts at 256 KiB and then every 1 MiB in a run of zeros', () => {
    const zeros = new Uint8Array(3.5 * MAX_CHUNK_SIZE)
    const chunks = chunkAll(zeros, () => 1 << 20)
    expect(chunks.map((c) => [c.offset, c.size, c.bits])).toEqual([
      [0, 262144, 18],
      [262144, 1 << 20, 20],
      [262144 + (1 << 20), 1 << 20, 20],
      [262144 + (2 << 20), 1 << 20, 20],
      [262144 + (3 << 20), 262144, 0],
    ])
    const mib = `sha224-${createHash('sha224')
      .update(new Uint8Array(1 << 20))
      .digest('hex')}`
    expect(chunks[1]?.ref).toBe(mib)
    expect(chunks[3]?.ref).toBe(mib)
  })

  it('makes no chunk for an empty file and one bits-0 chunk for a small one', () => {
    expect(new Chunker().finish()).toEqual([])
    const small = new Chunker()
    expect(small.push(new Uint8Array([1, 2, 3]))).toEqual([])
    expect(small.push(new Uint8Array(0))).toEqual([])
    expect(small.bytesRead).toBe(3)
    expect(small.finish()).toEqual([
      {
        offset: 0,
        size: 3,
        bits: 0,
        ref: `sha224-${createHash('sha224')
          .update(new Uint8Array([1, 2, 3]))
          .digest('hex')}`,
      },
    ])
  })

  it('ends a file of exactly 256 KiB with one bits-18 chunk and nothing at EOF', () => {
    const chunks = whole(VECTOR.subarray(0, 262144))
    expect(chunks.map((c) => [c.offset, c.size, c.bits])).toEqual([[0, 262144, 18]])
  })

  it.each([1, 2, 3])('matches the reference on structured data (seed %i)', (seed) => {
    const data = pseudoRandom(2_400_000, seed * 7777, true)
    const expected = referenceChunks(data)
    expect(expected.some((c) => c.bits === 20)).toBe(true)
    expect(chunkAll(data, (i) => [1 << 20, 77, 65_537, 5][i % 4] as number)).toEqual(expected)
  })

  it('matches the reference on noise around forced cuts', () => {
    const data = pseudoRandom(1_500_000, 99)
    expect(chunkAll(data, (i) => (i % 2 === 0 ? 262_143 : 3))).toEqual(referenceChunks(data))
  })

  it('refuses use after finish', () => {
    const chunker = new Chunker()
    chunker.finish()
    expect(() => chunker.push(new Uint8Array([1]))).toThrow()
    expect(() => chunker.finish()).toThrow()
  })
})

// Rewrites the oldest byte (weight 64 in s2) and the newest (weight 1) of the window that ends
// at byte q so that the rolling sum after q is a split point.
function plantSplit(data: Uint8Array, q: number): void {
  let s2 = 64 * 63 * 31
  for (let k = 0; k < 64; k++) s2 += (64 - k) * (data[q - 63 + k] as number)
  const rest = s2 - 64 * (data[q - 63] as number) - (data[q] as number)
  for (let oldest = 0; oldest < 256; oldest++) {
    const newest = (((0x1fff - rest - 64 * oldest) % 0x2000) + 0x2000) % 0x2000
    if (newest < 256) {
      data[q - 63] = oldest
      data[q] = newest
      return
    }
  }
  throw new Error('no split to plant')
}

// Feeds the bytes in pieces that end at the given offsets (then the rest at once).
function chunkWithBreaks(bytes: Uint8Array, breaks: readonly number[]): Chunk[] {
  const ends = [...breaks, bytes.length]
  let at = 0
  return chunkAll(bytes, (i) => {
    const size = (ends[i] ?? bytes.length) - at
    at += size
    return size
  })
}

describe('Chunker skipping the bytes where no cut can fall', () => {
  // The second chunk starts at 256 KiB; the first byte after which it may end is 64 KiB on.
  const second = 262_144
  const firstAllowed = second + 65_536

  it('cuts right at the first byte a split may follow, not at the byte before', () => {
    const data = pseudoRandom(1_300_000, 4242)
    plantSplit(data, firstAllowed)
    // The third chunk would be exactly 64 KiB here: too small, so no cut.
    plantSplit(data, firstAllowed + 65_536)
    const expected = referenceChunks(data)
    expect(expected[1]).toMatchObject({ offset: second, size: 65_537 })
    expect(expected[2]?.offset).toBe(firstAllowed + 1)
    expect(expected[2]?.size).not.toBe(65_536)
    for (const breaks of [
      [],
      // The window of the first possible cut straddles pieces, in the tail and in the piece.
      [firstAllowed - 30],
      [firstAllowed - 63, firstAllowed - 1, firstAllowed, firstAllowed + 1],
      [second, firstAllowed - 64, firstAllowed + 65_500, firstAllowed + 65_537],
      Array.from({ length: 200 }, (_, i) => firstAllowed - 100 + i),
    ]) {
      expect(chunkWithBreaks(data, breaks)).toEqual(expected)
    }
  })

  it('agrees with the reference on noise fed in random pieces', () => {
    for (const seed of [11, 22, 33, 44, 55]) {
      const data = pseudoRandom(2_000_000, seed)
      let x = seed
      const sizes = (): number => {
        x = (x * 1_103_515_245 + 12_345) >>> 0
        // Mostly small pieces, now and then one bigger than a chunk.
        return x % 7 === 0 ? (x % 1_500_000) + 1 : (x % 70_000) + 1
      }
      expect(chunkAll(data, sizes)).toEqual(referenceChunks(data))
    }
  })
})
