import {
  appendFile,
  link,
  lstat,
  mkdir,
  readFile,
  rename,
  utimes,
  writeFile,
} from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { sha256Hex, tempDir } from '../helpers/tree.ts'
import {
  kalaUploads,
  setupEngine,
  startKala,
  startPerkeep,
  waitUntil,
  type EngineSetup,
} from './engine-harness.ts'

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** A whole-second time, so that two files given it have exactly the same mtimeMs. */
const FIXED_TIME = new Date('2024-05-06T07:08:09Z')

describe('sync engine: telling changes apart (Kala)', () => {
  let work: Awaited<ReturnType<typeof tempDir>>
  let server: Awaited<ReturnType<typeof startKala>>
  let setup: EngineSetup
  let a: string

  beforeEach(async () => {
    work = await tempDir()
    server = await startKala()
    a = join(work.path, 'a')
    await mkdir(a)
    setup = setupEngine(join(work.path, 'state'), server, [a])
  })

  afterEach(async () => {
    await setup.close()
    await server.close()
    await work.dispose()
  })

  const id = (): string => setup.folderIds[0] as string
  const uploadsOf = (name: string): number =>
    server.server.files().filter((f) => f.originalFilename === name).length

  /** The last content the server received for `name`. */
  async function lastStored(name: string): Promise<string | undefined> {
    return (await kalaUploads(server.server)).get(name)?.at(-1)
  }

  /** Puts `content` at `relPath` as a new inode with FIXED_TIME as mtime (cp -p, rsync -t). */
  async function replaceKeepingTime(relPath: string, content: string): Promise<void> {
    const staged = join(work.path, `staged-${relPath}`)
    await writeFile(staged, content)
    await utimes(staged, FIXED_TIME, FIXED_TIME)
    await rename(staged, join(a, relPath))
  }

  it('watcher: a touch is hashed and not uploaded; a same-size edit and a new inode are', async () => {
    const engine = setup.engine()
    await engine.start()
    const note = join(a, 'note.txt')
    await writeFile(note, 'version A')
    await waitUntil(() => engine.index.get(id(), 'note.txt')?.state === 'synced', 20_000)

    // Saved without changes: a new mtime, the same bytes.
    const touched = new Date('2023-01-02T03:04:05Z')
    await utimes(note, touched, touched)
    await waitUntil(
      () => engine.index.get(id(), 'note.txt')?.synced?.mtimeMs === touched.getTime(),
      20_000,
      'the touch recorded',
    )
    await engine.whenIdle()
    expect(engine.index.get(id(), 'note.txt')?.state).toBe('synced')
    expect(uploadsOf('note.txt')).toBe(1)

    // Same size, other bytes: uploaded.
    await writeFile(note, 'version B')
    await waitUntil(
      async () => (await lastStored('note.txt')) === sha256Hex(Buffer.from('version B')),
    )
    expect(uploadsOf('note.txt')).toBe(2)

    // Replaced by another inode with the same size and mtime (an atomic save that kept the time).
    await replaceKeepingTime('stamp.txt', 'stamp one')
    await waitUntil(() => engine.index.get(id(), 'stamp.txt')?.state === 'synced', 20_000)
    await replaceKeepingTime('stamp.txt', 'stamp two')
    await waitUntil(
      async () => (await lastStored('stamp.txt')) === sha256Hex(Buffer.from('stamp two')),
      20_000,
      'the replaced content uploaded',
    )
    await engine.whenIdle()
    expect(engine.index.get(id(), 'stamp.txt')?.state).toBe('synced')
    expect(uploadsOf('stamp.txt')).toBe(2)
  })

  it('scan: a file replaced with the same size and mtime but another inode is hashed', async () => {
    await replaceKeepingTime('changed.txt', 'first text')
    await replaceKeepingTime('copied.txt', 'kept bytes')
    const first = setup.engine({ watch: false })
    expect((await first.syncOnce()).uploaded).toBe(2)
    await first.stop()

    // While Ferry was not running: one file gets new bytes, one is copied over with cp -p.
    const before = await lstat(join(a, 'changed.txt'))
    await replaceKeepingTime('changed.txt', 'other text')
    await replaceKeepingTime('copied.txt', 'kept bytes')
    const after = await lstat(join(a, 'changed.txt'))
    expect(after.ino).not.toBe(before.ino)
    expect([after.size, after.mtimeMs]).toEqual([before.size, before.mtimeMs])

    const second = setup.engine({ watch: false })
    const summary = await second.syncOnce()
    expect(summary.uploaded).toBe(1)
    expect(await lastStored('changed.txt')).toBe(sha256Hex(Buffer.from('other text')))
    expect(uploadsOf('copied.txt')).toBe(1)
    expect(second.index.get(id(), 'copied.txt')?.ino).toBe((await lstat(join(a, 'copied.txt'))).ino)
    await second.stop()
    expect((await setup.engine({ watch: false }).syncOnce()).uploaded).toBe(0)
  })

  it('a file that keeps growing goes out at the cap and again once it settles', async () => {
    // Each upload takes longer than the gap between two appends: every one made while the
    // file grows sees it change under it.
    server.server.router.faults.inject('kala.close', { type: 'delay', ms: 400 }, { times: 1000 })
    const engine = setup.engine({ settleMs: 500, capMs: 1000 })
    await engine.start()
    const log = join(a, 'grow.log')
    const wrong: string[] = []
    for (let i = 0; i < 16; i++) {
      await appendFile(log, `line ${i}\n`)
      await sleep(200)
      const row = engine.index.get(id(), 'grow.log')
      // Synced is only ever right for the content the file has now.
      if (row?.state === 'synced' && row.synced?.size !== (await lstat(log)).size) {
        wrong.push(`synced with ${row.synced?.size} bytes`)
      }
      if (row?.state === 'failed') wrong.push(`failed: ${row.lastError}`)
    }
    const whileGrowing = uploadsOf('grow.log')
    const final = sha256Hex(await readFile(log))
    await waitUntil(
      () => engine.index.get(id(), 'grow.log')?.state === 'synced',
      20_000,
      'grow.log synced once it settled',
    )
    expect(wrong).toEqual([])
    // The server got at least one snapshot at the cap, then the settled file.
    expect(whileGrowing).toBeGreaterThanOrEqual(1)
    const sent = (await kalaUploads(server.server)).get('grow.log') ?? []
    expect(sent.at(-1)).toBe(final)
    expect(new Set(sent).size).toBe(sent.length)
    const row = engine.index.get(id(), 'grow.log')
    expect(row?.synced?.sha256).toBe(final)
    expect(row?.attempts).toBe(0)
    const notes = engine.status.snapshot().activity.filter((e) => e.relPath === 'grow.log')
    expect(notes.some((e) => e.kind === 'info' && /changed during upload/i.test(e.message))).toBe(
      true,
    )
    expect(engine.status.snapshot().failed).toEqual([])
  })

  it('--once: a file that never stops changing is reported, not retried forever', async () => {
    server.server.router.faults.inject('kala.close', { type: 'delay', ms: 200 }, { times: 1000 })
    const log = join(a, 'busy.log')
    await writeFile(log, 'start\n')
    await writeFile(join(a, 'calm.txt'), 'calm')
    let writing = true
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        await appendFile(log, `line ${i}\n`)
        await sleep(50)
      }
    })()
    try {
      const engine = setup.engine({ watch: false })
      const summary = await engine.syncOnce()
      expect(summary.failed).toBe(1)
      expect(summary.uploaded).toBe(1)
      const row = engine.index.get(id(), 'busy.log')
      expect(row?.state).toBe('failed')
      expect(row?.lastError).toMatch(/kept changing while being uploaded/)
      // A few tries, each a snapshot the server took, then it gave up.
      expect(uploadsOf('busy.log')).toBeGreaterThanOrEqual(2)
      expect(uploadsOf('busy.log')).toBeLessThanOrEqual(5)
    } finally {
      writing = false
      await writer
    }
  })

  it('the periodic reconcile scan finds changes the watcher never reported', async () => {
    await writeFile(join(a, 'linked.txt'), 'before')
    // A second name outside the folder: writes through it raise no event on the watched folder.
    const outside = join(work.path, 'outside-link.txt')
    await link(join(a, 'linked.txt'), outside)
    const scansDone: number[] = []
    const engine = setup.engine({
      scanIntervalMs: 2000,
      log: (line) => {
        if (line.startsWith('[scan]')) scansDone.push(Date.now())
      },
    })
    await engine.start()
    await waitUntil(() => engine.index.get(id(), 'linked.txt')?.state === 'synced', 20_000)

    const written = Date.now()
    const after = 'after, written behind the watcher'
    await writeFile(outside, after)
    await waitUntil(
      async () => (await lastStored('linked.txt')) === sha256Hex(Buffer.from(after)),
      10_000,
      'the change uploaded',
    )
    const found = Date.now()
    // What found it was a periodic scan that ran after the write (the watcher saw nothing).
    expect(scansDone.some((at) => at >= written && at <= found)).toBe(true)
    expect(uploadsOf('linked.txt')).toBe(2)
  })
})

describe('sync engine: a file that keeps growing (Perkeep)', () => {
  let work: Awaited<ReturnType<typeof tempDir>>
  let server: Awaited<ReturnType<typeof startPerkeep>>
  let setup: EngineSetup
  let a: string

  beforeEach(async () => {
    work = await tempDir()
    server = await startPerkeep()
    a = join(work.path, 'a')
    await mkdir(a)
    setup = setupEngine(join(work.path, 'state'), server, [a])
  })

  afterEach(async () => {
    await setup.close()
    await server.close()
    await work.dispose()
  })

  const id = (): string => setup.folderIds[0] as string

  /** Every version of `fileName` the server holds as a file (one per file schema blob). */
  async function versions(fileName: string): Promise<Buffer[]> {
    const out: Buffer[] = []
    for (const { ref } of server.server.blobs()) {
      const schema = await server.server.readSchema(ref).catch(() => undefined)
      if (schema?.camliType === 'file' && schema['fileName'] === fileName) {
        out.push(await server.server.fileBytes(ref))
      }
    }
    return out
  }

  it('goes out as a snapshot at the cap and whole once it settles', async () => {
    // The first upload waits for discovery, so the file it reads has grown since it was listed
    // at the cap: what goes out must be the listed prefix, not nothing.
    server.server.router.faults.inject(
      'perkeep.discovery',
      { type: 'delay', ms: 600 },
      { times: 1000 },
    )
    // Each upload takes longer than the gap between two appends: every one made while the file
    // grows sees it change under it.
    server.server.router.faults.inject(
      'perkeep.upload',
      { type: 'delay', ms: 400 },
      { times: 1000 },
    )
    const engine = setup.engine({ settleMs: 500, capMs: 1000 })
    await engine.start()
    const log = join(a, 'grow.log')
    const listed: number[] = []
    let watching = true
    const watcher = (async () => {
      while (watching) {
        const row = engine.index.get(id(), 'grow.log')
        if (row?.state === 'uploading' && listed.at(-1) !== row.size) listed.push(row.size)
        await sleep(10)
      }
    })()
    const wrong: string[] = []
    try {
      for (let i = 0; i < 16; i++) {
        await appendFile(log, `line ${i}\n`)
        await sleep(200)
        const row = engine.index.get(id(), 'grow.log')
        // Synced is only ever right for the content the file has now.
        if (row?.state === 'synced' && row.synced?.size !== (await lstat(log)).size) {
          wrong.push(`synced with ${row.synced?.size} bytes`)
        }
        if (row?.state === 'failed') wrong.push(`failed: ${row.lastError}`)
      }
      const whileGrowing = await versions('grow.log')
      const final = await readFile(log)
      await waitUntil(
        () => engine.index.get(id(), 'grow.log')?.state === 'synced',
        20_000,
        'grow.log synced once it settled',
      )
      expect(wrong).toEqual([])
      // The first upload, at the cap, reached the server as the prefix it was listed with.
      const first = listed[0] as number
      expect(first).toBeGreaterThan(0)
      expect(first).toBeLessThan(final.length)
      expect(whileGrowing.map((v) => v.length)).toContain(first)
      // Every version on the server is a consistent prefix; the last one the whole file.
      const stored = await versions('grow.log')
      for (const version of stored) expect(final.subarray(0, version.length)).toEqual(version)
      expect(stored.map((v) => v.length)).toContain(final.length)
      const row = engine.index.get(id(), 'grow.log')
      expect(row?.synced?.sha256).toBe(sha256Hex(final))
      expect(row?.attempts).toBe(0)
      const notes = engine.status.snapshot().activity.filter((e) => e.relPath === 'grow.log')
      expect(notes.some((e) => e.kind === 'info' && /changed during upload/i.test(e.message))).toBe(
        true,
      )
      expect(engine.status.snapshot().failed).toEqual([])
      // The folder tree names the whole file.
      await waitUntil(
        async () => (await server.stored(engine, id())).get('grow.log') === sha256Hex(final),
        20_000,
        'the folder tree holds the settled file',
      )
    } finally {
      watching = false
      await watcher
    }
  })
})
