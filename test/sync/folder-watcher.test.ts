import { execFileSync } from 'node:child_process'
import { appendFile, lstat, mkdir, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, describe, expect, it } from 'vitest'
import { ExcludeMatcher } from '../../main/sync/excludes.ts'
import {
  EXCLUDE_RULES_CHANGED,
  exhaustionMessage,
  FolderWatcher,
  type FolderWatcherOptions,
  simulateWatchFailure,
  type WatchChange,
} from '../../main/sync/folder-watcher.ts'
import { SettleTracker, type Look } from '../../main/sync/settle-tracker.ts'
import { tempDir } from '../helpers/tree.ts'

const SETTLE_MS = 200
const CAP_MS = 1500
// Long enough for a change that should not come to have come, were it coming.
const QUIET_MS = 3 * SETTLE_MS

interface Harness {
  readonly watcher: FolderWatcher
  readonly batches: { readonly at: number; readonly changes: readonly WatchChange[] }[]
  readonly degradedCalls: string[]
  /** Every change so far, in delivery order. */
  changes(): WatchChange[]
  /** Changes about one path (rescans have none). */
  about(relPath: string): WatchChange[]
  rescans(): string[]
}

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function folder(): Promise<string> {
  const dir = await tempDir('ferry-watch-')
  cleanups.push(dir.dispose)
  return dir.path
}

function pathOf(change: WatchChange): string {
  return change.type === 'rescan' ? '' : change.relPath
}

function harness(root: string, options: Partial<FolderWatcherOptions> = {}): Harness {
  const batches: { at: number; changes: readonly WatchChange[] }[] = []
  const degradedCalls: string[] = []
  const watcher = new FolderWatcher({
    root,
    excludes: new ExcludeMatcher(),
    settleMs: SETTLE_MS,
    capMs: CAP_MS,
    onChanges: (changes) => {
      // Every batch, in every test, must come sorted by relPath (rescans first).
      const keys = changes.map(pathOf)
      expect(keys).toEqual([...keys].sort())
      batches.push({ at: performance.now(), changes })
    },
    onDegraded: (message) => degradedCalls.push(message),
    ...options,
  })
  cleanups.push(() => watcher.close())
  const changes = (): WatchChange[] => batches.flatMap((batch) => batch.changes)
  return {
    watcher,
    batches,
    degradedCalls,
    changes,
    about: (relPath) => changes().filter((change) => pathOf(change) === relPath),
    rescans: () => changes().flatMap((c) => (c.type === 'rescan' ? [c.reason] : [])),
  }
}

async function started(root: string, options: Partial<FolderWatcherOptions> = {}) {
  const h = harness(root, options)
  await h.watcher.start()
  return h
}

/** Polls until `probe` returns something truthy; fails with what was seen on timeout. */
async function waitFor<T>(
  h: Harness,
  what: string,
  probe: () => T | undefined | false,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    const found = probe()
    if (found) return found
    if (performance.now() > deadline) {
      throw new Error(`timed out waiting for ${what}; saw ${JSON.stringify(h.changes())}`)
    }
    await sleep(20)
  }
}

function fileChange(h: Harness, relPath: string, growing = false) {
  return h
    .about(relPath)
    .find(
      (c): c is Extract<WatchChange, { type: 'file' }> =>
        c.type === 'file' && c.growing === growing,
    )
}

function hasRemoved(h: Harness, relPath: string, folder: boolean): boolean {
  return h.about(relPath).some((c) => c.type === 'removed' && c.folder === folder)
}

describe('FolderWatcher', () => {
  it('reports a new file once it settled, with its lstat size, mtime and inode', async () => {
    const root = await folder()
    const h = await started(root)
    await mkdir(join(root, 'docs/2024'), { recursive: true })
    const written = performance.now()
    await writeFile(join(root, 'docs/2024/report.txt'), 'hello')
    const change = await waitFor(h, 'the file', () => fileChange(h, 'docs/2024/report.txt'))
    // Two looks settleMs apart came before it.
    expect(h.batches[0]!.at - written).toBeGreaterThanOrEqual(SETTLE_MS)
    const stats = await lstat(join(root, 'docs/2024/report.txt'))
    expect(change).toEqual({
      type: 'file',
      relPath: 'docs/2024/report.txt',
      size: 5,
      mtimeMs: stats.mtimeMs,
      ino: stats.ino,
      growing: false,
    })
    await sleep(QUIET_MS)
    // Nothing for the folders themselves, nothing twice.
    expect(h.changes()).toEqual([change])
  })

  it('reports a modified file, and nothing that existed before start()', async () => {
    const root = await folder()
    await writeFile(join(root, 'old.txt'), 'old')
    await writeFile(join(root, 'notes.md'), 'v1')
    const h = await started(root)
    await writeFile(join(root, 'notes.md'), 'version 2')
    await waitFor(h, 'the change', () => fileChange(h, 'notes.md'))
    await sleep(QUIET_MS)
    expect(h.changes()).toEqual([expect.objectContaining({ relPath: 'notes.md', size: 9 })])
  })

  it('turns a burst of 50 saves into one change, after the last save', async () => {
    const root = await folder()
    // No cap inside the burst, however slow the machine: this test is about settling.
    const h = await started(root, { capMs: 60_000 })
    let lastWrite = 0
    for (let i = 1; i <= 50; i++) {
      await writeFile(join(root, 'burst.txt'), 'x'.repeat(i))
      lastWrite = performance.now()
      await sleep(20)
    }
    await waitFor(h, 'the settled file', () => fileChange(h, 'burst.txt'))
    expect(h.batches[0]!.at - lastWrite).toBeGreaterThanOrEqual(SETTLE_MS - 5)
    await sleep(QUIET_MS)
    expect(h.changes()).toEqual([expect.objectContaining({ relPath: 'burst.txt', size: 50 })])
  })

  it('reports a file that keeps growing at the cap, then again once it settled', async () => {
    const root = await folder()
    // Appends every 200 ms; settling needs 500 ms of calm, which only the end brings.
    const h = await started(root, { settleMs: 500, capMs: CAP_MS })
    const path = join(root, 'recording.wav')
    await writeFile(path, '')
    const started_ = performance.now()
    while (performance.now() - started_ < 3000) {
      await appendFile(path, 'x'.repeat(100))
      await sleep(200)
    }
    const finalSize = (await lstat(path)).size
    await waitFor(
      h,
      'the settled file',
      () => fileChange(h, 'recording.wav')?.size === finalSize,
      15_000,
    )
    const seen = h.about('recording.wav')
    const growing = seen.filter((c) => c.type === 'file' && c.growing)
    expect(growing.length).toBeGreaterThanOrEqual(1)
    // A cap of 1.5 s over 3 s of appends: once or twice, not on every append.
    expect(growing.length).toBeLessThanOrEqual(3)
    expect(seen.at(-1)).toMatchObject({ type: 'file', growing: false, size: finalSize })
    for (const change of growing) expect((change as { size: number }).size).toBeLessThan(finalSize)
  })

  it('reports a rename as the old path removed and the new one with the same inode', async () => {
    const root = await folder()
    await writeFile(join(root, 'draft.txt'), 'text')
    const { ino } = await lstat(join(root, 'draft.txt'))
    const h = await started(root)
    await rename(join(root, 'draft.txt'), join(root, 'final.txt'))
    await waitFor(
      h,
      'both halves',
      () => hasRemoved(h, 'draft.txt', false) && fileChange(h, 'final.txt'),
    )
    expect(fileChange(h, 'final.txt')?.ino).toBe(ino)
    await sleep(QUIET_MS)
    expect(h.changes()).toHaveLength(2)
  })

  it('reports every file of a folder moved in, and one removal for a folder moved out', async () => {
    const root = await folder()
    const outside = await folder()
    await mkdir(join(outside, 'album/raw'), { recursive: true })
    await writeFile(join(outside, 'album/1.jpg'), 'one')
    await writeFile(join(outside, 'album/2.jpg'), 'two')
    await writeFile(join(outside, 'album/raw/3.dng'), 'three')
    await writeFile(join(outside, 'album/raw/partial.tmp'), 'excluded by default')
    const h = await started(root)

    await rename(join(outside, 'album'), join(root, 'album'))
    const files = ['album/1.jpg', 'album/2.jpg', 'album/raw/3.dng']
    await waitFor(h, 'the moved-in files', () => files.every((f) => fileChange(h, f)))
    await sleep(QUIET_MS)
    expect(h.changes().map(pathOf).sort()).toEqual(files)

    const before = h.changes().length
    await rename(join(root, 'album'), join(outside, 'album-back'))
    await waitFor(h, 'the folder removal', () => hasRemoved(h, 'album', true))
    await sleep(QUIET_MS)
    // One removal for the whole folder, none for what was in it.
    expect(h.changes().slice(before)).toEqual([{ type: 'removed', relPath: 'album', folder: true }])
  })

  it('reports a deleted file as removed', async () => {
    const root = await folder()
    await mkdir(join(root, 'sub'))
    await writeFile(join(root, 'sub/gone.txt'), 'bye')
    const h = await started(root)
    await unlink(join(root, 'sub/gone.txt'))
    await waitFor(h, 'the removal', () => hasRemoved(h, 'sub/gone.txt', false))
    await sleep(QUIET_MS)
    expect(h.changes()).toEqual([{ type: 'removed', relPath: 'sub/gone.txt', folder: false }])
  })

  it('reports an atomic save (temp file renamed over the original) as a change', async () => {
    const root = await folder()
    await writeFile(join(root, 'doc.txt'), 'first version')
    const { ino } = await lstat(join(root, 'doc.txt'))
    const h = await started(root)
    await writeFile(join(root, 'doc.txt.tmp'), 'second, longer version')
    await rename(join(root, 'doc.txt.tmp'), join(root, 'doc.txt'))
    const change = await waitFor(h, 'the change', () => fileChange(h, 'doc.txt'))
    expect(change.size).toBe('second, longer version'.length)
    expect(change.ino).not.toBe(ino)
    await sleep(QUIET_MS)
    expect(h.changes()).toEqual([change])
  })

  it('unlinked then recreated within settle is a change, not a removal', async () => {
    const root = await folder()
    await writeFile(join(root, 'config.ini'), 'a=1')
    const h = await started(root)
    await unlink(join(root, 'config.ini'))
    await writeFile(join(root, 'config.ini'), 'a=2\nb=3')
    await waitFor(h, 'the change', () => fileChange(h, 'config.ini'))
    await sleep(QUIET_MS)
    expect(h.changes()).toEqual([expect.objectContaining({ type: 'file', size: 7 })])
  })

  it('never reports excluded files and folders: defaults, user patterns, negation', async () => {
    const root = await folder()
    await mkdir(join(root, 'build'))
    await writeFile(join(root, 'build/old.bin'), 'old')
    const h = await started(root, {
      excludes: new ExcludeMatcher(['*.log', '!keep.log', 'build/']),
    })
    await writeFile(join(root, 'build/old.bin'), 'changed')
    await writeFile(join(root, 'build/new.bin'), 'new')
    await mkdir(join(root, 'src/build'), { recursive: true })
    await writeFile(join(root, 'src/build/gen.js'), 'generated')
    await writeFile(join(root, 'src/main.js'), 'main')
    await writeFile(join(root, 'cache.tmp'), 'tmp')
    await writeFile(join(root, '.DS_Store'), 'mac')
    await writeFile(join(root, 'debug.log'), 'log')
    await writeFile(join(root, 'keep.log'), 'kept')
    await unlink(join(root, 'cache.tmp'))
    await writeFile(join(root, 'zz-last.txt'), 'sentinel')
    await waitFor(h, 'the sentinel', () => fileChange(h, 'zz-last.txt'))
    await sleep(QUIET_MS)
    expect(h.changes().map(pathOf).sort()).toEqual(['keep.log', 'src/main.js', 'zz-last.txt'])
  })

  it('reports editor backups the user re-included (chokidar’s own atomic filter is off)', async () => {
    const root = await folder()
    const h = await started(root, { excludes: new ExcludeMatcher(['!*~']) })
    await writeFile(join(root, 'notes.txt~'), 'backup')
    await waitFor(h, 'the backup', () => fileChange(h, 'notes.txt~'))
  })

  it('setExcludes re-includes and excludes, folders included', async () => {
    const root = await folder()
    await mkdir(join(root, 'build'))
    await writeFile(join(root, 'build/a.bin'), 'a')
    const h = await started(root, { excludes: new ExcludeMatcher(['build/', '*.log']) })
    h.watcher.setExcludes(new ExcludeMatcher(['*.txt']))
    await h.watcher.whenWatching()
    await writeFile(join(root, 'build/a.bin'), 'a changed')
    await writeFile(join(root, 'app.log'), 'log')
    await writeFile(join(root, 'readme.txt'), 'now excluded')
    await writeFile(join(root, 'zz-last.bin'), 'sentinel')
    await waitFor(h, 'the sentinel', () => fileChange(h, 'zz-last.bin'))
    await waitFor(h, 'the re-included folder', () => fileChange(h, 'build/a.bin'))
    await sleep(QUIET_MS)
    expect(h.changes().map(pathOf).sort()).toEqual(['app.log', 'build/a.bin', 'zz-last.bin'])
  })

  it('asks for a rescan when .ferryignore is created, changed or removed', async () => {
    const root = await folder()
    const h = await started(root)
    const ferryignore = join(root, '.ferryignore')
    const rescans = () => h.rescans().filter((r) => r === EXCLUDE_RULES_CHANGED).length

    await writeFile(ferryignore, '*.mov\n')
    await waitFor(h, 'a rescan on create', () => rescans() === 1)
    await writeFile(ferryignore, '*.mov\n*.mp4\n')
    await waitFor(h, 'a rescan on change', () => rescans() === 2)
    await unlink(ferryignore)
    await waitFor(h, 'a rescan on removal', () => rescans() === 3)
    await sleep(QUIET_MS)
    expect(rescans()).toBe(3)
    // The file itself is synced like any other.
    expect(hasRemoved(h, '.ferryignore', false)).toBe(true)
    // A .ferryignore deeper down is just a file.
    await mkdir(join(root, 'sub'))
    await writeFile(join(root, 'sub/.ferryignore'), 'x')
    await waitFor(h, 'the nested file', () => fileChange(h, 'sub/.ferryignore'))
    await sleep(QUIET_MS)
    expect(rescans()).toBe(3)
  })

  it('reports symlinks (never followed) and FIFOs as special', async () => {
    const root = await folder()
    const outside = await folder()
    await mkdir(join(outside, 'target-dir'))
    await writeFile(join(outside, 'target-dir/inside.txt'), 'not ours')
    await writeFile(join(outside, 'target.txt'), 'not ours either')
    const h = await started(root)
    await symlink(join(outside, 'target.txt'), join(root, 'link-to-file'))
    await symlink(join(outside, 'target-dir'), join(root, 'link-to-dir'))
    execFileSync('mkfifo', [join(root, 'pipe')])
    const specials = () => h.changes().filter((c) => c.type === 'special')
    await waitFor(h, 'three specials', () => specials().length === 3)
    await writeFile(join(outside, 'target-dir/inside.txt'), 'changed behind the link')
    await sleep(QUIET_MS)
    expect(h.changes()).toEqual([
      { type: 'special', relPath: 'link-to-dir', kind: 'symlink' },
      { type: 'special', relPath: 'link-to-file', kind: 'symlink' },
      { type: 'special', relPath: 'pipe', kind: 'other' },
    ])
  })

  it('falls back to periodic rescans when the system runs out of watches', async () => {
    const root = await folder()
    const h = await started(root, { fallbackRescanMs: 300 })
    expect(h.watcher.degraded).toBeUndefined()
    expect(simulateWatchFailure(h.watcher, 'ENOSPC', join(root, 'deep/folder'))).toBe(true)

    expect(h.watcher.degraded).toBe(exhaustionMessage('ENOSPC', root, 300))
    expect(h.watcher.degraded).toContain(root)
    if (process.platform === 'linux') {
      expect(h.watcher.degraded).toContain(
        'To fix: echo fs.inotify.max_user_watches=524288 | sudo tee /etc/sysctl.d/60-ferry.conf' +
          ' && sudo sysctl --system',
      )
    }
    expect(h.degradedCalls).toEqual([h.watcher.degraded])

    const ticks = () => h.batches.filter((b) => b.changes.some((c) => c.type === 'rescan'))
    await waitFor(h, 'the immediate rescan', () => ticks().length >= 1)
    // Chokidar is closed: a file written now is found by the rescans, not reported.
    await writeFile(join(root, 'unseen.txt'), 'x')
    await waitFor(h, 'four rescans', () => ticks().length >= 4)
    const [first, , , fourth] = ticks()
    // Paced by fallbackRescanMs, give or take timer jitter on a busy machine.
    expect(fourth!.at - first!.at).toBeGreaterThanOrEqual(3 * 300 - 200)
    expect(h.changes().every((c) => c.type === 'rescan')).toBe(true)
    expect(h.rescans()[0]).toMatch(/ENOSPC/)

    // Nothing left to fail, and onDegraded stays called once.
    expect(simulateWatchFailure(h.watcher, 'ENOSPC')).toBe(false)
    expect(h.degradedCalls).toHaveLength(1)

    await h.watcher.close()
    const count = h.batches.length
    await sleep(3 * 300)
    expect(h.batches.length).toBe(count)
  })

  it('asks for a rescan on other watch errors, at most once a period, and keeps watching', async () => {
    const root = await folder()
    const h = await started(root, { fallbackRescanMs: 400 })
    const unreadable = join(root, 'private')
    expect(simulateWatchFailure(h.watcher, 'EACCES', unreadable)).toBe(true)
    await waitFor(h, 'the rescan', () => h.rescans().length === 1)
    expect(h.rescans()[0]).toBe(`Ferry could not watch private in ${root}: permission denied`)
    expect(h.watcher.degraded).toBeUndefined()
    expect(h.degradedCalls).toEqual([])

    // The same failure again and again: one more rescan, a period after the first.
    for (let i = 0; i < 3; i++) simulateWatchFailure(h.watcher, 'EACCES', unreadable)
    await waitFor(h, 'the second rescan', () => h.rescans().length === 2)
    expect(h.batches[1]!.at - h.batches[0]!.at).toBeGreaterThanOrEqual(400 - 30)
    await sleep(QUIET_MS)
    expect(h.rescans()).toHaveLength(2)

    await writeFile(join(root, 'still-watched.txt'), 'yes')
    await waitFor(h, 'the file', () => fileChange(h, 'still-watched.txt'))
  })

  it('asks for a rescan, and reports no removal, when the folder itself goes', async () => {
    const root = await folder()
    await writeFile(join(root, 'a.txt'), 'a')
    const h = await started(root)
    await rm(root, { recursive: true })
    await waitFor(h, 'the rescan', () => h.rescans().some((r) => r.includes('removed, moved')))
    await sleep(QUIET_MS)
    // Never "everything is gone" (an unmounted drive looks the same): the engine rescans.
    expect(h.changes().filter((c) => c.type !== 'rescan')).toEqual([])
  })

  it('batches what falls due together', async () => {
    const root = await folder()
    const h = await started(root)
    const names = Array.from({ length: 20 }, (_, i) => `f${String(19 - i).padStart(2, '0')}.txt`)
    await Promise.all(names.map((name) => writeFile(join(root, name), name)))
    await waitFor(h, 'all files', () => names.every((name) => fileChange(h, name)))
    // Sorted within each batch (checked in the harness), and not one call per file.
    expect(h.batches.length).toBeLessThan(names.length)
  })

  it('makes no callback once close() is called', async () => {
    const root = await folder()
    const h = await started(root)
    await writeFile(join(root, 'pending.txt'), 'on the books')
    await sleep(SETTLE_MS / 2)
    await h.watcher.close()
    await writeFile(join(root, 'after.txt'), 'too late')
    await sleep(QUIET_MS)
    expect(h.batches).toEqual([])
    // Closing before start() finished releases it too.
    const early = harness(root)
    const starting = early.watcher.start()
    await early.watcher.close()
    await starting
    await expect(early.watcher.start()).rejects.toThrow(/already/)
  })
})

describe('SettleTracker', () => {
  const file = (size: number, ino = 7): Look => ({ kind: 'file', size, mtimeMs: size, ino })

  it('settles on two equal looks settleMs apart', () => {
    const t = new SettleTracker(200, 10_000)
    const gen = t.touch('a', 0)
    t.record('a', gen, file(1), 0)
    expect(t.duePaths(199)).toEqual([])
    expect(t.duePaths(200)).toEqual([{ relPath: 'a', gen }])
    expect(t.judge('a', gen, file(2), 200)).toBe('wait')
    expect(t.nextDue()).toBe(400)
    expect(t.judge('a', gen, file(2), 400)).toBe('settled')
    expect(t.size).toBe(0)
  })

  it('does not trust a look an event came after', () => {
    const t = new SettleTracker(200, 10_000)
    const gen = t.touch('a', 0)
    t.record('a', gen, file(1), 0)
    const later = t.touch('a', 150)
    expect(t.judge('a', gen, file(1), 200)).toBe('stale')
    // The event's own look must still be settleMs old before it counts.
    t.record('a', later, file(1), 150)
    expect(t.judge('a', later, file(1), 300)).toBe('wait')
    expect(t.nextDue()).toBe(350)
    expect(t.judge('a', later, file(1), 350)).toBe('settled')
  })

  it('reports a file that never settles as growing every capMs', () => {
    const t = new SettleTracker(200, 1000)
    const gen = t.touch('a', 0)
    const verdicts: [number, string][] = []
    for (let now = 200; now <= 2400; now += 200) {
      verdicts.push([now, t.judge('a', gen, file(now), now)])
    }
    expect(verdicts.filter(([, v]) => v === 'growing').map(([now]) => now)).toEqual([1000, 2000])
  })

  it('treats a vanished path like any other look', () => {
    const t = new SettleTracker(200, 1000)
    const gen = t.touch('a', 0)
    t.record('a', gen, { kind: 'missing' }, 0)
    expect(t.judge('a', gen, { kind: 'missing' }, 200)).toBe('settled')
  })

  it('forgets what was under a removed folder, not its namesakes', () => {
    const t = new SettleTracker(200, 1000)
    t.touch('a/b', 0)
    t.touch('a/b/c.txt', 0)
    t.touch('a/bc.txt', 0)
    t.folderGone('a/b/deeper', 0)
    t.folderGone('a/b', 10)
    expect(t.duePaths(1000).map((d) => d.relPath)).toEqual(['a/b', 'a/bc.txt'])
    expect(t.takeDueFolders(1000)).toEqual(['a/b'])
    expect(t.takeDueFolders(1000)).toEqual([])
  })
})

describe('exhaustionMessage', () => {
  it('says what happened and gives the fix', () => {
    expect(exhaustionMessage('ENOSPC', '/home/ann/Photos', 60_000, 'linux')).toBe(
      'The system ran out of file watches (inotify). Ferry will rescan /home/ann/Photos every ' +
        'minute instead. To fix: echo fs.inotify.max_user_watches=524288 | sudo tee ' +
        '/etc/sysctl.d/60-ferry.conf && sudo sysctl --system',
    )
    const emfile = exhaustionMessage('EMFILE', '/home/ann/Photos', 300_000, 'linux')
    expect(emfile).toContain('every 5 minutes')
    expect(emfile).toContain('fs.inotify.max_user_instances')
    expect(emfile).toContain('ulimit -n')
    expect(exhaustionMessage('EMFILE', '/Users/ann', 60_000, 'darwin')).toContain(
      'sudo launchctl limit maxfiles',
    )
  })
})
