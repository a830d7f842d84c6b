import { FSWatcher } from 'chokidar'
import type { Stats } from 'node:fs'
import { lstat, readdir } from 'node:fs/promises'
import { constants } from 'node:os'
import { isAbsolute, join, relative, resolve, sep } from 'node:path'
import { fsErrorReason } from '../backends/local-file.ts'
import { type ExcludeMatcher, FERRYIGNORE } from './excludes.ts'
import { type Look, SettleTracker } from './settle-tracker.ts'

/** One thing the watcher tells the engine; see each variant. */
export type WatchChange =
  // A regular file that stopped changing: size and mtime stable for settleMs. `growing` is true
  // when it is emitted because it kept changing for capMs (it is emitted again when it settles).
  | {
      readonly type: 'file'
      readonly relPath: string
      readonly size: number
      readonly mtimeMs: number
      readonly ino: number
      readonly growing: boolean
    }
  // A file, or a whole folder (folder: true — everything under relPath), is gone.
  | { readonly type: 'removed'; readonly relPath: string; readonly folder: boolean }
  // Not a regular file: symlink (never followed) or FIFO/socket/device. The engine decides.
  | { readonly type: 'special'; readonly relPath: string; readonly kind: 'symlink' | 'other' }
  // The engine should rescan the folder: the watcher cannot vouch for what it saw.
  | { readonly type: 'rescan'; readonly reason: string }

/** How a FolderWatcher is set up; the times are in milliseconds. */
export interface FolderWatcherOptions {
  /** Absolute folder. */
  readonly root: string
  /** Excluded paths (folders matched with isFolder=true) are neither watched nor reported. */
  readonly excludes: ExcludeMatcher
  /** How long size and mtime must stay the same before a file is reported. Default 1000. */
  readonly settleMs?: number
  /** A file still changing after this long is reported as growing. Default 60_000. */
  readonly capMs?: number
  /** Once watching is impossible, the folder is rescanned this often. Default 60_000. */
  readonly fallbackRescanMs?: number
  /** Batched: all changes that became due together, sorted by relPath (rescans first). */
  readonly onChanges: (changes: readonly WatchChange[]) => void
  /** Called once when the system's watch limits are exhausted, with what to do about it. */
  readonly onDegraded?: (message: string) => void
}

/** The reason of the rescan asked for when the root's `.ferryignore` changed. */
export const EXCLUDE_RULES_CHANGED = 'exclude rules changed'

// The system ran out of watches or of file descriptors: retrying will not help, rescans will.
const EXHAUSTION_CODES: ReadonlySet<string> = new Set(['ENOSPC', 'EMFILE', 'ENFILE'])

/** "every minute", "every 5 minutes", "every 30 seconds", "every 300 ms". */
function describeEvery(ms: number): string {
  if (ms === 60_000) return 'every minute'
  if (ms % 60_000 === 0) return `every ${ms / 60_000} minutes`
  if (ms >= 1000) return `every ${Math.round(ms / 100) / 10} seconds`
  return `every ${ms} ms`
}

/**
 * What the user is told when watching `root` hit a system limit (`code` ENOSPC, EMFILE or
 * ENFILE): what happened, what Ferry does instead, and the command that fixes it.
 */
export function exhaustionMessage(
  code: string,
  root: string,
  fallbackRescanMs: number,
  platform: NodeJS.Platform = process.platform,
): string {
  const instead = `Ferry will rescan ${root} ${describeEvery(fallbackRescanMs)} instead.`
  if (code === 'ENOSPC') {
    if (platform === 'linux') {
      return (
        `The system ran out of file watches (inotify). ${instead} To fix: ` +
        'echo fs.inotify.max_user_watches=524288 | sudo tee /etc/sysctl.d/60-ferry.conf && ' +
        'sudo sysctl --system'
      )
    }
    return (
      `The system ran out of file watches. ${instead} To fix: exclude large folders that ` +
      'do not need uploading in .ferryignore, then restart Ferry.'
    )
  }
  const what = `The system ran out of open files for watching (${code}, too many open files).`
  if (platform === 'linux') {
    return (
      `${what} ${instead} To fix: ` +
      'echo fs.inotify.max_user_instances=1024 | sudo tee /etc/sysctl.d/60-ferry-instances.conf ' +
      '&& sudo sysctl --system, raise the open-file limit (ulimit -n 65536 in the shell that ' +
      'starts Ferry, or LimitNOFILE=65536 for a systemd service), then restart Ferry.'
    )
  }
  if (platform === 'darwin') {
    return (
      `${what} ${instead} To fix: sudo launchctl limit maxfiles 65536 200000, ` +
      'then restart Ferry.'
    )
  }
  return `${what} ${instead} To fix: close programs that hold many files open, then restart Ferry.`
}

/** Node's wording of the errors simulateWatchFailure can make, as fs.watch throws them. */
const SIMULATED_ERRORS = {
  ENOSPC: 'System limit for number of file watchers reached',
  EMFILE: 'too many open files',
  EACCES: 'permission denied',
} as const

let failChokidar: (watcher: FolderWatcher, error: (root: string) => Error) => boolean

/**
 * For tests only: makes the watcher's live chokidar instance fail as it does when fs.watch
 * throws for one of its folders (`path`, by default the root). The error is built the way Node
 * builds it (code, errno, syscall 'watch', path) and handed to chokidar's own error path — the
 * one its fs.watch wrapper calls — so everything after it is what a real failure causes.
 * Returns false when no chokidar instance is running (not started, degraded or closed).
 */
export function simulateWatchFailure(
  watcher: FolderWatcher,
  code: keyof typeof SIMULATED_ERRORS,
  path?: string,
): boolean {
  return failChokidar(watcher, (root) => {
    const where = path ?? root
    return Object.assign(new Error(`${code}: ${SIMULATED_ERRORS[code]}, watch '${where}'`), {
      errno: -constants.errno[code],
      code,
      syscall: 'watch',
      path: where,
    })
  })
}

function toLook(stats: Stats): Look {
  const kind = stats.isFile()
    ? 'file'
    : stats.isDirectory()
      ? 'folder'
      : stats.isSymbolicLink()
        ? 'symlink'
        : 'other'
  return { kind, size: stats.size, mtimeMs: stats.mtimeMs, ino: stats.ino }
}

async function takeLook(absPath: string): Promise<Look> {
  try {
    return toLook(await lstat(absPath))
  } catch (error) {
    const code = (error as { code?: string }).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return { kind: 'missing' }
    return { kind: 'error', reason: fsErrorReason(error) }
  }
}

function byRelPath(a: WatchChange, b: WatchChange): number {
  const keyA = a.type === 'rescan' ? '' : a.relPath
  const keyB = b.type === 'rescan' ? '' : b.relPath
  if (keyA !== keyB) return keyA < keyB ? -1 : 1
  // A removal before what replaced it at the same path; rescans by reason.
  const rank = (c: WatchChange): number => (c.type === 'rescan' ? 0 : c.type === 'removed' ? 1 : 2)
  if (rank(a) !== rank(b)) return rank(a) - rank(b)
  if (a.type === 'rescan' && b.type === 'rescan') return a.reason < b.reason ? -1 : 1
  return 0
}

/**
 * Watches a synced folder and reports, in batches, the files that changed and stopped
 * changing, what was removed, and when only a rescan can tell. It never reports what existed
 * before start() resolved: the engine scans for that once start() has resolved.
 *
 * Chokidar reports events; every decision is taken on our own lstat looks. Its atomic option
 * is off: our deferral of removals already turns unlink + add into a change, and chokidar's
 * atomic mode also hides editor temp names (`*~`, `.*.swp`) whatever the user's negated
 * patterns say. Its 50 ms coalescing of change events is kept: it only spares us events.
 */
export class FolderWatcher {
  readonly #root: string
  readonly #settleMs: number
  readonly #fallbackRescanMs: number
  // Changes that fall due within this window of the first one are delivered together.
  readonly #batchMs: number
  readonly #onChanges: (changes: readonly WatchChange[]) => void
  readonly #onDegraded: ((message: string) => void) | undefined
  readonly #tracker: SettleTracker
  #excludes: ExcludeMatcher
  /** Rescan reasons → when they are due, and whether they are paced (see #onError). */
  readonly #rescans = new Map<string, { readonly dueAt: number; readonly paced: boolean }>()
  /** Paced reasons → when they were last delivered. */
  readonly #pacedDelivered = new Map<string, number>()
  /** Live chokidar instances: one, or two while setExcludes swaps them. */
  readonly #instances = new Set<FSWatcher>()
  #current: FSWatcher | undefined
  #currentReady: Promise<void> = Promise.resolve()
  /** Closes of retired instances still running; close() waits for them. */
  readonly #closing = new Set<Promise<void>>()
  /** Resolvers of the ready waits, also released by close() and by degrading. */
  readonly #waiters = new Set<() => void>()
  #started = false
  #closed = false
  #degraded: string | undefined
  #timer: NodeJS.Timeout | undefined
  #timerAt = Number.POSITIVE_INFINITY
  #ticking = false
  #fallback: NodeJS.Timeout | undefined

  static {
    failChokidar = (watcher, error) => {
      const instance = watcher.#current
      if (!instance || !watcher.#instances.has(instance)) return false
      instance.handleError(error(watcher.#root))
      return true
    }
  }

  constructor(options: FolderWatcherOptions) {
    this.#root = resolve(options.root)
    this.#excludes = options.excludes
    this.#settleMs = options.settleMs ?? 1000
    this.#fallbackRescanMs = options.fallbackRescanMs ?? 60_000
    this.#batchMs = Math.min(25, Math.floor(this.#settleMs / 4))
    this.#onChanges = options.onChanges
    this.#onDegraded = options.onDegraded
    this.#tracker = new SettleTracker(this.#settleMs, options.capMs ?? 60_000)
  }

  /** The message, once running on periodic rescans because watching is impossible. */
  get degraded(): string | undefined {
    return this.#degraded
  }

  /** Starts watching; resolves when chokidar has walked the folder (or watching failed). */
  async start(): Promise<void> {
    if (this.#started) throw new Error('FolderWatcher.start() was already called')
    if (this.#closed) throw new Error('FolderWatcher is closed')
    this.#started = true
    await this.#open()
  }

  /**
   * Resolves once the current chokidar instance watches everything: after start(), and again
   * after setExcludes() until the folders it re-included are watched.
   */
  whenWatching(): Promise<void> {
    return this.#currentReady
  }

  /**
   * New exclude rules (the engine reloaded `.ferryignore`). Reports are filtered by them at
   * once; chokidar is restarted in the background so re-included folders get watched and newly
   * excluded ones release their watches. The old instance keeps reporting until the new one is
   * ready, so nothing already watched goes unseen (see whenWatching()).
   */
  setExcludes(excludes: ExcludeMatcher): void {
    if (excludes === this.#excludes) return
    this.#excludes = excludes
    this.#tracker.forget((relPath, folder) => this.#excluded(relPath, folder))
    if (!this.#started || this.#closed || this.#degraded !== undefined) return
    const previous = this.#current
    // A swap still in progress is superseded: its old instance is not needed any more.
    for (const instance of this.#instances) if (instance !== previous) this.#retire(instance)
    void this.#open().then(() => {
      if (previous && this.#instances.has(previous) && this.#current !== previous) {
        this.#retire(previous)
      }
    })
  }

  /** Stops chokidar and every timer; no callback is made once this is called. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true
      clearTimeout(this.#timer)
      clearInterval(this.#fallback)
      this.#timer = undefined
      this.#fallback = undefined
      this.#tracker.clear()
      this.#rescans.clear()
      for (const instance of this.#instances) this.#retire(instance)
      this.#releaseWaiters()
    }
    await Promise.all(this.#closing)
  }

  /** Starts a chokidar instance; resolves when it is ready, retired, or watching failed. */
  #open(): Promise<void> {
    const instance = new FSWatcher({
      ignoreInitial: true,
      followSymlinks: false,
      atomic: false,
      ignored: (path: string, stats?: Stats) => this.#ignored(path, stats),
    })
    this.#instances.add(instance)
    this.#current = instance
    const ready = new Promise<void>((resolveReady) => {
      const done = (): void => {
        this.#waiters.delete(done)
        resolveReady()
      }
      this.#waiters.add(done)
      instance.once('ready', done)
    })
    this.#currentReady = ready
    instance.on('all', (event, path) => {
      if (this.#live(instance)) this.#onEvent(event, path)
    })
    instance.on('error', (error) => {
      if (this.#live(instance)) this.#onError(error)
    })
    // Listeners first: an error must never find the instance without one.
    instance.add(this.#root)
    return ready
  }

  #live(instance: FSWatcher): boolean {
    return !this.#closed && this.#degraded === undefined && this.#instances.has(instance)
  }

  #retire(instance: FSWatcher): void {
    this.#instances.delete(instance)
    if (this.#current === instance) this.#current = undefined
    const closing = instance.close().catch(() => undefined)
    this.#closing.add(closing)
    void closing.finally(() => this.#closing.delete(closing))
  }

  #releaseWaiters(): void {
    for (const release of [...this.#waiters]) release()
  }

  /** `absPath` relative to the root with forward slashes; undefined outside the root. */
  #relative(absPath: string): string | undefined {
    const rel = relative(this.#root, absPath)
    if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return undefined
    return sep === '/' ? rel : rel.split(sep).join('/')
  }

  #excluded(relPath: string, folder: boolean): boolean {
    return this.#excludes.excludes(relPath, folder)
  }

  /** Chokidar's `ignored`: the root and what is outside it are never ignored. */
  #ignored(absPath: string, stats?: Stats): boolean {
    const relPath = this.#relative(absPath)
    if (!relPath) return false
    return this.#excluded(relPath, stats?.isDirectory() ?? false)
  }

  #onEvent(event: string, absPath: string): void {
    const relPath = this.#relative(absPath)
    if (relPath === undefined) return
    if (relPath === '') {
      if (event === 'unlinkDir') this.#requestRescan(this.#rootGone())
      return
    }
    const folderEvent = event === 'addDir' || event === 'unlinkDir'
    // Chokidar filters too, but an instance started before setExcludes still runs on the old
    // rules until its replacement is ready.
    if (this.#excluded(relPath, folderEvent)) return
    if (event === 'add' || event === 'change' || event === 'unlink') this.#touch(relPath)
    else if (event === 'addDir') void this.#adoptFolder(relPath)
    else if (event === 'unlinkDir') {
      this.#tracker.folderGone(relPath, performance.now())
      this.#schedule(performance.now() + this.#settleMs)
    }
  }

  /** An event at relPath: restart its settling and take the first look now. */
  #touch(relPath: string): void {
    const now = performance.now()
    const gen = this.#tracker.touch(relPath, now)
    void takeLook(join(this.#root, relPath)).then((look) => {
      if (!this.#closed) this.#tracker.record(relPath, gen, look, now)
    })
    this.#schedule(now + this.#settleMs)
  }

  /**
   * A folder appeared (created, or moved in with its content). Chokidar reports the files it
   * finds in it; its entries are also put on the books here, so a file is not lost if it
   * arrived between the folder's creation and chokidar's watch of it. Subfolders get their own
   * addDir.
   */
  async #adoptFolder(relPath: string): Promise<void> {
    let entries
    try {
      entries = await readdir(join(this.#root, relPath), { withFileTypes: true })
    } catch {
      // Gone again (its unlinkDir follows), or unreadable (chokidar reports the error).
      return
    }
    if (this.#closed || this.#degraded !== undefined) return
    for (const entry of entries) {
      const child = `${relPath}/${entry.name}`
      if (!entry.isDirectory() && !this.#excluded(child, false)) this.#touch(child)
    }
  }

  #onError(error: unknown): void {
    const code = (error as { code?: string }).code
    if (code !== undefined && EXHAUSTION_CODES.has(code)) {
      this.#degrade(code)
      return
    }
    const path = (error as { path?: unknown }).path
    const relPath = typeof path === 'string' ? this.#relative(path) : undefined
    const where = relPath ? `${relPath} in ${this.#root}` : this.#root
    const reason = `Ferry could not watch ${where}: ${fsErrorReason(error)}`
    // Chokidar can report the same failure on every change around an unreadable folder; one
    // rescan per fallback period is what it deserves.
    this.#requestRescan(reason, true)
  }

  /** Watching is impossible: stop chokidar, tell the user, rescan periodically from now on. */
  #degrade(code: string): void {
    const message = exhaustionMessage(code, this.#root, this.#fallbackRescanMs)
    this.#degraded = message
    for (const instance of this.#instances) this.#retire(instance)
    // What was pending came from a watch that cannot be trusted whole; the rescan covers it.
    this.#tracker.clear()
    this.#releaseWaiters()
    this.#onDegraded?.(message)
    const reason = `file watching is unavailable (${code}): rescanning ${describeEvery(this.#fallbackRescanMs)}`
    this.#requestRescan(reason)
    this.#fallback = setInterval(() => this.#requestRescan(reason), this.#fallbackRescanMs)
  }

  /** A rescan for `reason`; a paced one comes at most once per fallback period. */
  #requestRescan(reason: string, paced = false): void {
    if (this.#closed || this.#rescans.has(reason)) return
    const last = paced ? this.#pacedDelivered.get(reason) : undefined
    const now = performance.now()
    const dueAt = last === undefined ? now : Math.max(now, last + this.#fallbackRescanMs)
    this.#rescans.set(reason, { dueAt, paced })
    this.#schedule(dueAt)
  }

  /** Arms the timer for the earliest due check (`dueAt` when known, else the tracker's). */
  #schedule(dueAt?: number): void {
    if (this.#closed || this.#ticking) return
    let next = dueAt ?? this.#tracker.nextDue()
    if (dueAt === undefined) {
      for (const rescan of this.#rescans.values())
        next = Math.min(next ?? rescan.dueAt, rescan.dueAt)
    }
    if (next === undefined) return
    const at = next + this.#batchMs
    if (this.#timer !== undefined && this.#timerAt <= at) return
    clearTimeout(this.#timer)
    this.#timerAt = at
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined
        this.#timerAt = Number.POSITIVE_INFINITY
        void this.#tick()
      },
      Math.max(0, at - performance.now()),
    )
  }

  /** Checks everything due, then delivers what it found as one batch. */
  async #tick(): Promise<void> {
    this.#ticking = true
    const changes: WatchChange[] = []
    try {
      const started = performance.now()
      for (const [reason, { dueAt, paced }] of this.#rescans) {
        if (dueAt > started) continue
        this.#rescans.delete(reason)
        if (paced) this.#pacedDelivered.set(reason, started)
        changes.push({ type: 'rescan', reason })
      }
      for (const [reason, at] of this.#pacedDelivered) {
        if (at + this.#fallbackRescanMs <= started) this.#pacedDelivered.delete(reason)
      }
      const folders = this.#tracker.takeDueFolders(started)
      const paths = this.#tracker.duePaths(started)
      const [folderLooks, pathLooks] = await Promise.all([
        Promise.all(folders.map((relPath) => takeLook(join(this.#root, relPath)))),
        Promise.all(paths.map(({ relPath }) => takeLook(join(this.#root, relPath)))),
      ])
      if (this.#closed) return
      const now = performance.now()
      folders.forEach((relPath, i) => {
        if (folderLooks[i]?.kind === 'folder') {
          // Back before the removal was reported: what it holds now is unknown.
          changes.push({ type: 'rescan', reason: `${relPath} was replaced by another folder` })
        } else changes.push({ type: 'removed', relPath, folder: true })
      })
      paths.forEach(({ relPath, gen }, i) => {
        const look = pathLooks[i]
        if (!look) return
        const verdict = this.#tracker.judge(relPath, gen, look, now)
        if (verdict === 'settled' || verdict === 'growing') {
          changes.push(...this.#report(relPath, look, verdict === 'growing'))
        }
      })
      if (changes.some((change) => change.type === 'removed')) {
        // An unmounted drive or a moved-away folder is not everything deleted: say nothing of
        // removals then, and let the engine's rescan find out what happened.
        const root = await takeLook(this.#root)
        if (this.#closed) return
        if (root.kind !== 'folder') {
          const kept = changes.filter((change) => change.type !== 'removed')
          changes.splice(0, changes.length, ...kept)
          changes.push({ type: 'rescan', reason: this.#rootGone() })
        }
      }
    } finally {
      this.#ticking = false
      this.#schedule()
    }
    this.#deliver(changes)
  }

  #rootGone(): string {
    return `${this.#root} was removed, moved away or unmounted`
  }

  /** What a settled (or growing) path is reported as. */
  #report(relPath: string, look: Look, growing: boolean): WatchChange[] {
    const changes: WatchChange[] = []
    if (look.kind === 'error') {
      changes.push({ type: 'rescan', reason: `Ferry cannot read ${relPath}: ${look.reason}` })
    } else if (look.kind === 'file') {
      const { size, mtimeMs, ino } = look
      changes.push({ type: 'file', relPath, size, mtimeMs, ino, growing })
    } else if (look.kind === 'symlink' || look.kind === 'other') {
      changes.push({ type: 'special', relPath, kind: look.kind })
    } else {
      // Missing, or a folder now stands where the file was: the file is gone (a folder's
      // files are reported on their own).
      changes.push({ type: 'removed', relPath, folder: false })
    }
    if (relPath === FERRYIGNORE && !growing) {
      changes.push({ type: 'rescan', reason: EXCLUDE_RULES_CHANGED })
    }
    return changes
  }

  #deliver(changes: WatchChange[]): void {
    if (this.#closed || changes.length === 0) return
    const seen = new Set<string>()
    const batch = changes.filter((change) => {
      if (change.type !== 'rescan') return true
      if (seen.has(change.reason)) return false
      seen.add(change.reason)
      return true
    })
    this.#onChanges(batch.sort(byRelPath))
  }
}
