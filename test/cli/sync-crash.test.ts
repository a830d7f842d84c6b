import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConfSettingsStore } from '../../main/settings/conf-settings-store.ts'
import { SyncIndex } from '../../main/sync/sync-index.ts'
import { createKalaServer, type KalaServer } from '../servers/kala-server.ts'
import { sha256Hex, tempDir, writeTree, type SampleFile } from '../helpers/tree.ts'
import { FERRY_SOURCE, runFerry } from './run-ferry.ts'

/** A small deterministic PRNG, so a failing run can be replayed from its seed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const KILLS = 20

describe('crash safety: kill -9 `ferry sync` again and again', () => {
  let server: KalaServer
  let dir: Awaited<ReturnType<typeof tempDir>>
  let env: Record<string, string>
  let folder: string
  let tree: SampleFile[]
  const seed = Number(process.env['FERRY_CRASH_SEED'] ?? Date.now() % 100_000)
  const random = mulberry32(seed)

  beforeAll(async () => {
    server = await createKalaServer({ apiKeys: ['good-key'] })
    dir = await tempDir()
    folder = join(dir.path, 'Tree')
    env = {
      FERRY_HOME: join(dir.path, 'state'),
      FERRY_SECRET: 'good-key',
      DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent',
    }
    // 1 000 files with unique names (the server keeps the name, so uploads can be counted per
    // file), mostly small, some spanning several write requests.
    tree = Array.from({ length: 1000 }, (_, i) => {
      const size = i % 100 === 7 ? 3 * 1024 * 1024 + i : 200 + ((i * 7919) % 12_000)
      const content = Buffer.alloc(size, `file ${i} `)
      return { relPath: `d${i % 10}/sub${i % 3}/file-${i}.bin`, content }
    })
    await writeTree(folder, tree)
    const add = await runFerry(
      ['account', 'add', '--backend', 'kala', '--server', server.url, '--name', 'k'],
      env,
    )
    expect(add.code, add.stderr).toBe(0)
    expect((await runFerry(['folder', 'add', folder, '--account', 'k'], env)).code).toBe(0)
  })

  afterAll(async () => {
    await server.close()
    await dir.dispose()
  })

  it(`converges after ${KILLS} kill -9s mid-sync with faults injected (seed ${seed})`, async () => {
    // Faults all along: refused writes, dropped connections, refused sessions.
    for (let i = 0; i < 60; i++) {
      server.router.faults.inject(
        'kala.write',
        random() < 0.5 ? { type: 'status', status: 503 } : { type: 'drop', afterBytes: 1000 },
        { skip: Math.floor(random() * 3000) },
      )
      server.router.faults.inject(
        'kala.session',
        { type: 'status', status: 503, headers: { 'retry-after': '0' } },
        { skip: Math.floor(random() * 1500) },
      )
    }
    // A bandwidth limit stretches the sync over all the kills (the tree is ~36 MB).
    const settings = new ConfSettingsStore(env['FERRY_HOME'] as string)
    settings.update((s) => ({ ...s, bandwidthLimit: 1024 * 1024 }))
    let kills = 0
    for (let run = 0; kills < KILLS && run < KILLS * 3; run++) {
      const child = spawn(process.execPath, [FERRY_SOURCE, 'sync'], {
        env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ...env },
        stdio: 'ignore',
      })
      const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()))
      // Anywhere from start-up to well into the uploads.
      await new Promise((r) => setTimeout(r, 300 + random() * 1700))
      if (child.exitCode === null) {
        child.kill('SIGKILL')
        kills++
      }
      await exited
    }
    expect(kills).toBe(KILLS)
    // The kills landed mid-sync: uploads progressed between them.
    const midway = new SyncIndex(join(env['FERRY_HOME'] as string, 'sync.sqlite'))
    const [id] = midway.folderIds()
    const syncedBefore = [...midway.all(id as string).values()].filter(
      (row) => row.state === 'synced',
    ).length
    midway.close()
    console.info(`crash test: ${syncedBefore} of ${tree.length} files synced during the kills`)
    expect(syncedBefore).toBeGreaterThan(0)
    expect(syncedBefore).toBeLessThan(tree.length)

    server.router.faults.clear()
    settings.update((s) => ({ ...s, bandwidthLimit: 0 }))
    const last = await runFerry(['sync', '--once'], env)
    expect(last.code, last.stderr).toBe(0)

    // The server holds exactly the local tree: every file, with the right bytes…
    const index = new SyncIndex(join(env['FERRY_HOME'] as string, 'sync.sqlite'))
    try {
      const [folderId] = index.folderIds()
      const rows = index.all(folderId as string)
      const stored = new Map(server.files().map((f) => [f.uuid, f]))
      for (const file of tree) {
        const row = rows.get(file.relPath)
        expect(row?.state, file.relPath).toBe('synced')
        const remote = row?.synced?.remote as { uuid: string }
        const onServer = stored.get(remote.uuid)
        expect(onServer, file.relPath).toBeDefined()
        expect(sha256Hex(await readFile(onServer?.storedPath as string))).toBe(
          sha256Hex(file.content),
        )
      }
      expect(rows.size).toBe(tree.length)
    } finally {
      index.close()
    }
    // …and no file was stored twice: a confirmed upload is never repeated.
    const perName = new Map<string, number>()
    for (const f of server.files()) {
      perName.set(f.originalFilename ?? '', (perName.get(f.originalFilename ?? '') ?? 0) + 1)
    }
    const twice = [...perName].filter(([, n]) => n > 1)
    expect(twice, `seed ${seed}`).toEqual([])
    expect(server.files()).toHaveLength(tree.length)
  }, 240_000)
})
