import { execFileSync } from 'node:child_process'
import { constants } from 'node:fs'
import { cp, mkdir, open, readFile, rename, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { SyncEngine } from '../../main/sync/sync-engine.ts'
import { exhaustionMessage, simulateWatchFailure } from '../../main/sync/folder-watcher.ts'
import { SyncIndex } from '../../main/sync/sync-index.ts'
import type { SyncState } from '../../main/sync/sync-status.ts'
import { sha256Hex, tempDir } from '../helpers/tree.ts'
import {
  localTree,
  setupEngine,
  startDstor,
  startKala,
  waitUntil,
  type EngineSetup,
  type TestServer,
} from './engine-harness.ts'

const KiB = 1024
const MiB = 1024 * 1024

type Work = Awaited<ReturnType<typeof tempDir>>
type Kala = Awaited<ReturnType<typeof startKala>>

/** Writes `count` files of `size` random bytes named f00.bin, f01.bin… and returns their names. */
async function writeFiles(root: string, count: number, size: number): Promise<string[]> {
  const names = Array.from({ length: count }, (_, i) => `f${String(i).padStart(2, '0')}.bin`)
  for (const name of names) await writeFile(join(root, name), randomBytes(size))
  return names
}

/** Rows of a folder in `state`. */
function rowsIn(engine: SyncEngine, folderId: string, state: string): string[] {
  return [...engine.index.all(folderId).values()]
    .filter((row) => row.state === state)
    .map((row) => row.relPath)
    .sort()
}

function folderState(engine: SyncEngine): SyncState | undefined {
  return engine.status.snapshot().folders[0]?.state
}

/** Waits until the server holds exactly `relPaths` of `root` for the folder (by content). */
async function expectStored(
  server: TestServer,
  engine: SyncEngine,
  folderId: string,
  root: string,
  relPaths: readonly string[],
): Promise<void> {
  const expected = JSON.stringify([...(await localTree(root, relPaths))].sort())
  let held = ''
  await waitUntil(
    async () => {
      held = JSON.stringify([...(await server.stored(engine, folderId))].sort())
      return held === expected
    },
    30_000,
    `the server to hold ${relPaths.join(', ')}`,
  ).catch((error: unknown) => {
    const states = [...engine.index.all(folderId).values()].map((r) => `${r.relPath} ${r.state}`)
    const status = engine.status.snapshot()
    throw new Error(
      `${String(error)}; it holds ${held}; rows: ${states.join(', ')}; status: ${status.message}`,
    )
  })
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

describe('sync engine under faults: the server goes away', () => {
  let work: Work
  let servers: Kala[]
  let setup: EngineSetup | undefined

  beforeEach(async () => {
    work = await tempDir()
    servers = []
    setup = undefined
  })

  afterEach(async () => {
    await setup?.close()
    for (const server of servers) await server.close()
    await work.dispose()
  })

  it('offline → online: nothing fails, no busy loop, recovery on its own', async () => {
    const storageDir = join(work.path, 'kala-storage')
    const first = await startKala({ storageDir })
    servers.push(first)
    const folder = join(work.path, 'tree')
    await mkdir(folder)
    const names = await writeFiles(folder, 12, 64 * KiB)
    // Slow closes keep uploads in flight when the server goes.
    first.server.router.faults.inject('kala.close', { type: 'delay', ms: 300 }, { times: 1000 })
    setup = setupEngine(join(work.path, 'state'), first, [folder])
    const id = setup.folderIds[0] as string
    let backendsMade = 0
    const engine = setup.engine({
      makeBackend: (...args) => {
        backendsMade++
        return (setup as EngineSetup).wiring.makeBackend(...args)
      },
    })
    await engine.start()
    await waitUntil(() => rowsIn(engine, id, 'synced').length >= 1, 20_000, 'a first upload')
    await first.close()

    await waitUntil(() => engine.status.snapshot().state === 'offline', 30_000, 'offline')
    expect(engine.status.snapshot().message).toMatch(/offline/i)
    expect(folderState(engine)).toBe('offline')
    await waitUntil(() => rowsIn(engine, id, 'uploading').length === 0, 20_000, 'no upload')
    // Offline: probes back off (from 1 s), uploads wait. A busy loop would burn the CPU.
    const cpu = process.cpuUsage()
    const made = backendsMade
    await sleep(2500)
    const used = process.cpuUsage(cpu)
    expect((used.user + used.system) / 1000).toBeLessThan(1250)
    expect(backendsMade - made).toBeLessThanOrEqual(3)
    expect(rowsIn(engine, id, 'failed')).toEqual([])
    expect(engine.status.snapshot().failed).toEqual([])
    expect(folderState(engine)).toBe('offline')
    const waiting = rowsIn(engine, id, 'pending')
    expect(waiting.length).toBeGreaterThan(0)
    expect(waiting.length + rowsIn(engine, id, 'synced').length).toBe(names.length)

    // Back on the same port with the same storage: the engine notices by itself.
    const second = await startKala({ storageDir, port: first.server.port })
    servers.push(second)
    await waitUntil(
      () => rowsIn(engine, id, 'synced').length === names.length,
      30_000,
      'everything synced',
    )
    await waitUntil(() => engine.status.snapshot().state === 'idle', 10_000, 'idle')
    expect(rowsIn(engine, id, 'failed')).toEqual([])
    // The storage (both server lives) holds exactly the local tree.
    const stored = new Map<string, string>()
    for (const row of engine.index.all(id).values()) {
      if (!row.synced || !('uuid' in row.synced.remote)) continue
      stored.set(row.relPath, sha256Hex(await readFile(join(storageDir, row.synced.remote.uuid))))
    }
    expect(stored).toEqual(await localTree(folder, names))
  })
})

describe('sync engine under faults: credentials', () => {
  let work: Work
  let server: Kala | undefined
  let setup: EngineSetup | undefined

  beforeEach(async () => {
    work = await tempDir()
    server = undefined
    setup = undefined
  })

  afterEach(async () => {
    await setup?.close()
    await server?.close()
    await work.dispose()
  })

  it('Kala: access tokens that expire every second are refreshed without the user', async () => {
    server = await startKala({ users: { ferry: 'kala-pw' }, accessTokenLifetimeSeconds: 1 })
    const folder = join(work.path, 'tree')
    await mkdir(folder)
    const names = await writeFiles(folder, 16, 64 * KiB)
    setup = setupEngine(join(work.path, 'state'), server, [folder], () => 'kala-pw', {
      auth: 'login',
      user: 'ferry',
    })
    // Slow uploads span several token lifetimes. (The server checks a token as a request
    // arrives; a bandwidth limit slows the bodies after that, so no token is refused because
    // the test held it back.)
    setup.settings.update((s) => ({ ...s, bandwidthLimit: 384 * KiB }))
    const id = setup.folderIds[0] as string
    const engine = setup.engine()
    const states = new Set<SyncState>()
    engine.status.onDidChange((status) => states.add(status.state))
    await engine.start()
    await expectStored(server, engine, id, folder, names)
    expect(rowsIn(engine, id, 'failed')).toEqual([])
    expect(engine.status.snapshot().failed).toEqual([])
    expect(states.has('needs-sign-in')).toBe(false)
    expect(states.has('offline')).toBe(false)
    // Tokens were fetched again and again: the refresh is what kept the sync going.
    expect(server.server.router.log.count('kala.token')).toBeGreaterThanOrEqual(3)
  })

  it('dStor: tokens invalidated mid-upload are refreshed without the user', async () => {
    const dstor = await startDstor()
    const folder = join(work.path, 'tree')
    await mkdir(folder)
    const names = await writeFiles(folder, 6, 32 * KiB)
    // The upload request waits at the server, and its token is made invalid meanwhile.
    dstor.server.router.faults.inject('dstor.upload', { type: 'delay', ms: 800 })
    setup = setupEngine(join(work.path, 'state'), dstor, [folder])
    const id = setup.folderIds[0] as string
    try {
      const engine = setup.engine()
      const states = new Set<SyncState>()
      engine.status.onDidChange((status) => states.add(status.state))
      await engine.start()
      await waitUntil(() => dstor.server.router.log.count('dstor.upload') >= 1, 10_000, 'upload')
      const tokens = dstor.server.router.log.count('dstor.token')
      dstor.server.invalidateTokens()
      await expectStored(dstor, engine, id, folder, names)
      expect(rowsIn(engine, id, 'failed')).toEqual([])
      expect(states.has('needs-sign-in')).toBe(false)
      expect(dstor.server.router.log.count('dstor.token')).toBeGreaterThan(tokens)
    } finally {
      await setup.close()
      setup = undefined
      await dstor.close()
    }
  })

  it('a revoked API key: needs sign-in, nothing fails or goes out; a new key and Retry resume', async () => {
    server = await startKala()
    const folder = join(work.path, 'tree')
    await mkdir(folder)
    const names = await writeFiles(folder, 16, 32 * KiB)
    server.server.router.faults.inject('kala.write', { type: 'delay', ms: 250 }, { times: 1000 })
    let key = 'kala-key'
    setup = setupEngine(join(work.path, 'state'), server, [folder], () => key)
    const id = setup.folderIds[0] as string
    const engine = setup.engine()
    await engine.start()
    await waitUntil(() => rowsIn(engine, id, 'synced').length >= 2, 20_000, 'a few uploads')
    server.server.revokeApiKey('kala-key')

    await waitUntil(() => folderState(engine) === 'needs-sign-in', 20_000, 'needs sign-in')
    await waitUntil(() => rowsIn(engine, id, 'uploading').length === 0, 20_000, 'no upload')
    const status = engine.status.snapshot()
    expect(status.state).toBe('needs-sign-in')
    expect(status.message).toMatch(/sign in/i)
    expect(status.folders[0]?.message).toMatch(/401/)
    expect(status.folders[0]?.message).not.toContain('kala-key')
    expect(status.failed).toEqual([])
    expect(rowsIn(engine, id, 'failed')).toEqual([])
    const synced = rowsIn(engine, id, 'synced').length
    expect(rowsIn(engine, id, 'pending').length).toBe(names.length - synced)
    expect(synced).toBeLessThan(names.length)

    // Waiting for the user: not a single request more.
    const requests = JSON.stringify(server.server.router.log.all())
    const files = server.server.files().length
    await sleep(1500)
    expect(JSON.stringify(server.server.router.log.all())).toBe(requests)
    expect(server.server.files().length).toBe(files)
    expect(rowsIn(engine, id, 'failed')).toEqual([])

    // The user signs in again with a new key, and presses Retry.
    server.server.addApiKey('kala-key-2')
    key = 'kala-key-2'
    await engine.retry(id)
    await expectStored(server, engine, id, folder, names)
    await waitUntil(() => engine.status.snapshot().state === 'idle', 10_000, 'idle')
    expect(rowsIn(engine, id, 'failed')).toEqual([])
  })
})

describe('sync engine under faults: the local side (Kala)', () => {
  let work: Work
  let server: Kala
  let setup: EngineSetup
  let folder: string
  let id: string

  beforeEach(async () => {
    work = await tempDir()
    server = await startKala()
    folder = join(work.path, 'tree')
    await mkdir(folder)
    setup = setupEngine(join(work.path, 'state'), server, [folder])
    id = setup.folderIds[0] as string
  })

  afterEach(async () => {
    await setup.close()
    await server.close()
    await work.dispose()
  })

  const uploadsOf = (name: string): number =>
    server.server.files().filter((f) => f.originalFilename === name).length

  it('the bandwidth limit from the settings holds, and a raised one applies live', async () => {
    const engine = setup.engine()
    await engine.start()
    await engine.whenIdle()
    setup.settings.update((s) => ({ ...s, bandwidthLimit: 1 * MiB }))
    await waitUntil(() => setup.wiring.bandwidth.limit === 1 * MiB, 5000, 'the limit')

    await writeFile(join(folder, 'big.bin'), randomBytes(16 * MiB))
    // Measured where it counts: bytes the server received, over time.
    const received = (): number => server.server.sessions().reduce((sum, s) => sum + s.size, 0)
    const rate = async (from: number, over: number): Promise<number> => {
      await waitUntil(() => received() >= from, 20_000, `${from} bytes received`)
      const t0 = performance.now()
      const b0 = received()
      while (received() < b0 + over) await sleep(10)
      return ((received() - b0) * 1000) / (performance.now() - t0)
    }
    const slow = await rate(256 * KiB, 2 * MiB)
    expect(slow).toBeGreaterThan(0.85 * MiB)
    expect(slow).toBeLessThan(1.15 * MiB)

    setup.settings.update((s) => ({ ...s, bandwidthLimit: 4 * MiB }))
    const fast = await rate(received() + 512 * KiB, 6 * MiB)
    expect(fast).toBeGreaterThan(0.85 * 4 * MiB)
    expect(fast).toBeLessThan(1.15 * 4 * MiB)

    setup.settings.update((s) => ({ ...s, bandwidthLimit: 0 }))
    await expectStored(server, engine, id, folder, ['big.bin'])
  })

  it('excludes: defaults, folder patterns with negation, and a .ferryignore written live', async () => {
    setup.settings.update((s) => ({
      ...s,
      folders: s.folders.map((f) => ({ ...f, excludes: ['*.log', '!keep.log'] })),
    }))
    await mkdir(join(folder, 'drafts'))
    for (const name of ['a.txt', 'x.tmp', '.DS_Store', 'debug.log', 'keep.log', 'drafts/d.txt']) {
      await writeFile(join(folder, name), `content of ${name}`)
    }
    const engine = setup.engine()
    await engine.start()
    await engine.whenIdle()
    await expectStored(server, engine, id, folder, ['a.txt', 'drafts/d.txt', 'keep.log'])

    // While running: excluded files are still not uploaded when they change or appear.
    await writeFile(join(folder, 'more.tmp'), 'temp')
    await writeFile(join(folder, 'other.log'), 'log')
    await writeFile(join(folder, 'b.txt'), 'b')
    await expectStored(server, engine, id, folder, ['a.txt', 'b.txt', 'drafts/d.txt', 'keep.log'])

    // A .ferryignore that excludes drafts/ and re-includes *.tmp.
    await writeFile(join(folder, '.ferryignore'), 'drafts/\n!*.tmp\n')
    await waitUntil(
      () => engine.index.get(id, 'drafts/d.txt')?.state === 'excluded',
      20_000,
      'drafts/d.txt excluded',
    )
    const after = ['.ferryignore', 'a.txt', 'b.txt', 'keep.log', 'more.tmp', 'x.tmp']
    await waitUntil(
      () => after.every((name) => engine.index.get(id, name)?.state === 'synced'),
      20_000,
      'the re-included files uploaded',
    )
    // Now excluded: a new file in drafts/ is not uploaded.
    await writeFile(join(folder, 'drafts/new.txt'), 'new')
    await writeFile(join(folder, 'c.txt'), 'c')
    await waitUntil(() => engine.index.get(id, 'c.txt')?.state === 'synced', 20_000, 'c.txt')
    await engine.whenIdle()
    for (const name of ['.DS_Store', 'debug.log', 'other.log', 'new.txt']) {
      expect(uploadsOf(name)).toBe(0)
    }
    expect(uploadsOf('d.txt')).toBe(1)
    expect(engine.index.get(id, 'drafts/new.txt')?.state ?? 'excluded').toBe('excluded')
    expect(rowsIn(engine, id, 'failed')).toEqual([])
  })

  it('symlinks and FIFOs are skipped with a reason: never uploaded, followed or opened', async () => {
    const outside = join(work.path, 'outside')
    await mkdir(join(outside, 'dir'), { recursive: true })
    await writeFile(join(outside, 'secret.txt'), 'not in the synced folder')
    await writeFile(join(outside, 'dir/inner.txt'), 'not in the synced folder either')
    await writeFile(join(folder, 'a.txt'), 'alpha')
    await symlink('a.txt', join(folder, 'link-in'))
    await symlink(join(outside, 'secret.txt'), join(folder, 'link-out'))
    await symlink(join(outside, 'dir'), join(folder, 'link-dir'))
    execFileSync('mkfifo', [join(folder, 'pipe')])
    const engine = setup.engine()
    await engine.start()
    await engine.whenIdle()
    // Also while running: the watcher reports them, the engine records them the same way.
    execFileSync('mkfifo', [join(folder, 'pipe-2')])
    await symlink('a.txt', join(folder, 'link-2'))
    await waitUntil(() => rowsIn(engine, id, 'skipped').length === 6, 20_000, 'six skipped entries')
    await engine.whenIdle()

    const reasons = Object.fromEntries(
      [...engine.index.all(id).values()]
        .filter((row) => row.state === 'skipped')
        .map((row) => [row.relPath, row.lastError]),
    )
    for (const link of ['link-in', 'link-out', 'link-dir', 'link-2']) {
      expect(reasons[link]).toMatch(/symbolic link.*not followed/i)
    }
    for (const pipe of ['pipe', 'pipe-2']) expect(reasons[pipe]).toMatch(/FIFO/)
    const skippedNotes = engine.status.snapshot().activity.filter((e) => e.kind === 'skipped')
    expect(skippedNotes.map((e) => e.relPath).sort()).toEqual(Object.keys(reasons).sort())
    // Only the regular file went out.
    expect(server.server.files().map((f) => f.originalFilename)).toEqual(['a.txt'])
    expect(rowsIn(engine, id, 'failed')).toEqual([])
    // No reader holds a FIFO open: opening it for writing without blocking finds nobody.
    for (const pipe of ['pipe', 'pipe-2']) {
      await expect(
        open(join(folder, pipe), constants.O_WRONLY | constants.O_NONBLOCK),
      ).rejects.toMatchObject({ code: 'ENXIO' })
    }
  })

  it('out of watches: the status says how to fix it, and rescans still find new files', async () => {
    await writeFile(join(folder, 'before.txt'), 'before')
    const engine = setup.engine({ fallbackRescanMs: 400 })
    await engine.start()
    await expectStored(server, engine, id, folder, ['before.txt'])
    const watcher = engine.watcherForTest(id)
    expect(watcher).toBeDefined()
    expect(simulateWatchFailure(watcher!, 'ENOSPC')).toBe(true)

    const message = exhaustionMessage('ENOSPC', folder, 400)
    await waitUntil(
      () => engine.status.snapshot().folders[0]?.degraded === message,
      10_000,
      'the degraded message',
    )
    if (process.platform === 'linux') expect(message).toContain('sudo sysctl --system')
    await writeFile(join(folder, 'after.txt'), 'after')
    await mkdir(join(folder, 'sub'))
    await writeFile(join(folder, 'sub/deeper.txt'), 'deeper')
    await expectStored(server, engine, id, folder, ['after.txt', 'before.txt', 'sub/deeper.txt'])
    expect(engine.status.snapshot().folders[0]?.degraded).toBe(message)
  })

  it('a folder that is missing at start: an error, then it syncs once it appears', async () => {
    const missing = join(work.path, 'not-yet')
    setup.settings.update((s) => ({
      ...s,
      folders: s.folders.map((f) => ({ ...f, path: missing })),
    }))
    const engine = setup.engine({ folderRecheckMs: 300 })
    await engine.start()
    await waitUntil(() => folderState(engine) === 'error', 10_000, 'the error state')
    const status = engine.status.snapshot()
    expect(status.state).toBe('error')
    expect(status.folders[0]?.message).toContain(missing)
    expect(status.message).toMatch(/can't sync not-yet/i)

    await mkdir(missing)
    await writeFile(join(missing, 'late.txt'), 'late')
    await expectStored(server, engine, id, missing, ['late.txt'])
    await waitUntil(() => folderState(engine) === 'idle', 10_000, 'idle')
  })

  it('a folder that goes away while running: nothing is taken as deleted, and it comes back', async () => {
    const names = await writeFiles(folder, 5, 4 * KiB)
    const engine = setup.engine({ folderRecheckMs: 300 })
    await engine.start()
    await expectStored(server, engine, id, folder, names)
    // One more upload is under way when the drive goes (the server is slow to open it).
    server.server.router.faults.inject('kala.session', { type: 'delay', ms: 1000 })
    await writeFile(join(folder, 'late.bin'), randomBytes(64 * KiB))
    await waitUntil(
      () => engine.index.get(id, 'late.bin')?.state === 'uploading',
      10_000,
      'late.bin',
    )

    // Unplugged: the whole tree vanishes at once.
    const away = join(work.path, 'unplugged')
    await rename(folder, away)
    await waitUntil(() => folderState(engine) === 'error', 10_000, 'the error state')
    const status = engine.status.snapshot()
    expect(status.folders[0]?.message).toContain(folder)
    expect(status.message).toMatch(/can't sync tree/i)
    await waitUntil(() => engine.index.get(id, 'late.bin')?.state !== 'uploading', 10_000, 'late')
    await sleep(1000)
    expect(rowsIn(engine, id, 'removed')).toEqual([])
    expect(rowsIn(engine, id, 'synced')).toEqual(names)
    expect(engine.index.get(id, 'late.bin')?.state).toBe('pending')

    // Plugged in again (new inodes, same files): syncing goes on, changes are seen again, and
    // nothing went up twice.
    const copy = join(work.path, 'remounted')
    await cp(away, copy, { recursive: true, preserveTimestamps: true })
    await rename(copy, folder)
    await waitUntil(() => folderState(engine) === 'idle', 10_000, 'idle again')
    await writeFile(join(folder, 'new.txt'), 'new')
    await expectStored(server, engine, id, folder, [...names, 'late.bin', 'new.txt'])
    expect(rowsIn(engine, id, 'removed')).toEqual([])
    expect(rowsIn(engine, id, 'failed')).toEqual([])
    for (const name of names) expect(uploadsOf(name)).toBe(1)
  })

  it('stop() during a big upload: quick, consistent, and a new engine finishes it', async () => {
    await writeFile(join(folder, 'huge.bin'), randomBytes(50 * MiB))
    setup.settings.update((s) => ({ ...s, bandwidthLimit: 4 * MiB }))
    const engine = setup.engine()
    await engine.start()
    await waitUntil(
      () => server.server.sessions().some((s) => s.size >= 2 * MiB),
      20_000,
      'the upload under way',
    )
    const stopping = performance.now()
    await engine.stop()
    expect(performance.now() - stopping).toBeLessThan(8000)

    const indexPath = join(work.path, 'state', 'sync.sqlite')
    const index = new SyncIndex(indexPath)
    try {
      expect(index.get(id, 'huge.bin')?.state).toBe('pending')
      expect(index.get(id, 'huge.bin')?.synced).toBeNull()
    } finally {
      index.close()
    }
    expect(server.server.files()).toEqual([])
    const sessions = server.server.sessions().length

    setup.settings.update((s) => ({ ...s, bandwidthLimit: 0 }))
    const next = setup.engine()
    await next.start()
    await expectStored(server, next, id, folder, ['huge.bin'])
    // The journal restarted the persisted session instead of opening another.
    expect(server.server.sessions().length).toBe(sessions)
    expect(uploadsOf('huge.bin')).toBe(1)
  })
})
