import {
  folderName,
  type FailedFile,
  type FolderStatus,
  type SyncStatus,
} from '../sync/sync-status.ts'
import { RateLimiter } from './rate-limiter.ts'

/** What a notification is about; each kind has its own rate limit. */
export type NotificationKind = 'failed' | 'needs-sign-in' | 'folder-error'

/** A native notification to show, already worded. */
export interface FerryNotification {
  readonly kind: NotificationKind
  readonly title: string
  readonly body: string
}

export interface NotifierOptions {
  /** Shows it (Electron's Notification in the app). */
  readonly show: (notification: FerryNotification) => void
  /** The `notifications` preference, read at the moment a notification would go out. */
  readonly enabled: () => boolean
  /** At most one notification per kind per interval (default 10 min). */
  readonly intervalMs?: number
  /** A burst of failures within this time makes one notification (default 5 s). */
  readonly gatherMs?: number
  readonly now?: () => number
}

interface Kind<T> {
  /** The problems of this kind the status shows now, by a stable key. */
  current(status: SyncStatus): Map<string, T>
  compose(items: readonly T[]): { title: string; body: string }
}

const plural = (count: number, one: string, many = `${one}s`): string =>
  `${count} ${count === 1 ? one : many}`

const FAILED: Kind<FailedFile> = {
  current: (status) => new Map(status.failed.map((f) => [`${f.folderId}\0${f.relPath}`, f])),
  compose: (files) => {
    const [first] = files
    if (files.length === 1 && first) {
      return { title: 'A file could not be uploaded', body: `${first.relPath}: ${first.reason}` }
    }
    const reasons = new Set(files.map((f) => f.reason))
    const [reason] = reasons
    return {
      title: `${plural(files.length, 'file')} could not be uploaded`,
      body: reasons.size === 1 && reason ? reason : 'Open Ferry to see why and try again.',
    }
  },
}

const SIGN_IN: Kind<FolderStatus> = {
  current: (status) =>
    new Map(status.folders.filter((f) => f.state === 'needs-sign-in').map((f) => [f.accountId, f])),
  compose: (folders) => ({
    title: `Sign in again to ${folders.map((f) => f.accountLabel ?? f.accountId).join(' and ')}`,
    body: 'Uploads there wait until you sign in again. Open Ferry to sign in.',
  }),
}

const FOLDER_ERROR: Kind<FolderStatus> = {
  current: (status) =>
    new Map(status.folders.filter((f) => f.state === 'error').map((f) => [f.id, f])),
  compose: (folders) => {
    const [first] = folders
    if (folders.length === 1 && first) {
      return {
        title: `Can't sync ${folderName(first.path)}`,
        body: first.message ?? 'Open Ferry to see what is wrong.',
      }
    }
    return {
      title: `Can't sync ${plural(folders.length, 'folder')}`,
      body: 'Open Ferry to see what is wrong.',
    }
  },
}

const KINDS: Readonly<Record<NotificationKind, Kind<unknown>>> = {
  failed: FAILED as Kind<unknown>,
  'needs-sign-in': SIGN_IN as Kind<unknown>,
  'folder-error': FOLDER_ERROR as Kind<unknown>,
}

interface KindState {
  /** Problems already seen (notified or not): only new ones make a notification. */
  seen: Set<string>
  /** New problems waiting to be told, in one notification. */
  readonly pending: Map<string, unknown>
  timer: NodeJS.Timeout | undefined
}

/**
 * Native notifications for failures and "needs sign-in", from the status alone: never one per
 * file — new problems gather for a few seconds and go out as one ("3 files could not be
 * uploaded"), at most one per kind per interval (later ones wait for the next slot and are
 * told together), only problems still present when the notification goes out, and only while
 * the `notifications` preference is on.
 */
export class Notifier {
  readonly #options: NotifierOptions
  readonly #limiter: RateLimiter
  readonly #now: () => number
  readonly #gatherMs: number
  readonly #kinds = new Map<NotificationKind, KindState>()
  #latest: SyncStatus | undefined
  #disposed = false

  constructor(options: NotifierOptions) {
    this.#options = options
    this.#now = options.now ?? Date.now
    this.#limiter = new RateLimiter(options.intervalMs ?? 10 * 60_000, this.#now)
    this.#gatherMs = options.gatherMs ?? 5000
    for (const kind of Object.keys(KINDS) as NotificationKind[]) {
      this.#kinds.set(kind, { seen: new Set(), pending: new Map(), timer: undefined })
    }
  }

  /** Feeds a status snapshot (every one the model emits). */
  update(status: SyncStatus): void {
    if (this.#disposed) return
    this.#latest = status
    for (const [kind, state] of this.#kinds) {
      const current = KINDS[kind].current(status)
      for (const [key, item] of current) if (!state.seen.has(key)) state.pending.set(key, item)
      // A problem that goes away and comes back is new again.
      state.seen = new Set(current.keys())
      if (state.pending.size > 0) this.#schedule(kind, state)
    }
  }

  dispose(): void {
    this.#disposed = true
    for (const state of this.#kinds.values()) clearTimeout(state.timer)
  }

  #schedule(kind: NotificationKind, state: KindState): void {
    if (state.timer) return
    const delay = Math.max(this.#gatherMs, this.#limiter.nextAt(kind) - this.#now())
    state.timer = setTimeout(() => this.#flush(kind, state), delay)
    state.timer.unref()
  }

  #flush(kind: NotificationKind, state: KindState): void {
    state.timer = undefined
    if (this.#disposed || !this.#latest) return
    const current = KINDS[kind].current(this.#latest)
    const keys = [...state.pending.keys()].filter((key) => current.has(key))
    state.pending.clear()
    if (keys.length === 0 || !this.#options.enabled()) return
    if (!this.#limiter.tryTake(kind)) {
      // A timer that fired a hair early: wait for the slot, still holding the same problems.
      for (const key of keys) state.pending.set(key, current.get(key))
      this.#schedule(kind, state)
      return
    }
    this.#options.show({ kind, ...KINDS[kind].compose(keys.map((key) => current.get(key))) })
  }
}
