/** What one lstat saw at a path. */
export type Look =
  | { readonly kind: 'missing' }
  | { readonly kind: 'error'; readonly reason: string }
  | {
      readonly kind: 'file' | 'folder' | 'symlink' | 'other'
      readonly size: number
      readonly mtimeMs: number
      readonly ino: number
    }

/** Whether two looks saw the same thing: same kind, and for entries the same size, mtime and inode. */
export function sameLook(a: Look, b: Look): boolean {
  if (a.kind === 'missing' || b.kind === 'missing') return a.kind === b.kind
  if (a.kind === 'error' || b.kind === 'error') {
    return a.kind === 'error' && b.kind === 'error' && a.reason === b.reason
  }
  return a.kind === b.kind && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ino === b.ino
}

/**
 * What a check concluded: `settled` (report it, the path is forgotten), `growing` (report it as
 * still changing, the cap restarts), `wait` (check again later) or `stale` (an event came in
 * while the look was taken, so the look says nothing; check again later).
 */
export type Verdict = 'settled' | 'growing' | 'wait' | 'stale'

/** A path whose check is due, with the generation the check's look must carry. */
export interface DuePath {
  readonly relPath: string
  readonly gen: number
}

interface Entry {
  /** When the current run of changes began: the cap counts from here. */
  firstAt: number
  /** Bumped by every event, so a look taken before an event is never mistaken for a later one. */
  gen: number
  look: Look | undefined
  lookAt: number
  dueAt: number
}

// Timers and clocks can disagree by a fraction of a millisecond; a look this much short of
// settleMs apart still counts.
const CLOCK_SLACK_MS = 2

/**
 * Decides when a changed path has stopped changing: two looks settleMs apart that saw the same
 * thing, with no event in between. A path that never stops is reported as growing every capMs.
 * Folder removals wait settleMs too, so a folder that comes back can be told apart. Pure: the
 * caller takes the looks and keeps the time; this only keeps the books.
 */
export class SettleTracker {
  readonly #settleMs: number
  readonly #capMs: number
  readonly #paths = new Map<string, Entry>()
  /** Removed folders → when their check is due. */
  readonly #folders = new Map<string, number>()

  constructor(settleMs: number, capMs: number) {
    this.#settleMs = settleMs
    this.#capMs = capMs
  }

  /** Paths and folders waiting to settle. */
  get size(): number {
    return this.#paths.size + this.#folders.size
  }

  /**
   * Something happened at `relPath`: earlier looks no longer count. Returns the generation that
   * a look taken now must carry to be recorded.
   */
  touch(relPath: string, now: number): number {
    const entry = this.#paths.get(relPath)
    if (entry) {
      entry.gen += 1
      entry.look = undefined
      return entry.gen
    }
    this.#paths.set(relPath, {
      firstAt: now,
      gen: 1,
      look: undefined,
      lookAt: now,
      dueAt: now + this.#settleMs,
    })
    return 1
  }

  /** The look taken right after an event (at `at`), unless another event came since. */
  record(relPath: string, gen: number, look: Look, at: number): void {
    const entry = this.#paths.get(relPath)
    if (!entry || entry.gen !== gen || entry.look !== undefined) return
    entry.look = look
    entry.lookAt = at
  }

  /** A folder is gone: what was pending under it is forgotten, the folder's removal reported. */
  folderGone(relPath: string, now: number): void {
    const prefix = `${relPath}/`
    for (const path of this.#paths.keys()) if (path.startsWith(prefix)) this.#paths.delete(path)
    for (const path of this.#folders.keys()) if (path.startsWith(prefix)) this.#folders.delete(path)
    this.#folders.set(relPath, now + this.#settleMs)
  }

  /** Paths whose check is due at `now`. */
  duePaths(now: number): DuePath[] {
    const due: DuePath[] = []
    for (const [relPath, entry] of this.#paths) {
      if (entry.dueAt <= now) due.push({ relPath, gen: entry.gen })
    }
    return due
  }

  /** Removed folders whose check is due at `now`; they are forgotten here. */
  takeDueFolders(now: number): string[] {
    const due: string[] = []
    for (const [relPath, dueAt] of this.#folders) {
      if (dueAt <= now) {
        due.push(relPath)
        this.#folders.delete(relPath)
      }
    }
    return due
  }

  /** Judges the look a due check took at `now`; see Verdict. */
  judge(relPath: string, gen: number, look: Look, now: number): Verdict {
    const entry = this.#paths.get(relPath)
    if (!entry) return 'stale'
    if (entry.gen !== gen) {
      entry.dueAt = now + this.#settleMs
      return 'stale'
    }
    const same = entry.look !== undefined && sameLook(entry.look, look)
    if (same && now - entry.lookAt >= this.#settleMs - CLOCK_SLACK_MS) {
      this.#paths.delete(relPath)
      return 'settled'
    }
    if (!same) {
      entry.look = look
      entry.lookAt = now
    }
    entry.dueAt = entry.lookAt + this.#settleMs
    if (look.kind === 'file' && now - entry.firstAt >= this.#capMs) {
      entry.firstAt = now
      return 'growing'
    }
    return 'wait'
  }

  /** When the earliest check is due, if any. */
  nextDue(): number | undefined {
    let next: number | undefined
    for (const entry of this.#paths.values())
      if (next === undefined || entry.dueAt < next) next = entry.dueAt
    for (const dueAt of this.#folders.values()) if (next === undefined || dueAt < next) next = dueAt
    return next
  }

  /** Forgets the paths (and removed folders, `folder` true) the predicate picks. */
  forget(predicate: (relPath: string, folder: boolean) => boolean): void {
    for (const path of this.#paths.keys()) if (predicate(path, false)) this.#paths.delete(path)
    for (const path of this.#folders.keys()) if (predicate(path, true)) this.#folders.delete(path)
  }

  clear(): void {
    this.#paths.clear()
    this.#folders.clear()
  }
}
