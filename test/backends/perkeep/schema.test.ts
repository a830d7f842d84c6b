import { createHash } from 'node:crypto'
import { readFileSync, appendFileSync } from 'node:fs'
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  rm,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises'
import type { BigIntStats } from 'node:fs'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FerryError, FileChangedError } from '../../../main/backends/errors.ts'
import { sha224Ref } from '../../../main/backends/perkeep/blobref.ts'
import {
  buildDirectoryBlobs,
  buildFileBlobs,
  buildSymlinkBlob,
  type FileBlobs,
} from '../../../main/backends/perkeep/file-blobs.ts'
import {
  directoryBlob,
  fileBlobsFromChunks,
  schemaBlob,
  sortStaticSetEntries,
  staticSetBlobs,
  symlinkBlob,
  type SchemaBlob,
  type UploadBlob,
} from '../../../main/backends/perkeep/schema.ts'
import {
  loadUnixNames,
  rfc3339FromNs,
  unixFields,
} from '../../../main/backends/perkeep/unix-fields.ts'

const VECTOR_PATH = '/work/shared/vectors/perkeep/rand-seed123-5MiB.bin'
const VECTOR = readFileSync(VECTOR_PATH)
const REF = /sha224-[0-9a-f]{56}/g

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-perkeep-schema-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

const sha224 = (bytes: Uint8Array): string =>
  `sha224-${createHash('sha224').update(bytes).digest('hex')}`

function schemaOf(blob: UploadBlob | undefined): SchemaBlob {
  if (blob?.kind !== 'schema') throw new Error('expected a schema blob')
  return blob
}

function jsonOf(blob: UploadBlob | undefined): Record<string, unknown> {
  return JSON.parse(schemaOf(blob).bytes.toString('utf8')) as Record<string, unknown>
}

// Every ref of the list that a schema blob names must have been listed before it.
function expectUploadOrder(blobs: readonly UploadBlob[]): void {
  const listed = new Set(blobs.map((b) => b.ref))
  const seen = new Set<string>()
  for (const blob of blobs) {
    if (blob.kind === 'schema') {
      expect(blob.ref).toBe(sha224(blob.bytes))
      expect(blob.size).toBe(blob.bytes.length)
      for (const named of blob.bytes.toString('utf8').match(REF) ?? []) {
        if (listed.has(named)) expect(seen.has(named)).toBe(true)
      }
    }
    seen.add(blob.ref)
  }
}

async function writeTemp(name: string, bytes: Uint8Array | string): Promise<string> {
  const path = join(dir, name)
  await writeFile(path, bytes)
  return path
}

describe('file blobs of the Perkeep vector file', () => {
  let result: FileBlobs
  beforeAll(async () => {
    result = await buildFileBlobs(VECTOR_PATH, 'test-file', { unixAttributes: false })
  })

  it('has the root ref pk-put gives', () => {
    expect(result.fileRef).toBe('sha224-4c6e23fe27b76bb61f433b5870b75828a4ab14d728333e1e201595e6')
  })

  it('lists 84 distinct blobs: 70 chunks, 13 bytes blobs, 1 file blob', () => {
    const { blobs } = result
    expect(blobs).toHaveLength(84)
    expect(new Set(blobs.map((b) => b.ref)).size).toBe(84)
    expect(blobs.slice(0, 70).every((b) => b.kind === 'range')).toBe(true)
    const schemas = blobs.slice(70).map((b) => jsonOf(b))
    expect(schemas.slice(0, 13).every((m) => m['camliType'] === 'bytes')).toBe(true)
    expect(schemas[13]?.['camliType']).toBe('file')
    expect(blobs.at(-1)?.ref).toBe(result.fileRef)
    expect(result.chunkCount).toBe(70)
  })

  it('totals 5 253 501 bytes, the largest blob 262 144', () => {
    expect(result.blobs.reduce((sum, b) => sum + b.size, 0)).toBe(5_253_501)
    expect(Math.max(...result.blobs.map((b) => b.size))).toBe(262_144)
  })

  it('points chunk ranges at the right file bytes', () => {
    const ranges = result.blobs.filter((b) => b.kind === 'range')
    expect(ranges.slice(0, 5).map((r) => r.offset)).toEqual([0, 262144, 358150, 433428, 525437])
    expect(ranges.slice(-2).map((r) => r.offset)).toEqual([5152695, 5227716])
    for (const range of ranges) {
      expect(sha224(VECTOR.subarray(range.offset, range.offset + range.size))).toBe(range.ref)
    }
  })

  it('lists every blob before the schema blobs that name it, with consistent sizes', () => {
    expectUploadOrder(result.blobs)
    const sizes = new Map<string, number>()
    for (const blob of result.blobs) {
      if (blob.kind === 'range') {
        sizes.set(blob.ref, blob.size)
        continue
      }
      const parts = jsonOf(blob)['parts'] as { blobRef?: string; bytesRef?: string; size: number }[]
      for (const part of parts)
        expect(sizes.get(part.blobRef ?? part.bytesRef ?? '')).toBe(part.size)
      sizes.set(
        blob.ref,
        parts.reduce((sum, p) => sum + p.size, 0),
      )
    }
    expect(sizes.get(result.fileRef)).toBe(5_242_880)
  })

  it('returns the size and sha256 from the same pass', () => {
    expect(result.size).toBe(5_242_880)
    expect(result.sha256hex).toBe(createHash('sha256').update(VECTOR).digest('hex'))
  })

  it('gives the same blobs with small reads and reports chunks as they are cut', async () => {
    const seen: number[] = []
    const again = await buildFileBlobs(VECTOR_PATH, 'dir/test-file', {
      unixAttributes: false,
      readSize: 65_537,
      onChunk: (chunk) => seen.push(chunk.offset),
    })
    expect(again.blobs).toEqual(result.blobs)
    expect(seen).toEqual(result.blobs.filter((b) => b.kind === 'range').map((b) => b.offset))
  })
})

describe('file blobs handed over while reading', () => {
  it('holds the read back while the chunk consumer is busy', async () => {
    let calls = 0
    let open: () => void = () => undefined
    const gate = new Promise<void>((resolve) => (open = resolve))
    const pending = buildFileBlobs(VECTOR_PATH, 'test-file', {
      unixAttributes: false,
      readSize: 64 << 10,
      onChunks: async () => {
        calls++
        await gate
      },
    })
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(calls).toBe(1)
    open()
    const result = await pending
    expect(calls).toBeGreaterThan(10)
    expect(result.fileRef).toBe('sha224-4c6e23fe27b76bb61f433b5870b75828a4ab14d728333e1e201595e6')
  })

  it('leaves the chunks out with schemaOnly, every schema blob in the same order', async () => {
    const full = await buildFileBlobs(VECTOR_PATH, 'test-file', { unixAttributes: false })
    const chunks: string[] = []
    const lean = await buildFileBlobs(VECTOR_PATH, 'test-file', {
      unixAttributes: false,
      schemaOnly: true,
      onChunks: (cut) => void chunks.push(...cut.map((c) => c.ref)),
    })
    expect(lean.fileRef).toBe(full.fileRef)
    expect(lean.blobs).toEqual(full.blobs.filter((b) => b.kind === 'schema'))
    expect(new Set(chunks)).toEqual(
      new Set(full.blobs.filter((b) => b.kind === 'range').map((b) => b.ref)),
    )
  })

  it('fails with the consumer’s error and closes the file', async () => {
    const reason = new Error('no more')
    await expect(
      buildFileBlobs(VECTOR_PATH, 'x', {
        onChunks: () => {
          throw reason
        },
      }),
    ).rejects.toBe(reason)
  })
})

describe('file schema maps', () => {
  it('matches the 3 000 000-byte sample with a fixed unixMtime', async () => {
    const path = await writeTemp('sample3MB.bin', VECTOR.subarray(0, 3_000_000))
    const result = await buildFileBlobs(path, 'sample3MB.bin', {
      unixAttributes: false,
      extraFields: { unixMtime: '2024-05-06T07:08:09Z' },
    })
    expect(result.fileRef).toBe('sha224-b0ef62173c70e07a10740b94bb7b6f66d68322d8d53298ffd555c26a')
    expectUploadOrder(result.blobs)
  })

  it('writes a two-chunk file exactly as in the contract example', async () => {
    const bytes = VECTOR.subarray(0, 263_144)
    const path = await writeTemp('a.bin', bytes)
    const result = await buildFileBlobs(path, 'a.bin', { unixAttributes: false })
    const first = sha224(bytes.subarray(0, 262_144))
    const second = sha224(bytes.subarray(262_144))
    const file = schemaOf(result.blobs.at(-1))
    expect(file.bytes.toString('utf8')).toBe(`{"camliVersion": 1,
  "camliType": "file",
  "fileName": "a.bin",
  "parts": [
    {
      "blobRef": "${first}",
      "size": 262144
    },
    {
      "blobRef": "${second}",
      "size": 1000
    }
  ]
}`)
    expect(result.blobs.map((b) => b.ref)).toEqual([first, second, file.ref])
  })

  it('gives an empty file "parts": [] and no chunks', async () => {
    const path = await writeTemp('empty', new Uint8Array(0))
    const result = await buildFileBlobs(path, 'empty', { unixAttributes: false })
    const expected =
      '{"camliVersion": 1,\n  "camliType": "file",\n  "fileName": "empty",\n  "parts": []\n}'
    expect(result.blobs).toHaveLength(1)
    expect(schemaOf(result.blobs[0]).bytes.toString('utf8')).toBe(expected)
    expect(result.fileRef).toBe(sha224Ref(expected))
    expect(result.size).toBe(0)
    expect(result.chunkCount).toBe(0)
  })

  it('uploads a repeated chunk once but lists it in every part', async () => {
    const path = await writeTemp('zeros', new Uint8Array(2.5 * (1 << 20)))
    const result = await buildFileBlobs(path, 'zeros', { unixAttributes: false })
    const mib = sha224(new Uint8Array(1 << 20))
    expect(result.chunkCount).toBe(4)
    expect(result.blobs.filter((b) => b.ref === mib)).toHaveLength(1)
    const json = schemaOf(result.blobs.at(-1)).bytes.toString('utf8')
    expect(json.split(mib).length - 1).toBe(2)
    expectUploadOrder(result.blobs)
  })

  it('writes a non-UTF-8 file name as fileNameBytes', async () => {
    const path = await writeTemp('latin1', Buffer.from('x'))
    const name = Buffer.concat([Buffer.from('sub/dir/'), Buffer.from([0x61, 0xff, 0x62])])
    const result = await buildFileBlobs(path, name, { unixAttributes: false })
    expect(jsonOf(result.blobs.at(-1))['fileNameBytes']).toEqual(['a', 255, 'b'])
    expect(jsonOf(result.blobs.at(-1))['fileName']).toBeUndefined()
  })

  it('writes unix attributes from a nanosecond stat', async () => {
    const path = await writeTemp('attrs.txt', Buffer.from('attributes'))
    await chmod(path, 0o640)
    await utimes(path, 1_714_979_289.5, 1_714_979_289.5)
    const result = await buildFileBlobs(path, 'attrs.txt')
    const map = jsonOf(result.blobs.at(-1))
    expect(map['unixPermission']).toBe('0640')
    expect(map['unixMtime']).toBe('2024-05-06T07:08:09.5Z')
    expect(map['unixOwnerId']).toBe(process.getuid?.())
    expect(map['unixGroupId']).toBe(process.getgid?.())
    const account = (() => {
      try {
        return userInfo().username
      } catch {
        return undefined
      }
    })()
    if (account !== undefined) expect(map['unixOwner']).toBe(account)
    // chmod/utimes just changed the ctime, so it differs from the mtime.
    expect(map['unixCtime']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*[1-9])?Z$/)
    expect(result.mtimeNs).toBe(1_714_979_289_500_000_000n)
  })
})

describe('buildFileBlobs failures', () => {
  it('reports a missing file and a directory as local errors', async () => {
    await expect(buildFileBlobs(join(dir, 'missing'), 'missing')).rejects.toMatchObject({
      kind: 'local',
    })
    await expect(buildFileBlobs(dir, 'dir')).rejects.toMatchObject({ kind: 'local' })
  })

  it('stops when cancelled, before or during the read', async () => {
    const controller = new AbortController()
    controller.abort()
    await expect(
      buildFileBlobs(VECTOR_PATH, 'x', { signal: controller.signal }),
    ).rejects.toMatchObject({
      kind: 'cancelled',
    })
    const midway = new AbortController()
    let chunks = 0
    const error: unknown = await buildFileBlobs(VECTOR_PATH, 'x', {
      signal: midway.signal,
      readSize: 64 << 10,
      onChunk: () => {
        chunks++
        midway.abort()
      },
    }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(FerryError)
    expect((error as FerryError).kind).toBe('cancelled')
    expect(chunks).toBe(1)
  })

  it('refuses a file that grew while it was read', async () => {
    const path = await writeTemp('growing', VECTOR.subarray(0, 600_000))
    let appended = false
    const attempt = buildFileBlobs(path, 'growing', {
      readSize: 64 << 10,
      onChunk: () => {
        if (!appended) appendFileSync(path, Buffer.alloc(10_000, 7))
        appended = true
      },
    })
    await expect(attempt).rejects.toMatchObject({ kind: 'local' })
  })

  it('with a listed length, reads exactly that many bytes: a file that grew is its prefix', async () => {
    const prefix = VECTOR.subarray(0, 600_000)
    const alone = await buildFileBlobs(await writeTemp('prefix', prefix), 'log', {
      unixAttributes: false,
    })
    // Longer than listed before the read, and growing during it.
    const path = await writeTemp('growing-listed', VECTOR.subarray(0, 700_000))
    let appended = false
    const result = await buildFileBlobs(path, 'log', {
      length: prefix.length,
      readSize: 64 << 10,
      unixAttributes: false,
      onChunk: () => {
        if (!appended) appendFileSync(path, Buffer.alloc(10_000, 7))
        appended = true
      },
    })
    expect(appended).toBe(true)
    expect(result.size).toBe(prefix.length)
    expect(result.sha256hex).toBe(createHash('sha256').update(prefix).digest('hex'))
    expect(result.fileRef).toBe(alone.fileRef)
    expect(result.blobs.map((b) => b.ref)).toEqual(alone.blobs.map((b) => b.ref))
  })

  it('with a listed length, refuses a file shorter than listed as changed', async () => {
    const path = await writeTemp('shrunk', VECTOR.subarray(0, 100_000))
    const error: unknown = await buildFileBlobs(path, 'shrunk', { length: 100_001 }).catch(
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(FileChangedError)
  })
})

describe('unix fields', () => {
  const fakeStat = (fields: Partial<Record<keyof BigIntStats, bigint>>): BigIntStats =>
    ({ mode: 0o100644n, uid: 1000n, gid: 100n, ...fields }) as unknown as BigIntStats
  const names = {
    user: (id: number) => (id === 1000 ? 'alice' : undefined),
    group: () => undefined,
  }

  it.each([
    [0n, '1970-01-01T00:00:00Z'],
    [123_000_000_456n, '1970-01-01T00:02:03.000000456Z'],
    [1_714_979_289_000_000_000n, '2024-05-06T07:08:09Z'],
    [1_714_979_289_120_000_000n, '2024-05-06T07:08:09.12Z'],
    [1_714_979_289_000_000_001n, '2024-05-06T07:08:09.000000001Z'],
    [-1n, '1969-12-31T23:59:59.999999999Z'],
  ])('formats %s ns as %s', (ns, text) => {
    expect(rfc3339FromNs(ns)).toBe(text)
  })

  it('writes ctime only when it differs from mtime, and names only when known', () => {
    const same = unixFields(
      fakeStat({ mtimeNs: 5_000_000_000n, ctimeNs: 5_000_000_000n }),
      'file',
      names,
      'linux',
    )
    expect(same).toEqual({
      unixPermission: '0644',
      unixOwnerId: 1000,
      unixOwner: 'alice',
      unixGroupId: 100,
      unixMtime: '1970-01-01T00:00:05Z',
    })
    const differs = unixFields(
      fakeStat({ mtimeNs: 5n, ctimeNs: 7_000_000_001n }),
      'file',
      names,
      'linux',
    )
    expect(differs['unixCtime']).toBe('1970-01-01T00:00:07.000000001Z')
    // Perkeep skips a ctime in the first second of the epoch.
    const early = unixFields(fakeStat({ mtimeNs: 5n, ctimeNs: 7n }), 'file', names, 'linux')
    expect(early['unixCtime']).toBeUndefined()
  })

  it('writes permissions as Go\'s "0%o", none for symlinks, no ids on Windows', () => {
    const stat = fakeStat({ mode: 0o40755n, mtimeNs: 0n, ctimeNs: 0n })
    expect(unixFields(stat, 'directory', names, 'linux')['unixPermission']).toBe('0755')
    expect(
      unixFields(fakeStat({ mode: 0o100000n, mtimeNs: 0n, ctimeNs: 0n }), 'file')['unixPermission'],
    ).toBe('00')
    expect(unixFields(stat, 'symlink', names, 'linux')['unixPermission']).toBeUndefined()
    expect(unixFields(stat, 'file', names, 'win32')).toEqual({
      unixPermission: '0755',
      unixMtime: '1970-01-01T00:00:00Z',
    })
  })

  it('reads user and group names from passwd and group files', async () => {
    const passwd = await writeTemp(
      'passwd',
      'root:x:0:0::/root:/bin/sh\nalice:x:1000:100::/h:/bin/sh\nalias:x:1000:100::/h:/bin/sh\nbad:x:notanumber:1\n',
    )
    const group = await writeTemp('group', 'root:x:0:\nusers:x:100:\nstaff:x:100:\nlast:x:7:')
    const loaded = await loadUnixNames(passwd, group)
    expect(loaded.user(1000)).toBe('alice')
    expect(loaded.user(0)).toBe('root')
    expect(loaded.user(4242)).toBeUndefined()
    expect(loaded.group(100)).toBe('staff')
    expect(loaded.group(7)).toBe('last')
    const none = await loadUnixNames(join(dir, 'nope'), join(dir, 'nope2'))
    expect(none.user(0)).toBeUndefined()
  })
})

describe('static sets', () => {
  const refs = (count: number, salt = ''): string[] =>
    Array.from({ length: count }, (_, i) => sha224Ref(`${salt}${i}`))

  // Members in order, following mergeSets through the listed sub-sets.
  function flatten(ref: string, byRef: Map<string, SchemaBlob>): string[] {
    const map = JSON.parse((byRef.get(ref) as SchemaBlob).bytes.toString('utf8')) as {
      members?: string[]
      mergeSets?: string[]
    }
    expect(map.members === undefined).not.toBe(map.mergeSets === undefined)
    return map.members ?? (map.mergeSets ?? []).flatMap((sub) => flatten(sub, byRef))
  }

  it('lists members in the order given', () => {
    const [a, b] = refs(2)
    const set = staticSetBlobs([b as string, a as string])
    expect(set.blobs).toHaveLength(1)
    expect(schemaOf(set.blobs[0]).bytes.toString('utf8')).toBe(
      `{"camliVersion": 1,\n  "camliType": "static-set",\n  "members": [\n    "${b}",\n    "${a}"\n  ]\n}`,
    )
    expect(set.ref).toBe(set.blobs[0]?.ref)
  })

  it('writes an empty folder as "members": []', () => {
    expect(schemaOf(staticSetBlobs([]).blobs[0]).bytes.toString('utf8')).toBe(
      '{"camliVersion": 1,\n  "camliType": "static-set",\n  "members": []\n}',
    )
  })

  it.each([
    // [members, max per set, blobs Perkeep's SetStaticSetMembers makes, top-level sub-sets]
    [10, 10, 1, 0],
    [13, 10, 3, 2],
    [20, 10, 3, 2],
    [103, 10, 29, 10],
    [10_000, 10_000, 1, 0],
    [10_001, 10_000, 3, 2],
  ])(
    'spreads %i members (max %i) over sub-sets as Perkeep does',
    (count, max, blobCount, subsets) => {
      const members = refs(count)
      const set = staticSetBlobs(members, max)
      expect(set.blobs).toHaveLength(blobCount)
      expect(set.blobs.at(-1)?.ref).toBe(set.ref)
      expectUploadOrder(set.blobs)
      const byRef = new Map(set.blobs.map((b) => [b.ref, b]))
      expect(flatten(set.ref, byRef)).toEqual(members)
      const top = jsonOf(set.blobs.at(-1))
      expect((top['mergeSets'] as string[] | undefined)?.length ?? 0).toBe(subsets)
      for (const blob of set.blobs) {
        const map = jsonOf(blob)
        expect(((map['members'] ?? map['mergeSets']) as string[]).length).toBeLessThanOrEqual(max)
        expect(blob.size).toBeLessThanOrEqual(1 << 20)
      }
    },
  )

  it('orders entries as pk-put does: non-folders first, then folders, by name bytes', () => {
    const entries = [
      { name: 'zdir', isDirectory: true },
      { name: '😀', isDirectory: false },
      { name: 'a', isDirectory: false },
      { name: 'Adir', isDirectory: true },
      { name: '\ufffd', isDirectory: false },
      { name: 'B', isDirectory: false },
      { name: 'é', isDirectory: false },
    ]
    expect(sortStaticSetEntries(entries).map((e) => e.name)).toEqual([
      'B',
      'a',
      'é',
      '\ufffd',
      '😀',
      'Adir',
      'zdir',
    ])
    const raw = [
      { name: Buffer.from([0x62]), isDirectory: false },
      { name: Buffer.from([0x61, 0xff]), isDirectory: false },
    ]
    expect(sortStaticSetEntries(raw).map((e) => e.name[0])).toEqual([0x61, 0x62])
  })
})

describe('directory and symlink schema blobs', () => {
  it('writes a directory map with entries, fileName and unix fields', () => {
    const entries = sha224Ref('set')
    const blob = directoryBlob('photos', entries, {
      unixPermission: '0755',
      unixMtime: '2024-05-06T07:08:09Z',
    })
    expect(blob.bytes.toString('utf8')).toBe(`{"camliVersion": 1,
  "camliType": "directory",
  "entries": "${entries}",
  "fileName": "photos",
  "unixMtime": "2024-05-06T07:08:09Z",
  "unixPermission": "0755"
}`)
  })

  it('writes a symlink map without unixPermission', () => {
    expect(
      symlinkBlob('link', '../target', { unixMtime: '2024-05-06T07:08:09Z' }).bytes.toString(),
    ).toBe(
      `{"camliVersion": 1,
  "camliType": "symlink",
  "fileName": "link",
  "symlinkTarget": "../target",
  "unixMtime": "2024-05-06T07:08:09Z"
}`,
    )
  })

  it('builds a real folder tree bottom-up', async () => {
    const root = join(dir, 'tree')
    await mkdir(join(root, 'sub'), { recursive: true })
    await writeFile(join(root, 'a.txt'), 'a')
    await writeFile(join(root, 'B.txt'), 'b')
    await symlink('a.txt', join(root, 'link'))
    const refs = new Map<string, string>()
    refs.set('a.txt', (await buildFileBlobs(join(root, 'a.txt'), 'tree/a.txt')).fileRef)
    refs.set('B.txt', (await buildFileBlobs(join(root, 'B.txt'), 'tree/B.txt')).fileRef)
    const link = await buildSymlinkBlob(join(root, 'link'), 'tree/link')
    refs.set('link', link.ref)
    const sub = await buildDirectoryBlobs(join(root, 'sub'), 'tree/sub', [])
    refs.set('sub', sub.ref)

    const entries = (await readdir(root, { withFileTypes: true })).map((e) => ({
      name: e.name,
      isDirectory: e.isDirectory(),
    }))
    const members = sortStaticSetEntries(entries).map((e) => refs.get(e.name) as string)
    const tree = await buildDirectoryBlobs(root, 'tree', members)

    const set = jsonOf(tree.blobs[0])
    expect(set).toEqual({
      camliVersion: 1,
      camliType: 'static-set',
      members: ['B.txt', 'a.txt', 'link', 'sub'].map((n) => refs.get(n)),
    })
    const dirMap = jsonOf(tree.blobs[1])
    expect(tree.ref).toBe(tree.blobs[1]?.ref)
    expect(dirMap['camliType']).toBe('directory')
    expect(dirMap['entries']).toBe(tree.blobs[0]?.ref)
    expect(dirMap['fileName']).toBe('tree')
    expect(dirMap['unixPermission']).toMatch(/^0[0-7]{3}$/)
    expect(tree.mtimeNs).toBe((await lstat(root, { bigint: true })).mtimeNs)

    const linkMap = jsonOf(link.blobs[0])
    expect(linkMap['camliType']).toBe('symlink')
    expect(linkMap['symlinkTarget']).toBe('a.txt')
    expect(linkMap['fileName']).toBe('link')
    expect(linkMap['unixPermission']).toBeUndefined()
    expect(linkMap['unixMtime']).toBeDefined()

    await expect(buildSymlinkBlob(join(root, 'a.txt'), 'a.txt')).rejects.toMatchObject({
      kind: 'local',
    })
    await expect(buildDirectoryBlobs(join(root, 'a.txt'), 'a.txt', [])).rejects.toMatchObject({
      kind: 'local',
    })
  })

  it('keeps schema blobs under 1 MiB', () => {
    expect(() => schemaBlob({ camliVersion: 1, camliType: 'x', pad: 'p'.repeat(1 << 20) })).toThrow(
      FerryError,
    )
  })

  it('builds the same file blobs from a chunk list', () => {
    const chunk = { offset: 0, size: 3, bits: 0, ref: sha224Ref('abc') }
    const { fileRef, blobs } = fileBlobsFromChunks([chunk], { fileName: 'abc' })
    expect(blobs.map((b) => b.kind)).toEqual(['range', 'schema'])
    expect(jsonOf(blobs[1])['parts']).toEqual([{ blobRef: chunk.ref, size: 3 }])
    expect(blobs[1]?.ref).toBe(fileRef)
    expect(() => fileBlobsFromChunks([{ ...chunk, offset: 5 }], {})).toThrow()
  })
})
