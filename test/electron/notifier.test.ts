import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { Notifier, type FerryNotification } from '../../main/electron/notifier.ts'
import { RateLimiter } from '../../main/electron/rate-limiter.ts'
import { StatusModel, type FailedFile, type SyncStatus } from '../../main/sync/sync-status.ts'

const MINUTE = 60_000

describe('RateLimiter', () => {
  it('lets one event per key through per interval', () => {
    let now = 0
    const limiter = new RateLimiter(10 * MINUTE, () => now)
    expect(limiter.tryTake('failed')).toBe(true)
    expect(limiter.tryTake('failed')).toBe(false)
    expect(limiter.tryTake('needs-sign-in')).toBe(true)
    expect(limiter.nextAt('failed')).toBe(10 * MINUTE)
    now = 10 * MINUTE - 1
    expect(limiter.tryTake('failed')).toBe(false)
    now = 10 * MINUTE
    expect(limiter.tryTake('failed')).toBe(true)
    expect(limiter.nextAt('never')).toBe(-Infinity)
  })
})

describe('Notifier', () => {
  let model: StatusModel
  let shown: FerryNotification[]
  let enabled: boolean
  let notifier: Notifier

  const failed = (...names: string[]): FailedFile[] =>
    names.map((relPath) => ({
      folderId: 'f1',
      relPath,
      reason: 'The server refused it',
      attempts: 3,
    }))
  const feed = (change: (m: StatusModel) => void): SyncStatus => {
    change(model)
    const status = model.snapshot()
    notifier.update(status)
    return status
  }

  beforeEach(() => {
    vi.useFakeTimers()
    shown = []
    enabled = true
    model = new StatusModel(() => Date.now())
    model.setFolders([
      { id: 'f1', path: '/home/me/Photos', accountId: 'kala-a', accountLabel: 'Kala at a' },
      { id: 'f2', path: '/home/me/Docs', accountId: 'dstor-b', accountLabel: 'dStor at b' },
    ])
    notifier = new Notifier({
      show: (n) => void shown.push(n),
      enabled: () => enabled,
      intervalMs: 10 * MINUTE,
      gatherMs: 5000,
      now: () => Date.now(),
    })
  })
  afterEach(() => {
    notifier.dispose()
    model.dispose()
    vi.useRealTimers()
  })

  it('coalesces a burst of failures into one notification, never one per file', async () => {
    feed((m) => m.setFailed('f1', failed('a.jpg')))
    feed((m) => m.setFailed('f1', failed('a.jpg', 'b.jpg')))
    feed((m) => m.setFailed('f1', failed('a.jpg', 'b.jpg', 'c.jpg')))
    expect(shown).toEqual([])
    await vi.advanceTimersByTimeAsync(5000)
    expect(shown).toEqual([
      { kind: 'failed', title: '3 files could not be uploaded', body: 'The server refused it' },
    ])
    // The same failures again (every status repeats them): nothing new.
    feed((m) => m.setQueue('f1', { filesRemaining: 1, bytesRemaining: 10 }))
    await vi.advanceTimersByTimeAsync(30 * MINUTE)
    expect(shown).toHaveLength(1)
  })

  it('at most one per kind per interval: later failures wait for the next slot, told together', async () => {
    feed((m) => m.setFailed('f1', failed('a.jpg')))
    await vi.advanceTimersByTimeAsync(5000)
    expect(shown.map((n) => n.title)).toEqual(['A file could not be uploaded'])
    expect(shown[0]?.body).toBe('a.jpg: The server refused it')

    await vi.advanceTimersByTimeAsync(MINUTE)
    feed((m) => m.setFailed('f1', failed('a.jpg', 'd.jpg')))
    await vi.advanceTimersByTimeAsync(2 * MINUTE)
    feed((m) => m.setFailed('f1', failed('a.jpg', 'd.jpg', 'e.jpg')))
    // Another kind has its own slot.
    feed((m) => m.setFolderState('f2', 'needs-sign-in'))
    await vi.advanceTimersByTimeAsync(5000)
    expect(shown.map((n) => n.title)).toEqual([
      'A file could not be uploaded',
      'Sign in again to dStor at b',
    ])
    // The failure slot opens ten minutes after the first notification.
    await vi.advanceTimersByTimeAsync(10 * MINUTE - 3 * MINUTE - 2 * 5000 - 1)
    expect(shown).toHaveLength(2)
    await vi.advanceTimersByTimeAsync(5001)
    expect(shown.map((n) => n.title)).toEqual([
      'A file could not be uploaded',
      'Sign in again to dStor at b',
      '2 files could not be uploaded',
    ])
  })

  it('tells "needs sign-in" once while it lasts, again if it comes back later', async () => {
    feed((m) => m.setFolderState('f1', 'needs-sign-in'))
    await vi.advanceTimersByTimeAsync(5000)
    expect(shown).toEqual([
      {
        kind: 'needs-sign-in',
        title: 'Sign in again to Kala at a',
        body: 'Uploads there wait until you sign in again. Open Ferry to sign in.',
      },
    ])
    for (let i = 0; i < 20; i++) {
      feed((m) => m.setQueue('f1', { filesRemaining: i, bytesRemaining: i }))
      await vi.advanceTimersByTimeAsync(MINUTE)
    }
    expect(shown).toHaveLength(1)
    feed((m) => m.setFolderState('f1', 'idle'))
    feed((m) => m.setFolderState('f1', 'needs-sign-in'))
    await vi.advanceTimersByTimeAsync(5000)
    expect(shown).toHaveLength(2)
  })

  it('says nothing of a problem gone before the notification goes out', async () => {
    feed((m) => m.setFailed('f1', failed('flaky.jpg')))
    feed((m) => m.setFolderState('f2', 'error', 'The folder is gone'))
    await vi.advanceTimersByTimeAsync(1000)
    feed((m) => {
      m.setFailed('f1', [])
      m.setFolderState('f2', 'idle')
    })
    await vi.advanceTimersByTimeAsync(30 * MINUTE)
    expect(shown).toEqual([])
  })

  it('tells a folder error with its reason', async () => {
    feed((m) => m.setFolderState('f2', 'error', 'The folder is gone'))
    await vi.advanceTimersByTimeAsync(5000)
    expect(shown).toEqual([
      { kind: 'folder-error', title: "Can't sync Docs", body: 'The folder is gone' },
    ])
  })

  it('stays quiet while the notifications preference is off', async () => {
    enabled = false
    feed((m) => m.setFailed('f1', failed('a.jpg', 'b.jpg')))
    feed((m) => m.setFolderState('f2', 'needs-sign-in'))
    await vi.advanceTimersByTimeAsync(30 * MINUTE)
    expect(shown).toEqual([])
    // Turned back on: new problems are told, the old ones were dropped, not saved up.
    enabled = true
    feed((m) => m.setFailed('f1', failed('a.jpg', 'b.jpg', 'c.jpg')))
    await vi.advanceTimersByTimeAsync(5000)
    expect(shown.map((n) => n.title)).toEqual(['A file could not be uploaded'])
  })
})
