import { mkdirSync, writeFileSync } from 'node:fs'
import { lstat, mkdir, open, readdir, readlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { SyncIndex } from '../../main/sync/sync-index.ts'
import { tempDir } from '../helpers/tree.ts'
import {
  setupEngine,
  startKala,
  startPerkeep,
  waitUntil,
  type EngineSetup,
} from './engine-harness.ts'

const GiB = 1024 * 1024 * 1024

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** True while this process has `path` open (the engine runs in the test's process). */
async function isOpenHere(path: string): Promise<boolean> {
  for (const fd of await readdir('/proc/self/fd').catch(() => [])) {
    if ((await readlink(`/proc/self/fd/${fd}`).catch(() => '')) === path) return true
  }
  return false
}

describe('sync engine: stop() is quick whatever runs', () => {
  let work: Awaited<ReturnType<typeof tempDir>>
  let setup: EngineSetup | undefined
  let close: (() => Promise<void>) | undefined

  beforeEach(async () => {
    work = await tempDir()
    setup = undefined
    close = undefined
  })

  afterEach(async () => {
    await setup?.close()
    await close?.()
    await work.dispose()
  })

  it.skipIf(process.platform !== 'linux')(
    'during a scan of 20 000 files that hashes a 1 GiB file',
    async () => {
      const server = await startKala()
      close = () => server.close()
      const folder = join(work.path, 'tree')
      for (let d = 0; d < 20; d++) {
        mkdirSync(join(folder, `d${d}`), { recursive: true })
        for (let i = 0; i < 1000; i++) writeFileSync(join(folder, `d${d}`, `f${i}.txt`), `${i}`)
      }
      const disk = join(folder, 'disk.img')
      const handle = await open(disk, 'w')
      await handle.truncate(GiB)
      await handle.close()
      setup = setupEngine(join(work.path, 'state'), server, [folder])
      setup.settings.update((s) => ({ ...s, paused: true }))
      const id = setup.folderIds[0] as string

      // The index as an earlier run left it: disk.img confirmed with an older mtime, so this
      // scan must hash it to tell a touch from an edit (uploading 1 GiB first would take long).
      const stats = await lstat(disk)
      const earlier = {
        relPath: 'disk.img',
        size: GiB,
        mtimeMs: stats.mtimeMs - 60_000,
        ino: stats.ino,
      }
      const index = new SyncIndex(join(work.path, 'state', 'sync.sqlite'))
      index.seen(id, earlier, Date.now())
      index.markUploading(id, [index.get(id, 'disk.img')!])
      index.confirmed(
        id,
        earlier,
        { sha256: 'e'.repeat(64), remote: { uuid: 'earlier' } },
        Date.now(),
      )
      index.close()

      const engine = setup.engine()
      const starting = engine.start()
      await waitUntil(() => isOpenHere(disk), 60_000, 'the scan hashing disk.img')
      const stopping = performance.now()
      await engine.stop()
      const took = performance.now() - stopping
      await starting
      expect(took).toBeLessThan(1500)
      // Nothing half-done: the file was neither confirmed nor queued with the old record.
      const after = new SyncIndex(join(work.path, 'state', 'sync.sqlite'))
      try {
        expect(after.get(id, 'disk.img')?.synced?.mtimeMs).toBe(earlier.mtimeMs)
      } finally {
        after.close()
      }
      expect(await isOpenHere(disk)).toBe(false)
    },
    120_000,
  )

  it('while a Perkeep folder tree is being stored', async () => {
    const server = await startPerkeep()
    close = () => server.close()
    const folder = join(work.path, 'tree')
    await mkdir(folder)
    await writeFile(join(folder, 'a.txt'), 'alpha')
    setup = setupEngine(join(work.path, 'state'), server, [folder])
    const id = setup.folderIds[0] as string
    const logs: { at: number; line: string }[] = []
    const engine = setup.engine({ log: (line) => logs.push({ at: performance.now(), line }) })
    await engine.start()
    await waitUntil(() => engine.index.get(id, 'a.txt')?.state === 'synced', 20_000)
    // The tree's blobs reach a server that is very slow to answer.
    const stats = server.server.router.log.count('perkeep.stat')
    server.server.router.faults.inject('perkeep.stat', { type: 'delay', ms: 3000 }, { times: 100 })
    await waitUntil(
      () => server.server.router.log.count('perkeep.stat') > stats,
      20_000,
      'the tree being stored',
    )
    const stopping = performance.now()
    await engine.stop()
    const stopped = performance.now()
    expect(stopped - stopping).toBeLessThan(1500)
    // Nothing of the tree store runs on after stop(): no late failure on a closed index.
    await sleep(3500)
    expect(logs.filter((entry) => entry.at > stopped).map((e) => e.line)).toEqual([])
  }, 60_000)
})
