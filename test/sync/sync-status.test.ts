import { afterEach, describe, expect, it } from 'vitest'
import {
  ACTIVITY_LIMIT,
  formatDuration,
  StatusModel,
  type FolderInfo,
  type SyncState,
  type SyncStatus,
} from '../../main/sync/sync-status.ts'

const photos: FolderInfo = {
  id: 'photos',
  path: '/home/ann/Photos',
  accountId: 'a1',
  accountLabel: 'dstor.example',
}
const docs: FolderInfo = { id: 'docs', path: 'C:\\Users\\ann\\Docs', accountId: 'a2' }

const models: StatusModel[] = []
afterEach(() => {
  for (const model of models.splice(0)) model.dispose()
})

/** A model on a clock the test moves by hand. */
function driven(start = 1_000_000): { model: StatusModel; clock: { now: number } } {
  const clock = { now: start }
  const model = new StatusModel(() => clock.now)
  models.push(model)
  return { model, clock }
}

/** Records every emitted snapshot with the real time it arrived. */
function record(model: StatusModel): { snapshots: SyncStatus[]; times: number[] } {
  const seen = { snapshots: [] as SyncStatus[], times: [] as number[] }
  model.onDidChange((status) => {
    seen.snapshots.push(status)
    seen.times.push(performance.now())
  })
  return seen
}

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

describe('StatusModel emission', () => {
  it('emits at most ten snapshots a second through a burst of thousands of updates', async () => {
    const model = new StatusModel()
    models.push(model)
    const seen = record(model)
    model.setFolders([photos])
    model.setFolderState('photos', 'syncing')
    model.transferStarted('photos', 'big.mov', 100_000_000)

    let calls = 0
    let sent = 0
    const started = performance.now()
    while (performance.now() - started < 1000) {
      // Batches with event-loop turns between them, as upload callbacks arrive.
      for (let i = 0; i < 200; i++) {
        model.transferProgress('photos', 'big.mov', 1000)
        sent += 1000
        calls++
      }
      model.setQueue('photos', { filesRemaining: 1, bytesRemaining: 100_000_000 })
      await tick()
    }
    expect(calls).toBeGreaterThan(2000)
    expect(seen.snapshots.some((s) => (s.transfers[0]?.sent ?? 0) > 0)).toBe(true)
    // The last facts land right after an emission, in its cool-down: only the trailing emission
    // can carry them.
    let finished = false
    model.onDidChange(() => {
      if (finished) return
      finished = true
      model.fileDone('photos', 'big.mov', sent)
      model.setQueue('photos', { filesRemaining: 0, bytesRemaining: 0 })
      model.setFolderState('photos', 'idle')
    })
    model.transferProgress('photos', 'big.mov', 1000)
    sent += 1000

    await until(() => seen.snapshots.at(-1)?.state === 'idle')
    expect(seen.snapshots.at(-1)).toMatchObject({
      filesDone: 1,
      bytesDone: sent,
      filesRemaining: 0,
      transfers: [],
      message: 'Everything is stored',
    })
    // Nothing more is pending once the final values are out.
    const count = seen.snapshots.length
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(seen.snapshots.length).toBe(count)

    expect(seen.snapshots.length).toBeGreaterThanOrEqual(3)
    for (let i = 0; i < seen.times.length; i++) {
      const inWindow = seen.times.filter(
        (t) => t >= (seen.times[i] as number) && t < (seen.times[i] as number) + 1000,
      )
      expect(inWindow.length).toBeLessThanOrEqual(10)
    }
  })

  it('emits the first change after quiet at once, coalescing calls made together', async () => {
    const model = new StatusModel()
    models.push(model)
    const seen = record(model)
    model.setFolders([photos])
    model.setFolderState('photos', 'syncing')
    model.setQueue('photos', { filesRemaining: 3, bytesRemaining: 3000 })
    expect(seen.snapshots).toHaveLength(0)
    await tick()
    expect(seen.snapshots).toHaveLength(1)
    expect(seen.snapshots[0]).toMatchObject({ state: 'syncing', filesRemaining: 3 })

    // During the cool-down a change waits, then goes out with the latest values.
    model.setQueue('photos', { filesRemaining: 2, bytesRemaining: 2000 })
    model.setQueue('photos', { filesRemaining: 1, bytesRemaining: 1000 })
    await tick()
    expect(seen.snapshots).toHaveLength(1)
    await until(() => seen.snapshots.length === 2)
    expect(seen.snapshots[1]).toMatchObject({ filesRemaining: 1, bytesRemaining: 1000 })
  })

  it('stops calling a listener once unsubscribed, and everyone once disposed', async () => {
    const model = new StatusModel()
    models.push(model)
    const kept = record(model)
    const dropped: SyncStatus[] = []
    const unsubscribe = model.onDidChange((status) => dropped.push(status))
    model.setFolders([photos])
    await until(() => kept.snapshots.length === 1)
    expect(dropped).toHaveLength(1)
    unsubscribe()
    model.setFolderState('photos', 'paused')
    await until(() => kept.snapshots.length === 2)
    expect(dropped).toHaveLength(1)
    model.dispose()
    model.setFolderState('photos', 'idle')
    await new Promise((resolve) => setTimeout(resolve, 250))
    expect(kept.snapshots).toHaveLength(2)
    // Still readable after dispose.
    expect(model.snapshot().state).toBe('idle')
  })

  it('re-emits while a transfer stalls, so its speed falls without any new fact', async () => {
    const model = new StatusModel()
    models.push(model)
    const seen = record(model)
    model.setFolders([photos])
    model.setFolderState('photos', 'syncing')
    model.transferStarted('photos', 'a.jpg', 10_000)
    model.transferProgress('photos', 'a.jpg', 5000)
    await until(() => seen.snapshots.length >= 1)
    const before = seen.snapshots.length
    await until(() => seen.snapshots.length > before, 5000)
    const speed = (i: number): number => seen.snapshots[i]?.transfers[0]?.bytesPerSecond ?? 0
    expect(speed(before)).toBeLessThan(speed(before - 1))
    model.transferEnded('photos', 'a.jpg')
  })

  it('keeps snapshots already handed out unchanged', () => {
    const { model } = driven()
    model.setFolders([photos])
    model.activity({ folderId: 'photos', relPath: 'a.jpg', kind: 'uploaded', message: '' })
    const first = model.snapshot()
    model.activity({ folderId: 'photos', relPath: 'b.jpg', kind: 'uploaded', message: '' })
    model.setFolderState('photos', 'error', 'Folder missing')
    expect(first.activity).toHaveLength(1)
    expect(first.folders[0]?.state).toBe('idle')
    expect(model.snapshot().activity).toHaveLength(2)
  })
})

describe('StatusModel speed and ETA', () => {
  it('measures speed over the last few seconds, per transfer and overall, and derives the ETA', () => {
    const { model, clock } = driven()
    model.setFolders([photos])
    model.setFolderState('photos', 'syncing')
    model.setQueue('photos', { filesRemaining: 2, bytesRemaining: 30_000_000 })
    model.transferStarted('photos', 'a.mov', 20_000_000)
    model.transferStarted('photos', 'b.mov', 10_000_000)

    // Two seconds in: a at 2 MB/s, b at 1 MB/s.
    for (let ms = 100; ms <= 2000; ms += 100) {
      clock.now += 100
      model.transferProgress('photos', 'a.mov', 200_000)
      model.transferProgress('photos', 'b.mov', 100_000)
    }
    let status = model.snapshot()
    const speedOf = (path: string): number =>
      status.transfers.find((t) => t.relPath === path)?.bytesPerSecond ?? Number.NaN
    expect(speedOf('a.mov')).toBeCloseTo(2_000_000, -5)
    expect(speedOf('b.mov')).toBeCloseTo(1_000_000, -5)
    expect(status.bytesPerSecond).toBeCloseTo(3_000_000, -5)
    // In-flight bytes count as done and no longer as remaining.
    expect(status.bytesDone).toBe(6_000_000)
    expect(status.bytesRemaining).toBe(24_000_000)
    expect(status.etaSeconds).toBe(Math.ceil(24_000_000 / status.bytesPerSecond))
    expect(status.message).toBe('Uploading 2 files — less than a minute left')

    // a slows to 0.5 MB/s for ten seconds: the old pace leaves the window.
    model.transferEnded('photos', 'b.mov')
    model.setQueue('photos', { filesRemaining: 1, bytesRemaining: 20_000_000 })
    for (let ms = 100; ms <= 10_000; ms += 100) {
      clock.now += 100
      model.transferProgress('photos', 'a.mov', 50_000)
    }
    status = model.snapshot()
    // The window is ~5 s of 250 ms buckets, so the figure is within a few per cent.
    expect(Math.abs(speedOf('a.mov') / 500_000 - 1)).toBeLessThan(0.06)
    expect(Math.abs(status.bytesPerSecond / 500_000 - 1)).toBeLessThan(0.06)
    expect(status.bytesRemaining).toBe(20_000_000 - 9_000_000)
    expect(status.etaSeconds).toBeGreaterThanOrEqual(21)
    expect(status.etaSeconds).toBeLessThanOrEqual(23)

    // Stalled for longer than the window: no speed, so no ETA.
    clock.now += 6000
    status = model.snapshot()
    expect(speedOf('a.mov')).toBe(0)
    expect(status.bytesPerSecond).toBe(0)
    expect(status.etaSeconds).toBeUndefined()
    expect(status.message).toBe('Uploading 1 file')
  })

  it('counts finished files for the session and reports no speed once all is done', () => {
    const { model, clock } = driven()
    model.setFolders([photos, docs])
    model.setFolderState('photos', 'syncing')
    model.setQueue('photos', { filesRemaining: 1, bytesRemaining: 4000 })
    model.transferStarted('photos', 'a.jpg', 4000)
    clock.now += 500
    model.transferProgress('photos', 'a.jpg', 4000)
    model.fileDone('photos', 'a.jpg', 4000)
    model.fileDone('docs', 'note.txt', 10)
    model.setQueue('photos', { filesRemaining: 0, bytesRemaining: 0 })
    model.setFolderState('photos', 'idle')
    const status = model.snapshot()
    expect(status.transfers).toEqual([])
    expect(status).toMatchObject({ filesDone: 2, bytesDone: 4010, filesRemaining: 0 })
    expect(status.folders.map((f) => [f.id, f.filesDone, f.bytesDone])).toEqual([
      ['photos', 1, 4000],
      ['docs', 1, 10],
    ])
    expect(status.bytesPerSecond).toBe(0)
    expect(status.etaSeconds).toBeUndefined()
    expect(status.message).toBe('Everything is stored')
  })
})

describe('StatusModel state', () => {
  const cases: [SyncState[], SyncState][] = [
    [[], 'idle'],
    [['idle', 'idle'], 'idle'],
    [['paused', 'paused'], 'paused'],
    [['paused', 'idle'], 'idle'],
    [['paused', 'scanning'], 'scanning'],
    [['scanning', 'syncing'], 'syncing'],
    [['syncing', 'offline'], 'offline'],
    [['offline', 'error'], 'error'],
    [['error', 'needs-sign-in'], 'needs-sign-in'],
    [['needs-sign-in', 'paused'], 'needs-sign-in'],
  ]
  for (const [states, expected] of cases) {
    it(`is ${expected} for folders ${states.join(', ') || '(none)'}`, () => {
      const { model } = driven()
      model.setFolders(states.map((_, i) => ({ ...photos, id: `f${i}`, path: `/f${i}` })))
      states.forEach((state, i) => model.setFolderState(`f${i}`, state))
      expect(model.snapshot().state).toBe(expected)
    })
  }

  it('says where things stand in plain words', () => {
    const { model, clock } = driven()
    expect(model.snapshot().message).toBe('No folders chosen yet')
    model.setFolders([photos, docs])
    expect(model.snapshot().message).toBe('Everything is stored')
    model.setFolderState('docs', 'paused')
    expect(model.snapshot().message).toBe('Everything is stored — Docs is paused')
    model.setFolderState('photos', 'paused')
    expect(model.snapshot().message).toBe('Paused')
    model.setFolderState('photos', 'scanning')
    expect(model.snapshot().message).toBe('Looking for changes')
    model.setFolderState('photos', 'syncing')
    model.setQueue('photos', { filesRemaining: 12, bytesRemaining: 1_000_000 })
    expect(model.snapshot().message).toBe('Uploading 12 files')
    model.transferStarted('photos', 'a.jpg', 200_000_000)
    for (let i = 0; i < 10; i++) {
      clock.now += 1000
      model.transferProgress('photos', 'a.jpg', 1_000_000)
    }
    model.setQueue('photos', { filesRemaining: 12, bytesRemaining: 190_000_000 })
    expect(model.snapshot().message).toBe('Uploading 12 files — 3 min left')
    model.transferEnded('photos', 'a.jpg')
    model.setFolderState('docs', 'offline')
    expect(model.snapshot().message).toBe('Offline — will retry')
    model.setFolderState('photos', 'error', 'The folder is gone')
    expect(model.snapshot().message).toBe("Can't sync Photos: The folder is gone")
    model.setFolderState('docs', 'error')
    expect(model.snapshot().message).toBe("Can't sync 2 folders")
    model.setFolderState('photos', 'needs-sign-in')
    expect(model.snapshot().message).toBe('Sign in again to dstor.example')
    model.setFolderState('docs', 'needs-sign-in')
    expect(model.snapshot().message).toBe('Sign in again to dstor.example and a2')
  })

  it('keeps the state of folders that stay and drops what belonged to removed ones', () => {
    const { model } = driven()
    model.setFolders([photos, docs])
    model.setFolderState('photos', 'paused', 'Paused by you')
    model.setDegraded('photos', 'Changes are found by rescanning every 10 minutes')
    model.transferStarted('docs', 'x.txt', 10)
    model.setFailed('docs', [{ folderId: 'docs', relPath: 'y.txt', reason: 'Locked', attempts: 2 }])
    model.setFolders([{ ...photos, path: '/mnt/Photos' }])
    const status = model.snapshot()
    expect(status.folders).toEqual([
      expect.objectContaining({
        id: 'photos',
        path: '/mnt/Photos',
        state: 'paused',
        message: 'Paused by you',
        degraded: 'Changes are found by rescanning every 10 minutes',
      }),
    ])
    expect(status.transfers).toEqual([])
    expect(status.failed).toEqual([])
    model.setDegraded('photos', undefined)
    expect(model.snapshot().folders[0]?.degraded).toBeUndefined()
  })
})

describe('StatusModel activity and failures', () => {
  it('keeps the 200 newest activity entries, newest first, stamped by the clock', () => {
    const { model, clock } = driven()
    model.setFolders([photos])
    for (let i = 0; i < 250; i++) {
      clock.now += 1000
      model.activity({ folderId: 'photos', relPath: `f${i}.jpg`, kind: 'uploaded', message: '' })
    }
    const { activity } = model.snapshot()
    expect(activity).toHaveLength(ACTIVITY_LIMIT)
    expect(activity[0]).toMatchObject({ relPath: 'f249.jpg', at: clock.now, id: 250 })
    expect(activity.at(-1)).toMatchObject({ relPath: 'f50.jpg', id: 51 })
    for (let i = 1; i < activity.length; i++) {
      expect((activity[i - 1]?.at ?? 0) > (activity[i]?.at ?? 0)).toBe(true)
    }
  })

  it('lists failed files per folder, with their count, and replaces a folder list as a whole', () => {
    const { model } = driven()
    model.setFolders([photos, docs])
    model.setFailed('photos', [
      { folderId: 'photos', relPath: 'a.jpg', reason: 'Permission denied', attempts: 3 },
      {
        folderId: 'photos',
        relPath: 'b.jpg',
        reason: 'The server refused it: too large',
        attempts: 1,
        nextAttemptAt: 5,
      },
    ])
    model.setFailed('docs', [
      { folderId: 'docs', relPath: 'c.txt', reason: 'Changed while reading', attempts: 1 },
    ])
    let status = model.snapshot()
    expect(status.failed.map((f) => `${f.folderId}:${f.relPath}`)).toEqual([
      'photos:a.jpg',
      'photos:b.jpg',
      'docs:c.txt',
    ])
    expect(status.folders.map((f) => f.failed)).toEqual([2, 1])
    expect(status.message).toBe('Everything else is stored — 3 files could not be uploaded')

    model.setFailed('photos', [])
    status = model.snapshot()
    expect(status.failed.map((f) => f.relPath)).toEqual(['c.txt'])
    expect(status.message).toBe('Everything else is stored — 1 file could not be uploaded')
  })
})

describe('formatDuration', () => {
  it('speaks like a person', () => {
    expect(formatDuration(5)).toBe('less than a minute')
    expect(formatDuration(180)).toBe('3 min')
    expect(formatDuration(3600)).toBe('1 h')
    expect(formatDuration(2 * 3600 + 5 * 60)).toBe('2 h 5 min')
    expect(formatDuration(3 * 86_400)).toBe('3 days')
  })
})
