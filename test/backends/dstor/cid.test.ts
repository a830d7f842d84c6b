import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createReadStream } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { importer } from 'ipfs-unixfs-importer'
import type { CID } from 'multiformats/cid'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  CID_CHUNK_SIZE,
  CID_MAX_CHILDREN,
  CidHasher,
  cidOfFile,
} from '../../../main/backends/dstor/cid.ts'
import { CancelledError, LocalFileError } from '../../../main/backends/errors.ts'

let dir: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-cid-'))
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** The importer run the plain way, keeping every block: an independent path to the root CID. */
async function plainImport(path: string): Promise<{ cid: string; blocks: number }> {
  const blocks = new Map<string, Uint8Array>()
  const store = {
    put: (cid: CID, block: Uint8Array) => {
      blocks.set(cid.toString(), block)
      return cid
    },
  }
  let root: string | undefined
  for await (const entry of importer([{ content: createReadStream(path) }], store, {
    profile: 'unixfs-v0-2015',
  })) {
    root = entry.cid.toString()
  }
  if (!root) throw new Error('importer produced nothing')
  expect(blocks.has(root)).toBe(true)
  return { cid: root, blocks: blocks.size }
}

async function fileOf(name: string, bytes: Uint8Array): Promise<string> {
  const path = join(dir, name)
  await writeFile(path, bytes)
  return path
}

/** Feeds `bytes` in pieces of the given sizes (cycled), awaiting each update. */
async function cidInPieces(bytes: Uint8Array, sizes: readonly number[]): Promise<string> {
  const hasher = new CidHasher()
  let offset = 0
  for (let i = 0; offset < bytes.length; i++) {
    const size = sizes[i % sizes.length] ?? 1
    await hasher.update(bytes.subarray(offset, offset + size))
    offset += size
  }
  return hasher.digest()
}

describe('CIDv0 vectors (PROTOCOLS.md §1.4)', () => {
  const vectors: ReadonlyArray<readonly [string, Uint8Array, string]> = [
    ['empty file', new Uint8Array(0), 'QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH'],
    ['hello world', Buffer.from('hello world'), 'Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD'],
    [
      'hello world\\n',
      Buffer.from('hello world\n'),
      'QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o',
    ],
    [
      '45 900 000 zeros',
      new Uint8Array(45_900_000),
      'QmRdPboiJQoZ5cdazR9a8vGqdJvWg6M5bfdtUSKNHpuscj',
    ],
  ]

  for (const [name, bytes, expected] of vectors) {
    it(`${name} via CidHasher`, async () => {
      expect(await cidInPieces(bytes, [65_536])).toBe(expected)
    })

    it(`${name} via cidOfFile`, async () => {
      const path = await fileOf(`vector-${bytes.length}.bin`, bytes)
      expect(await cidOfFile(path)).toBe(expected)
    })
  }

  it('a digest with no update at all is the empty file', async () => {
    expect(await new CidHasher().digest()).toBe('QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH')
  })
})

describe('chunk boundaries against the plain importer', () => {
  const sizes = [
    ['exactly one chunk', CID_CHUNK_SIZE],
    ['one chunk and a byte', CID_CHUNK_SIZE + 1],
    ['more than 174 chunks (a second level)', CID_MAX_CHILDREN * CID_CHUNK_SIZE + 12_345],
  ] as const

  for (const [name, size] of sizes) {
    it(name, async () => {
      const bytes = randomBytes(size)
      const path = await fileOf(`random-${size}.bin`, bytes)
      const plain = await plainImport(path)
      const local = await cidOfFile(path)
      expect(local).toMatch(/^Qm[1-9A-HJ-NP-Za-km-z]{44}$/)
      expect(local).toBe(plain.cid)
      // 1 block for a lone chunk; else leaves + their parents (+ a root above 174 leaves)
      const chunks = Math.ceil(size / CID_CHUNK_SIZE)
      const parents = chunks === 1 ? 0 : Math.ceil(chunks / CID_MAX_CHILDREN)
      expect(plain.blocks).toBe(chunks + parents + (parents > 1 ? 1 : 0))
    })
  }

  it('differs when a single byte differs', async () => {
    const bytes = randomBytes(CID_CHUNK_SIZE + 1)
    const before = await cidInPieces(bytes, [CID_CHUNK_SIZE + 1])
    bytes[CID_CHUNK_SIZE] = (bytes[CID_CHUNK_SIZE] ?? 0) ^ 1
    expect(await cidInPieces(bytes, [CID_CHUNK_SIZE + 1])).not.toBe(before)
  })
})

describe('piece-size independence', () => {
  it('gives the same CID for 1-byte, odd and 1 MiB pieces', async () => {
    const small = randomBytes(3 * CID_CHUNK_SIZE + 777)
    const expected = await cidInPieces(small, [small.length])
    expect(await cidInPieces(small, [1])).toBe(expected)
    expect(await cidInPieces(small, [7, 4099, 1, 262_143, 65_537])).toBe(expected)

    const large = randomBytes(9 * 1024 * 1024 + 3)
    const whole = await cidInPieces(large, [large.length])
    expect(await cidInPieces(large, [1024 * 1024])).toBe(whole)
    expect(await cidInPieces(large, [12_345, 999_983, 1, 262_145])).toBe(whole)
  })

  it('releases every writer held back at once (updates issued without waiting)', async () => {
    const bytes = randomBytes(20 * 1024 * 1024)
    // Twenty 1 MiB pieces against a 1 MiB mark: from the second on, each update waits for room.
    const hasher = new CidHasher({ highWaterMark: 1024 * 1024 })
    const writes: Promise<void>[] = []
    for (let offset = 0; offset < bytes.length; offset += 1024 * 1024) {
      writes.push(hasher.update(bytes.subarray(offset, offset + 1024 * 1024)))
    }
    await Promise.all(writes)
    expect(await hasher.digest()).toBe(await cidInPieces(bytes, [bytes.length]))
  })
})

describe('failures', () => {
  it('rejects update after digest', async () => {
    const hasher = new CidHasher()
    await hasher.digest()
    await expect(hasher.update(new Uint8Array(1))).rejects.toThrow(/after digest/)
  })

  it('abort makes digest reject with the reason', async () => {
    const hasher = new CidHasher()
    await hasher.update(new Uint8Array(10))
    const reason = new Error('disk gone')
    hasher.abort(reason)
    await expect(hasher.digest()).rejects.toBe(reason)
    await expect(hasher.update(new Uint8Array(1))).rejects.toBe(reason)
  })

  it('cidOfFile: a missing file is a local error', async () => {
    await expect(cidOfFile(join(dir, 'nope.bin'))).rejects.toBeInstanceOf(LocalFileError)
  })

  it('cidOfFile: an aborted signal cancels', async () => {
    const path = await fileOf('cancel.bin', new Uint8Array(4 * CID_CHUNK_SIZE))
    const controller = new AbortController()
    controller.abort()
    await expect(cidOfFile(path, controller.signal)).rejects.toBeInstanceOf(CancelledError)
  })
})
