import { mkdir, open, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { SyncState } from '../../main/sync/sync-status.ts'
import { tempDir } from '../helpers/tree.ts'
import {
  kalaSessionName,
  quickRetryBackends,
  rowsIn,
  setupEngine,
  startKala,
  waitUntil,
  type EngineSetup,
} from './engine-harness.ts'

const MiB = 1024 * 1024

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

describe('sync engine scheduling (Kala)', () => {
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

  it('--once: files that failed in this run do not hide the pending files behind them', async () => {
    const names = Array.from({ length: 250 }, (_, i) => `f${String(i).padStart(3, '0')}.txt`)
    for (const name of names) await writeFile(join(a, name), `content of ${name}`)
    // More failures than one Kala batch holds (200), all ahead of the rest in queue order.
    server.server.router.faults.inject(
      'kala.session',
      { type: 'status', status: 400 },
      { times: 201 },
    )
    const engine = setup.engine({ watch: false, concurrency: 1 })
    const summary = await engine.syncOnce()
    expect(summary.failed).toBe(201)
    expect(summary.uploaded).toBe(49)
    expect(rowsIn(engine, folderA(), 'pending')).toEqual([])
    // Which ones failed depends on the order the sessions reached the server; how many does not.
    expect(rowsIn(engine, folderA(), 'synced')).toHaveLength(49)
    expect(rowsIn(engine, folderA(), 'failed')).toHaveLength(201)
  }, 60_000)

  it('backoff: a failing file gets attempts and growing waits; Retry on one sends it at once', async () => {
    const writes = new Map<string, number[]>()
    const failing = new Set(['bad-1.txt', 'bad-2.txt'])
    server.server.router.faults.inject(
      'kala.write',
      { type: 'status', status: 503 },
      {
        times: 1_000_000,
        when: ({ params }) => {
          const name = kalaSessionName(server.server, params.uuid) ?? ''
          if (!failing.has(name)) return false
          writes.set(name, [...(writes.get(name) ?? []), Date.now()])
          return true
        },
      },
    )
    const engine = setup.engine({ makeBackend: quickRetryBackends(setup.wiring) })
    await engine.start()
    for (const name of ['ok.txt', 'bad-1.txt', 'bad-2.txt']) await writeFile(join(a, name), name)
    const row = (name: string) => engine.index.get(folderA(), name)

    await waitUntil(() => row('bad-1.txt')?.attempts === 1, 20_000, 'a first failure')
    const first = row('bad-1.txt')
    const firstWait = (first?.nextAttemptAt ?? 0) - Date.now()
    expect(first?.state).toBe('failed')
    expect(first?.lastError).toMatch(/503/)
    // retryDelayMs: 2 s ±20 % for the first retry.
    expect(firstWait).toBeGreaterThan(1200)
    expect(firstWait).toBeLessThanOrEqual(2400)
    const sent = writes.get('bad-1.txt')?.length ?? 0
    await sleep(Math.max(0, firstWait - 300))
    // Nothing is sent while it backs off.
    expect(writes.get('bad-1.txt')?.length).toBe(sent)

    await waitUntil(() => row('bad-1.txt')?.attempts === 2, 20_000, 'a second failure')
    const secondWait = (row('bad-1.txt')?.nextAttemptAt ?? 0) - Date.now()
    // The second try came only once the first wait was over, and the next wait is longer.
    const retriedAt = (writes.get('bad-1.txt') ?? [])[sent] ?? 0
    expect(retriedAt).toBeGreaterThanOrEqual((first?.nextAttemptAt ?? 0) - 50)
    expect(secondWait).toBeGreaterThan(3000)
    expect(secondWait).toBeGreaterThan(firstWait)
    // The status lists them with their attempts (it is refreshed a few times a second).
    await waitUntil(
      () =>
        engine.status.snapshot().failed.some((f) => f.relPath === 'bad-1.txt' && f.attempts === 2),
      2000,
      'bad-1.txt listed as failed',
    )

    // The server takes bad-1.txt again; the user presses Retry on it: it goes now, not in 4 s.
    failing.delete('bad-1.txt')
    const pressed = Date.now()
    await engine.retry(folderA(), 'bad-1.txt')
    await waitUntil(() => row('bad-1.txt')?.state === 'synced', 5000, 'bad-1 sent on Retry')
    expect(Date.now() - pressed).toBeLessThan(2000)
    expect(row('bad-2.txt')?.state).not.toBe('synced')
    expect(row('bad-2.txt')?.attempts).toBeGreaterThanOrEqual(1)
    expect(uploadsOf('ok.txt')).toBe(1)
    expect(uploadsOf('bad-1.txt')).toBe(1)
  }, 60_000)

  it('one file with a network error is its own failure: the account stays online', async () => {
    const drops: number[] = []
    server.server.router.faults.inject(
      'kala.write',
      { type: 'drop', afterBytes: 1 },
      {
        times: 1_000_000,
        when: ({ params }) => {
          if (kalaSessionName(server.server, params.uuid) !== 'flaky.bin') return false
          drops.push(Date.now())
          return true
        },
      },
    )
    const engine = setup.engine({ makeBackend: quickRetryBackends(setup.wiring) })
    const states = new Set<SyncState>()
    engine.status.onDidChange((status) => {
      states.add(status.state)
      for (const folder of status.folders) states.add(folder.state)
    })
    await engine.start()
    await writeFile(join(a, 'flaky.bin'), 'x'.repeat(10_000))
    for (const name of ['one.txt', 'two.txt']) await writeFile(join(a, name), name)
    await writeFile(join(b, 'three.txt'), 'three')
    const row = () => engine.index.get(folderA(), 'flaky.bin')

    await waitUntil(() => (row()?.attempts ?? 0) >= 2, 30_000, 'two failed attempts')
    expect(row()?.state).toBe('failed')
    expect(row()?.lastError).toMatch(/connection/i)
    expect(rowsIn(engine, folderA(), 'synced')).toEqual(['one.txt', 'two.txt'])
    expect(rowsIn(engine, folderB(), 'synced')).toEqual(['three.txt'])
    // Still uploading other files while flaky.bin backs off.
    await writeFile(join(b, 'later.txt'), 'later')
    await waitUntil(() => engine.index.get(folderB(), 'later.txt')?.state === 'synced', 10_000)
    expect(states.has('offline')).toBe(false)
    // Backed off, not hammered: a try is one write and its one quick HTTP retry.
    expect(drops.length).toBeLessThanOrEqual(2 * ((row()?.attempts ?? 0) + 1))
  }, 60_000)

  it('fairness: a huge slow file does not hold up small files in its folder or another', async () => {
    const big = await open(join(a, 'huge.bin'), 'w')
    await big.truncate(200 * MiB)
    await big.close()
    setup.settings.update((s) => ({ ...s, bandwidthLimit: 4 * MiB }))
    const engine = setup.engine()
    await engine.start()
    await waitUntil(
      () => server.server.sessions().some((s) => s.originalFilename === 'huge.bin' && s.size > MiB),
      30_000,
      'the huge file under way',
    )
    await writeFile(join(a, 'small-a1.txt'), 'a1')
    await writeFile(join(a, 'small-a2.txt'), 'a2')
    await writeFile(join(b, 'small-b.txt'), 'b')
    await waitUntil(
      () =>
        rowsIn(engine, folderA(), 'synced').length === 2 &&
        rowsIn(engine, folderB(), 'synced').length === 1,
      10_000,
      'the small files confirmed',
    )
    expect(engine.index.get(folderA(), 'huge.bin')?.state).toBe('uploading')
    expect(uploadsOf('huge.bin')).toBe(0)
  }, 60_000)
})
