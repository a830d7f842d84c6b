import { execFileSync } from 'node:child_process'
import { appendFile, mkdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { sampleTree, sha256Hex, tempDir, writeTree } from '../helpers/tree.ts'
import type { TreeNode } from '../servers/perkeep-schema-reader.ts'
import {
  kalaUploads,
  localTree,
  setupEngine,
  startDstor,
  startKala,
  startPerkeep,
  waitUntil,
  type EngineSetup,
  type TestServer,
} from './engine-harness.ts'

describe('sync engine: a first sync of a whole tree (every backend)', () => {
  for (const start of [startKala, startDstor, startPerkeep]) {
    it(`${start.name.replace('start', '')}: the server ends with exactly the local tree`, async () => {
      const work = await tempDir()
      const server = await start()
      const folder = join(work.path, 'tree')
      const tree = sampleTree({ small: true })
      await writeTree(folder, tree)
      const setup = setupEngine(join(work.path, 'state'), server, [folder])
      try {
        const engine = setup.engine({ watch: false })
        const summary = await engine.syncOnce()
        expect(summary.failed).toBe(0)
        expect(summary.uploaded).toBe(tree.length)
        const expected = await localTree(
          folder,
          tree.map((f) => f.relPath),
        )
        expect(await server.stored(engine, setup.folderIds[0] as string)).toEqual(expected)
        await engine.stop()

        // A second run finds nothing to do: nothing is uploaded twice.
        const again = setup.engine({ watch: false })
        expect((await again.syncOnce()).uploaded).toBe(0)
      } finally {
        await setup.close()
        await server.close()
        await work.dispose()
      }
    })
  }
})

describe('sync engine: Perkeep folder trees', () => {
  it('keeps symlinks as links, skips FIFOs, and stores a new tree after a removal', async () => {
    const work = await tempDir()
    const server = await startPerkeep()
    const folder = join(work.path, 'tree')
    await mkdir(join(folder, 'sub'), { recursive: true })
    await writeFile(join(folder, 'sub', 'a.txt'), 'alpha')
    await writeFile(join(folder, 'b.txt'), 'beta')
    await symlink('../b.txt', join(folder, 'sub', 'link-to-b'))
    await symlink('/etc/passwd', join(folder, 'outside'))
    execFileSync('mkfifo', [join(folder, 'pipe')])
    const setup = setupEngine(join(work.path, 'state'), server, [folder])
    const id = setup.folderIds[0] as string
    try {
      const engine = setup.engine({ watch: false })
      expect((await engine.syncOnce()).failed).toBe(0)
      const root = engine.index.rootRef(id) as string
      const tree = await server.server.readDirectory(root)
      const names = (node: TreeNode, prefix = ''): string[] =>
        (node.children ?? []).flatMap((child) => {
          const rel = prefix ? `${prefix}/${child.name}` : child.name
          return child.type === 'directory'
            ? names(child, rel)
            : [`${child.type} ${rel}${child.symlinkTarget ? ` -> ${child.symlinkTarget}` : ''}`]
        })
      expect(names(tree).sort()).toEqual([
        'file b.txt',
        'file sub/a.txt',
        'symlink outside -> /etc/passwd',
        'symlink sub/link-to-b -> ../b.txt',
      ])
      expect(engine.index.get(id, 'pipe')?.state).toBe('skipped')
      expect(engine.index.get(id, 'pipe')?.lastError).toMatch(/FIFO/)
      await engine.stop()

      await rm(join(folder, 'b.txt'))
      const next = setup.engine({ watch: false })
      await next.syncOnce()
      const after = next.index.rootRef(id) as string
      expect(after).not.toBe(root)
      expect(names(await server.server.readDirectory(after))).not.toContain('file b.txt')
    } finally {
      await setup.close()
      await server.close()
      await work.dispose()
    }
  })
})

describe('sync engine: watching (Kala)', () => {
  let work: Awaited<ReturnType<typeof tempDir>>
  let server: Awaited<ReturnType<typeof startKala>>
  let setup: EngineSetup
  let a: string
  let b: string

  beforeEach(async () => {
    work = await tempDir()
    server = await startKala()
    a = join(work.path, 'a')
    b = join(work.path, 'b')
    await mkdir(a)
    await mkdir(b)
    setup = setupEngine(join(work.path, 'state'), server, [a, b])
  })

  afterEach(async () => {
    await setup.close()
    await server.close()
    await work.dispose()
  })

  const folderA = (): string => setup.folderIds[0] as string
  const folderB = (): string => setup.folderIds[1] as string
  const uploadsOf = (name: string): number =>
    server.server.files().filter((f) => f.originalFilename === name).length

  async function expectStored(
    target: TestServer,
    engine: ReturnType<EngineSetup['engine']>,
    folderId: string,
    root: string,
    relPaths: string[],
  ): Promise<void> {
    const expected = await localTree(root, relPaths)
    await waitUntil(
      async () =>
        JSON.stringify([...(await target.stored(engine, folderId))].sort()) ===
        JSON.stringify([...expected].sort()),
      20_000,
      `server to hold ${relPaths.join(', ')}`,
    )
  }

  it('create, modify, append over 3 s, rename, move between folders, delete', async () => {
    const engine = setup.engine()
    await engine.start()
    await engine.whenIdle()

    await writeFile(join(a, 'note.txt'), 'first')
    await expectStored(server, engine, folderA(), a, ['note.txt'])

    await writeFile(join(a, 'note.txt'), 'second version')
    await expectStored(server, engine, folderA(), a, ['note.txt'])
    expect(uploadsOf('note.txt')).toBe(2)

    // A file that grows for 3 s: it goes out when it settles, with its final content.
    for (let i = 0; i < 15; i++) {
      await appendFile(join(a, 'log.txt'), `line ${i}\n`)
      await new Promise((r) => setTimeout(r, 200))
    }
    await expectStored(server, engine, folderA(), a, ['note.txt', 'log.txt'])
    const logRow = engine.index.get(folderA(), 'log.txt')
    const finalLog = await readFile(join(a, 'log.txt'))
    expect(logRow?.state).toBe('synced')
    expect(logRow?.synced?.size).toBe(finalLog.length)

    await rename(join(a, 'note.txt'), join(a, 'renamed.txt'))
    await expectStored(server, engine, folderA(), a, ['renamed.txt', 'log.txt'])
    await waitUntil(() => engine.index.get(folderA(), 'note.txt')?.state === 'removed')
    await waitUntil(() =>
      engine.status
        .snapshot()
        .activity.some((e) => e.kind === 'renamed' && e.relPath === 'renamed.txt'),
    )

    await rename(join(a, 'renamed.txt'), join(b, 'moved.txt'))
    await expectStored(server, engine, folderB(), b, ['moved.txt'])
    await waitUntil(() => engine.index.get(folderA(), 'renamed.txt')?.state === 'removed')

    await rm(join(a, 'log.txt'))
    await waitUntil(() => engine.index.get(folderA(), 'log.txt')?.state === 'removed')
    await engine.whenIdle()
    // Upload-only: the server keeps everything it was given.
    expect(server.server.files().length).toBeGreaterThanOrEqual(5)
    // Every file went up once per distinct content it had: note.txt twice, the renamed and the
    // moved file once each under their new names, log.txt once per version it settled at (or
    // was caught at by the cap), the last one being its final content.
    const uploads = await kalaUploads(server.server)
    expect([...uploads.keys()].sort()).toEqual(['log.txt', 'moved.txt', 'note.txt', 'renamed.txt'])
    for (const [name, contents] of uploads) {
      expect(new Set(contents).size, `${name} sent twice with the same content`).toBe(
        contents.length,
      )
    }
    expect(uploads.get('note.txt')?.length).toBe(2)
    expect(uploads.get('renamed.txt')?.length).toBe(1)
    expect(uploads.get('moved.txt')?.length).toBe(1)
    expect(uploads.get('log.txt')?.at(-1)).toBe(sha256Hex(finalLog))
  })

  it('a burst of 50 saves in 2 s is one upload', async () => {
    const engine = setup.engine({ settleMs: 400, capMs: 60_000 })
    await engine.start()
    for (let i = 0; i < 50; i++) {
      await writeFile(join(a, 'doc.txt'), `version ${i}`)
      await new Promise((r) => setTimeout(r, 40))
    }
    await expectStored(server, engine, folderA(), a, ['doc.txt'])
    await engine.whenIdle()
    expect(uploadsOf('doc.txt')).toBe(1)
  })

  it('a burst of 1 000 renames: the server ends with exactly the renamed tree', async () => {
    const names = Array.from({ length: 1000 }, (_, i) => `f${String(i).padStart(4, '0')}.txt`)
    await Promise.all(names.map((name) => writeFile(join(a, name), `content of ${name}`)))
    const engine = setup.engine()
    await engine.start()
    await engine.whenIdle()
    expect(server.server.files().length).toBe(1000)
    await Promise.all(names.map((name) => rename(join(a, name), join(a, `r-${name}`))))
    await expectStored(
      server,
      engine,
      folderA(),
      a,
      names.map((n) => `r-${n}`),
    )
    // Each renamed file went up once under its new name, and nothing else.
    expect(server.server.files().length).toBe(2000)
  }, 120_000)

  it('a file deleted while queued is dropped with a note, and never uploaded', async () => {
    const engine = setup.engine()
    await engine.start()
    engine.pauseFolder(folderA())
    await writeFile(join(a, 'queued.txt'), 'x')
    await waitUntil(() => engine.index.get(folderA(), 'queued.txt')?.state === 'pending')
    await rm(join(a, 'queued.txt'))
    await waitUntil(() => engine.index.get(folderA(), 'queued.txt')?.state === 'removed')
    engine.pauseFolder(folderA(), false)
    await engine.whenIdle()
    expect(uploadsOf('queued.txt')).toBe(0)

    // Deleted while its upload is starting (the server is slow to open the session).
    server.server.router.faults.inject('kala.session', { type: 'delay', ms: 1500 })
    await writeFile(join(a, 'racing.txt'), 'y'.repeat(100_000))
    await waitUntil(() => engine.index.get(folderA(), 'racing.txt')?.state === 'uploading')
    await rm(join(a, 'racing.txt'))
    await waitUntil(() => engine.index.get(folderA(), 'racing.txt')?.state === 'removed')
    await engine.whenIdle()
    expect(uploadsOf('racing.txt')).toBe(0)
    const notes = engine.status.snapshot().activity.filter((e) => e.relPath === 'racing.txt')
    expect(notes.map((e) => e.kind)).toContain('removed')
    expect(engine.status.snapshot().failed).toEqual([])
  })

  it('a file changed during its upload is not recorded with the old content', async () => {
    const engine = setup.engine()
    await engine.start()
    server.server.router.faults.inject('kala.close', { type: 'delay', ms: 1500 })
    await writeFile(join(a, 'moving.txt'), 'old content')
    await waitUntil(() => engine.index.get(folderA(), 'moving.txt')?.state === 'uploading')
    await writeFile(join(a, 'moving.txt'), 'new content, longer')
    await expectStored(server, engine, folderA(), a, ['moving.txt'])
    const row = engine.index.get(folderA(), 'moving.txt')
    expect(row?.state).toBe('synced')
    expect(row?.synced?.size).toBe('new content, longer'.length)
  })

  it('pause and resume a folder, and everything', async () => {
    const engine = setup.engine()
    await engine.start()
    await engine.whenIdle()
    engine.pauseFolder(folderA())
    await writeFile(join(a, 'while-paused.txt'), 'p')
    await waitUntil(() => engine.index.get(folderA(), 'while-paused.txt')?.state === 'pending')
    await new Promise((r) => setTimeout(r, 500))
    expect(uploadsOf('while-paused.txt')).toBe(0)
    expect(setup.settings.read().folders[0]?.paused).toBe(true)
    await waitUntil(() => engine.status.snapshot().folders[0]?.state === 'paused')

    engine.pauseFolder(folderA(), false)
    await waitUntil(() => uploadsOf('while-paused.txt') === 1)

    engine.pauseAll()
    await writeFile(join(b, 'all-paused.txt'), 'q')
    await waitUntil(() => engine.index.get(folderB(), 'all-paused.txt')?.state === 'pending')
    await new Promise((r) => setTimeout(r, 500))
    expect(uploadsOf('all-paused.txt')).toBe(0)
    expect(engine.status.snapshot().state).toBe('paused')
    engine.pauseAll(false)
    await waitUntil(() => uploadsOf('all-paused.txt') === 1)
  })
})
