import { randomBytes } from 'node:crypto'
import { readdirSync } from 'node:fs'
import { truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { multipartBody, type PartSource } from '../../../main/backends/http/multipart.ts'
import {
  blobsBody,
  PiecePool,
  type BlobPart,
  type BlobsBody,
} from '../../../main/backends/perkeep/blobs-body.ts'
import { tempDir } from '../../helpers/tree.ts'

async function collect(body: { open(): AsyncIterable<Uint8Array> }): Promise<Buffer> {
  const pieces: Buffer[] = []
  for await (const piece of body.open()) pieces.push(Buffer.from(piece))
  return Buffer.concat(pieces)
}

describe('blobsBody', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let a: string
  let b: string
  const aBytes = randomBytes(3 * 1024 * 1024 + 17)
  const bBytes = randomBytes(70_000)

  beforeEach(async () => {
    dir = await tempDir()
    a = join(dir.path, 'a.bin')
    b = join(dir.path, 'b.bin')
    await writeFile(a, aBytes)
    await writeFile(b, bBytes)
  })

  afterEach(async () => {
    await dir.dispose()
  })

  // Adjacent ranges (read together), a gap, a second file, bytes in memory, a part bigger than
  // a piece, and a range that ends exactly on a piece boundary.
  const parts = (): BlobPart[] => [
    { ref: 'sha224-aa01', source: { path: a, start: 0, length: 1000 } },
    { ref: 'sha224-aa02', source: { path: a, start: 1000, length: 69_000 } },
    { ref: 'sha224-aa03', source: { path: a, start: 300_000, length: 1_500_000 } },
    { ref: 'sha224-bb01', source: { path: b, start: 5, length: 60_000 } },
    { ref: 'sha224-cc01', source: { bytes: Buffer.from('{"camliVersion": 1,\n}') } },
    { ref: 'sha224-aa04', source: { path: a, start: 1_800_000, length: 1_345_728 } },
    { ref: 'sha224-aa05', source: { path: a, start: 3_145_728, length: 17 } },
  ]

  it('writes byte for byte what multipartBody writes, with a true length', async () => {
    const ours = blobsBody(parts())
    const theirs = multipartBody(
      parts().map((part) => ({
        name: part.ref,
        filename: part.ref,
        source: part.source as PartSource,
      })),
    )
    const mine = await collect(ours)
    const expected = await collect(theirs)
    expect(mine.length).toBe(ours.length)
    expect(ours.length).toBe(theirs.length)
    expect(ours.contentType).toBe(`multipart/form-data; boundary=${ours.boundary}`)
    const same = Buffer.from(
      mine.toString('latin1').replaceAll(ours.boundary, theirs.boundary),
      'latin1',
    )
    expect(same.equals(expected)).toBe(true)
  })

  it('gives the same bytes every time it is opened (a retry)', async () => {
    const body = blobsBody(parts())
    expect((await collect(body)).equals(await collect(body))).toBe(true)
  })

  it('reports each part up to its full size, never backwards, after the piece went', async () => {
    const seen = new Map<number, number>()
    const body = blobsBody(parts(), {
      onPartProgress: (i, sent) => {
        expect(sent).toBeGreaterThanOrEqual(seen.get(i) ?? 0)
        seen.set(i, sent)
      },
    })
    let handedOut = 0
    for await (const piece of body.open()) {
      handedOut += piece.length
      // Nothing is reported for bytes still in a piece not yet taken.
      const reported = [...seen.values()].reduce((sum, n) => sum + n, 0)
      expect(reported).toBeLessThan(handedOut)
    }
    const sizes = parts().map((p) =>
      'bytes' in p.source ? p.source.bytes.length : p.source.length,
    )
    expect([...seen.entries()].sort((x, y) => x[0] - y[0]).map(([, n]) => n)).toEqual(sizes)
  })

  it('fails as a local error when a file shrank since it was measured', async () => {
    await truncate(a, 2_000_000)
    const error: unknown = await collect(blobsBody(parts())).catch((e: unknown) => e)
    expect(error).toMatchObject({ kind: 'local', message: expect.stringContaining('shrank') })
  })

  it('refuses a part name that is not a plain blobref', () => {
    expect(() => blobsBody([{ ref: 'sha224-"x', source: { bytes: Buffer.from('x') } }])).toThrow()
  })

  it('keeps one file open at a time, however many files a request carries', async () => {
    const many: BlobPart[] = []
    for (let i = 0; i < 200; i++) {
      const path = join(dir.path, `small-${i}`)
      await writeFile(path, randomBytes(4096))
      many.push({ ref: `sha224-${i.toString(16)}`, source: { path, start: 0, length: 4096 } })
    }
    const openFds = (): number => readdirSync('/proc/self/fd').length
    const before = openFds()
    let most = 0
    const body = blobsBody(many)
    for await (const piece of body.open()) {
      expect(piece.length).toBeGreaterThan(0)
      most = Math.max(most, openFds())
    }
    expect(most - before).toBeLessThanOrEqual(2)
    expect(openFds()).toBe(before)
  })

  describe('with a piece pool', () => {
    it('reuses the pieces of a request once it is released and read to the end', async () => {
      const pool = new PiecePool(8)
      const buffersOf = async (body: BlobsBody): Promise<Set<ArrayBufferLike>> => {
        const seen = new Set<ArrayBufferLike>()
        for await (const piece of body.open()) seen.add(piece.buffer)
        return seen
      }
      const first = blobsBody(parts(), { pool })
      const firstPieces = await buffersOf(first)
      // Not released yet: a second request gets pieces of its own.
      const second = blobsBody(parts(), { pool })
      const secondPieces = await buffersOf(second)
      expect([...secondPieces].some((b) => firstPieces.has(b))).toBe(false)
      first.release()
      const third = blobsBody(parts(), { pool })
      const thirdPieces = new Set<ArrayBufferLike>()
      const chunks: Buffer[] = []
      for await (const piece of third.open()) {
        thirdPieces.add(piece.buffer)
        chunks.push(Buffer.from(piece))
      }
      expect([...thirdPieces].some((b) => firstPieces.has(b))).toBe(true)
      // Reused pieces carry exactly the right bytes again.
      const unify = (bytes: Buffer): string =>
        bytes.toString('latin1').replace(/----FerryBoundary[0-9a-f]+/g, 'B')
      expect(unify(Buffer.concat(chunks))).toBe(unify(await collect(blobsBody(parts()))))
    })

    it('holds the pieces back while a read of the released body is still running', async () => {
      const pool = new PiecePool(8)
      const body = blobsBody(parts(), { pool })
      const reading = body.open()[Symbol.asyncIterator]() as AsyncGenerator<Uint8Array>
      const first = await reading.next()
      expect(first.done).toBe(false)
      body.release()
      // The body is still being read: the pool must not hand its pieces to anyone else.
      const lent = first.value as Uint8Array
      const other = pool.take()
      expect(other.buffer).not.toBe(lent.buffer)
      await reading.return(undefined)
      const back = new Set([pool.take().buffer, pool.take().buffer])
      expect(back.has(lent.buffer as ArrayBuffer)).toBe(true)
    })

    it('keeps at most the number of idle pieces it was told, and lets them go on clear', () => {
      const pool = new PiecePool(2)
      const given = [pool.take(), pool.take(), pool.take()]
      pool.give(given)
      const taken = [pool.take(), pool.take(), pool.take()]
      expect(taken.filter((piece) => given.includes(piece))).toHaveLength(2)
      pool.give(taken)
      pool.clear()
      expect(taken).not.toContain(pool.take())
    })
  })
})
