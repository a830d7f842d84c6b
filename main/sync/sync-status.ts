/** Where the engine (or one folder) stands, from the user's point of view. */
export type SyncState =
  'idle' | 'scanning' | 'syncing' | 'paused' | 'offline' | 'error' | 'needs-sign-in'

/** One file on its way to the server. */
export interface TransferStatus {
  readonly folderId: string
  /** Path relative to the synced folder, forward slashes. */
  readonly relPath: string
  readonly size: number
  /** Bytes of this file on the wire so far (each byte counted once, retries included). */
  readonly sent: number
  /** Over the last few seconds. */
  readonly bytesPerSecond: number
  readonly startedAt: number
}

/**
 * One synced folder. Done counts this session; remaining counts what is left. Bytes of files on
 * the wire count as done as they go out, and no longer as remaining.
 */
export interface FolderStatus {
  readonly id: string
  readonly path: string
  readonly accountId: string
  /** The account as people know it (usually the server's name), for "Sign in again to …". */
  readonly accountLabel?: string
  readonly state: SyncState
  /** Plain-language detail for the state (why it is in error, what it is waiting for). */
  readonly message?: string
  readonly filesDone: number
  readonly filesRemaining: number
  readonly bytesDone: number
  readonly bytesRemaining: number
  /** How many of the folder's files could not be uploaded. */
  readonly failed: number
  /** Set when the folder syncs in a reduced mode (e.g. changes found by rescans, not events). */
  readonly degraded?: string
}

/** One line of the activity feed. */
export interface ActivityEntry {
  readonly at: number
  readonly folderId: string
  /** Empty for entries about the folder as a whole. */
  readonly relPath: string
  readonly kind: 'uploaded' | 'failed' | 'removed' | 'skipped' | 'renamed' | 'info'
  /** The readable detail: why it failed or was skipped, where it was renamed from; may be empty. */
  readonly message: string
  /** The file's size, when the entry is about bytes that went out. */
  readonly bytes?: number
  /** Increases by one per entry over a model's life: tells views which entries are new. */
  readonly id?: number
}

/** A file the engine gave up on for now, with the reason people are shown. */
export interface FailedFile {
  readonly folderId: string
  readonly relPath: string
  readonly reason: string
  readonly attempts: number
  readonly nextAttemptAt?: number
}

/** Everything a view needs to show how syncing goes; a plain value, safe to send over IPC. */
export interface SyncStatus {
  readonly state: SyncState
  /**
   * One plain-language line: "Everything is stored", "Uploading 12 files — 3 min left",
   * "Paused", "Offline — will retry", "Sign in again to <server>".
   */
  readonly message: string
  readonly folders: readonly FolderStatus[]
  readonly transfers: readonly TransferStatus[]
  readonly filesDone: number
  readonly filesRemaining: number
  readonly bytesDone: number
  readonly bytesRemaining: number
  readonly bytesPerSecond: number
  readonly etaSeconds?: number
  /** Newest first, at most {@link ACTIVITY_LIMIT}. */
  readonly activity: readonly ActivityEntry[]
  readonly failed: readonly FailedFile[]
  readonly updatedAt: number
}

/** A synced folder as the engine knows it. */
export interface FolderInfo {
  readonly id: string
  readonly path: string
  readonly accountId: string
  readonly accountLabel?: string
}

/** How many activity entries a status keeps. */
export const ACTIVITY_LIMIT = 200

const THROTTLE_MS = 100
const BUCKET_MS = 250
const BUCKETS = 20 // 20 × 250 ms: speed over the last ~5 s
// While files are on the wire, time alone changes speed and ETA (a stalled upload slows down).
const HEARTBEAT_MS = 1000

// Clocks before 1970 (tests start at 0, some go below) still map to a bucket.
const slot = (bucket: number): number => ((bucket % BUCKETS) + BUCKETS) % BUCKETS

/** Bytes per second over a sliding window, kept in fixed buckets so adding bytes never allocates. */
class RateMeter {
  readonly #buckets = new Float64Array(BUCKETS)
  #bucket: number
  #since: number

  constructor(now: number) {
    this.#since = now
    this.#bucket = Math.floor(now / BUCKET_MS)
  }

  add(bytes: number, now: number): void {
    this.#advance(now)
    const i = slot(this.#bucket)
    this.#buckets[i] = (this.#buckets[i] ?? 0) + bytes
  }

  rate(now: number): number {
    this.#advance(now)
    let sum = 0
    for (const bytes of this.#buckets) sum += bytes
    if (sum === 0) return 0
    const windowStart = (this.#bucket - BUCKETS + 1) * BUCKET_MS
    // A young meter divides by its age, not the whole window, or it would start far too slow.
    const span = Math.max(BUCKET_MS, now - Math.max(windowStart, this.#since))
    return (sum * 1000) / span
  }

  /** Starts measuring afresh if nothing went out during the whole window. */
  restartIfQuiet(now: number): void {
    if (this.rate(now) === 0) this.#since = now
  }

  #advance(now: number): void {
    const bucket = Math.floor(now / BUCKET_MS)
    // A clock that steps back keeps adding to the newest bucket.
    if (bucket <= this.#bucket) return
    if (bucket - this.#bucket >= BUCKETS) this.#buckets.fill(0)
    else for (let b = this.#bucket + 1; b <= bucket; b++) this.#buckets[slot(b)] = 0
    this.#bucket = bucket
  }
}

interface Transfer {
  readonly folderId: string
  readonly relPath: string
  size: number
  sent: number
  readonly startedAt: number
  readonly meter: RateMeter
}

interface FolderRecord {
  info: FolderInfo
  state: SyncState
  message: string | undefined
  degraded: string | undefined
  filesDone: number
  bytesDone: number
  filesRemaining: number
  bytesRemaining: number
  failed: readonly FailedFile[]
}

/** Tuning for tests and special hosts; the defaults are what the issue asks for. */
export interface StatusModelOptions {
  /** Least time between two emitted snapshots (default 100 ms: at most ten a second). */
  readonly throttleMs?: number
}

/**
 * The sync engine's status: the engine reports facts with plain method calls, views read
 * {@link StatusModel.snapshot} or listen with {@link StatusModel.onDidChange}. Snapshots are
 * emitted at most ten times a second: a change after a quiet spell goes out at once (after the
 * current synchronous burst of calls), later changes coalesce, and the last state always goes
 * out. Time comes from `now`, so tests drive speed and ETA with a clock of their own.
 */
export class StatusModel {
  readonly #now: () => number
  readonly #throttleMs: number
  readonly #folders = new Map<string, FolderRecord>()
  readonly #transfers = new Map<string, Map<string, Transfer>>()
  readonly #listeners = new Set<(status: SyncStatus) => void>()
  readonly #meter: RateMeter
  #transferCount = 0
  #activity: readonly ActivityEntry[] = []
  #activityId = 0
  // All folders' failed files in one list, rebuilt on the next snapshot after a change.
  #failed: readonly FailedFile[] | undefined = []
  #dirty = false
  #leadingQueued = false
  #cooldown: NodeJS.Timeout | undefined
  #heartbeat: NodeJS.Timeout | undefined
  #lastEmitAt = 0
  #disposed = false

  constructor(now: () => number = Date.now, options: StatusModelOptions = {}) {
    this.#now = now
    this.#throttleMs = options.throttleMs ?? THROTTLE_MS
    this.#meter = new RateMeter(now())
  }

  /** Replaces the list of synced folders; folders kept keep their state and counts. */
  setFolders(folders: readonly FolderInfo[]): void {
    const next = new Map<string, FolderRecord>()
    for (const info of folders) {
      const known = this.#folders.get(info.id)
      next.set(
        info.id,
        known
          ? { ...known, info }
          : {
              info,
              state: 'idle',
              message: undefined,
              degraded: undefined,
              filesDone: 0,
              bytesDone: 0,
              filesRemaining: 0,
              bytesRemaining: 0,
              failed: [],
            },
      )
    }
    for (const id of this.#transfers.keys()) {
      if (next.has(id)) continue
      this.#transferCount -= this.#transfers.get(id)?.size ?? 0
      this.#transfers.delete(id)
    }
    if (this.#transferCount === 0) this.#stopHeartbeat()
    this.#folders.clear()
    for (const [id, record] of next) this.#folders.set(id, record)
    this.#failed = undefined
    this.#changed()
  }

  setFolderState(folderId: string, state: SyncState, message?: string): void {
    const folder = this.#folders.get(folderId)
    if (!folder || (folder.state === state && folder.message === message)) return
    folder.state = state
    folder.message = message
    this.#changed()
  }

  /** `message` says what works less well than usual; `undefined` clears it. */
  setDegraded(folderId: string, message: string | undefined): void {
    const folder = this.#folders.get(folderId)
    if (!folder || folder.degraded === message) return
    folder.degraded = message
    this.#changed()
  }

  /**
   * What is still to upload in the folder, files on the wire included (their bytes already sent
   * are subtracted here, so the remaining bytes and the ETA shrink while a big file goes out).
   */
  setQueue(
    folderId: string,
    queue: { readonly filesRemaining: number; readonly bytesRemaining: number },
  ): void {
    const folder = this.#folders.get(folderId)
    if (!folder) return
    if (
      folder.filesRemaining === queue.filesRemaining &&
      folder.bytesRemaining === queue.bytesRemaining
    )
      return
    folder.filesRemaining = Math.max(0, queue.filesRemaining)
    folder.bytesRemaining = Math.max(0, queue.bytesRemaining)
    this.#changed()
  }

  /** The server confirmed a file: counts it as done for this session and ends its transfer. */
  fileDone(folderId: string, relPath: string, bytes: number): void {
    const folder = this.#folders.get(folderId)
    if (folder) {
      folder.filesDone++
      folder.bytesDone += bytes
    }
    this.#removeTransfer(folderId, relPath)
    this.#changed()
  }

  transferStarted(folderId: string, relPath: string, size: number): void {
    let inFolder = this.#transfers.get(folderId)
    if (!inFolder) {
      inFolder = new Map()
      this.#transfers.set(folderId, inFolder)
    }
    const known = inFolder.get(relPath)
    if (known) {
      known.size = size
    } else {
      const now = this.#now()
      if (this.#transferCount === 0) this.#meter.restartIfQuiet(now)
      inFolder.set(relPath, {
        folderId,
        relPath,
        size,
        sent: 0,
        startedAt: now,
        meter: new RateMeter(now),
      })
      this.#transferCount++
    }
    this.#changed()
  }

  /** `bytes` more of the file went onto the wire. Called very often, so it stays cheap. */
  transferProgress(folderId: string, relPath: string, bytes: number): void {
    const transfer = this.#transfers.get(folderId)?.get(relPath)
    if (!transfer || bytes <= 0) return
    const now = this.#now()
    transfer.sent += bytes
    transfer.meter.add(bytes, now)
    this.#meter.add(bytes, now)
    this.#changed()
  }

  /** The file left the wire without being confirmed (failed, cancelled, or handed back). */
  transferEnded(folderId: string, relPath: string): void {
    if (this.#removeTransfer(folderId, relPath)) this.#changed()
  }

  /** Adds an entry to the activity feed, stamped with the current time. */
  activity(entry: Omit<ActivityEntry, 'at' | 'id'>): void {
    const stamped: ActivityEntry = { ...entry, at: this.#now(), id: ++this.#activityId }
    // A new array each time: snapshots already handed out must not change under their holders.
    const next = [stamped, ...this.#activity]
    if (next.length > ACTIVITY_LIMIT) next.length = ACTIVITY_LIMIT
    this.#activity = next
    this.#changed()
  }

  /** Replaces the folder's list of files that could not be uploaded. */
  setFailed(folderId: string, failed: readonly FailedFile[]): void {
    const folder = this.#folders.get(folderId)
    if (!folder) return
    if (folder.failed.length === 0 && failed.length === 0) return
    folder.failed = failed.map((file) => ({ ...file, folderId }))
    this.#failed = undefined
    this.#changed()
  }

  /** The status as of now. */
  snapshot(): SyncStatus {
    const now = this.#now()
    const folders: FolderStatus[] = []
    let filesDone = 0
    let filesRemaining = 0
    let bytesDone = 0
    let bytesRemaining = 0
    for (const folder of this.#folders.values()) {
      let inFlight = 0
      for (const transfer of this.#transfers.get(folder.info.id)?.values() ?? []) {
        inFlight += Math.min(transfer.sent, transfer.size)
      }
      const status: FolderStatus = {
        id: folder.info.id,
        path: folder.info.path,
        accountId: folder.info.accountId,
        ...(folder.info.accountLabel === undefined
          ? {}
          : { accountLabel: folder.info.accountLabel }),
        state: folder.state,
        ...(folder.message === undefined ? {} : { message: folder.message }),
        filesDone: folder.filesDone,
        filesRemaining: folder.filesRemaining,
        bytesDone: folder.bytesDone + inFlight,
        bytesRemaining: Math.max(0, folder.bytesRemaining - inFlight),
        failed: folder.failed.length,
        ...(folder.degraded === undefined ? {} : { degraded: folder.degraded }),
      }
      folders.push(status)
      filesDone += status.filesDone
      filesRemaining += status.filesRemaining
      bytesDone += status.bytesDone
      bytesRemaining += status.bytesRemaining
    }
    const transfers: TransferStatus[] = []
    for (const inFolder of this.#transfers.values()) {
      for (const t of inFolder.values()) {
        transfers.push({
          folderId: t.folderId,
          relPath: t.relPath,
          size: t.size,
          sent: t.sent,
          bytesPerSecond: t.meter.rate(now),
          startedAt: t.startedAt,
        })
      }
    }
    transfers.sort((a, b) => a.startedAt - b.startedAt)
    // Once nothing is left or moving, the speed of the last seconds is history, not speed.
    const bytesPerSecond = transfers.length > 0 || bytesRemaining > 0 ? this.#meter.rate(now) : 0
    const etaSeconds =
      bytesRemaining > 0 && bytesPerSecond > 0
        ? Math.ceil(bytesRemaining / bytesPerSecond)
        : undefined
    this.#failed ??= [...this.#folders.values()].flatMap((folder) => folder.failed)
    const state = overallState(folders)
    return {
      state,
      message: overallMessage(state, folders, filesRemaining, etaSeconds, this.#failed.length),
      folders,
      transfers,
      filesDone,
      filesRemaining,
      bytesDone,
      bytesRemaining,
      bytesPerSecond,
      ...(etaSeconds === undefined ? {} : { etaSeconds }),
      activity: this.#activity,
      failed: this.#failed,
      updatedAt: now,
    }
  }

  /** Calls `listener` with each emitted snapshot; returns the function that stops it. */
  onDidChange(listener: (status: SyncStatus) => void): () => void {
    const wrapped = (status: SyncStatus): void => listener(status)
    this.#listeners.add(wrapped)
    return () => void this.#listeners.delete(wrapped)
  }

  /** Emits a pending change now, throttle or not (before the engine stops, say). */
  flush(): void {
    if (this.#disposed || !this.#dirty) return
    clearTimeout(this.#cooldown)
    this.#cooldown = undefined
    this.#emit()
  }

  /** Stops emitting and clears the timers; the model can still be read. */
  dispose(): void {
    this.#disposed = true
    this.#listeners.clear()
    clearTimeout(this.#cooldown)
    this.#cooldown = undefined
    this.#stopHeartbeat()
  }

  #removeTransfer(folderId: string, relPath: string): boolean {
    const inFolder = this.#transfers.get(folderId)
    if (!inFolder?.delete(relPath)) return false
    this.#transferCount--
    if (inFolder.size === 0) this.#transfers.delete(folderId)
    if (this.#transferCount === 0) this.#stopHeartbeat()
    return true
  }

  #stopHeartbeat(): void {
    clearTimeout(this.#heartbeat)
    this.#heartbeat = undefined
  }

  #changed(): void {
    if (this.#disposed || this.#listeners.size === 0) return
    this.#dirty = true
    if (this.#leadingQueued || this.#cooldown) return
    this.#leadingQueued = true
    // A microtask rather than at once: the engine's calls in one go make one consistent snapshot.
    queueMicrotask(this.#leading)
  }

  readonly #leading = (): void => {
    this.#leadingQueued = false
    if (!this.#disposed && this.#dirty && !this.#cooldown) this.#emit()
  }

  readonly #endCooldown = (): void => {
    this.#cooldown = undefined
    if (this.#disposed || !this.#dirty) return
    // Timers may fire a hair early; the limit holds by the monotonic clock, not by the timer.
    const wait = this.#throttleMs - (performance.now() - this.#lastEmitAt)
    if (wait > 0) this.#cooldown = setTimeout(this.#endCooldown, wait)
    else this.#emit()
  }

  readonly #beat = (): void => {
    this.#heartbeat = undefined
    this.#changed()
  }

  #emit(): void {
    this.#dirty = false
    this.#lastEmitAt = performance.now()
    this.#cooldown = setTimeout(this.#endCooldown, this.#throttleMs)
    if (this.#transferCount > 0) {
      if (this.#heartbeat) this.#heartbeat.refresh()
      else this.#heartbeat = setTimeout(this.#beat, HEARTBEAT_MS).unref()
    }
    const status = this.snapshot()
    for (const listener of [...this.#listeners]) {
      try {
        listener(status)
      } catch (error) {
        // A broken view must not break the engine that happened to report a fact; still loud.
        queueMicrotask(() => {
          throw error
        })
      }
    }
  }
}

/** The folder's name as people see it: the last part of its path. */
export function folderName(path: string): string {
  const parts = path.split(/[\\/]+/).filter(Boolean)
  return parts[parts.length - 1] ?? path
}

/** A duration as people say it: "less than a minute", "3 min", "2 h 5 min", "3 days". */
export function formatDuration(seconds: number): string {
  if (seconds < 60) return 'less than a minute'
  const minutes = Math.round(seconds / 60)
  if (minutes < 60) return `${minutes} min`
  const hours = Math.floor(minutes / 60)
  if (hours < 24) return minutes % 60 === 0 ? `${hours} h` : `${hours} h ${minutes % 60} min`
  const days = Math.round(hours / 24)
  return days === 1 ? '1 day' : `${days} days`
}

const PRECEDENCE: readonly SyncState[] = [
  'needs-sign-in',
  'error',
  'offline',
  'syncing',
  'scanning',
]

function overallState(folders: readonly FolderStatus[]): SyncState {
  for (const state of PRECEDENCE) if (folders.some((f) => f.state === state)) return state
  if (folders.length > 0 && folders.every((f) => f.state === 'paused')) return 'paused'
  return 'idle'
}

const plural = (count: number, one: string, many = `${one}s`): string =>
  `${count} ${count === 1 ? one : many}`

function overallMessage(
  state: SyncState,
  folders: readonly FolderStatus[],
  filesRemaining: number,
  etaSeconds: number | undefined,
  failed: number,
): string {
  const inState = folders.filter((f) => f.state === state)
  switch (state) {
    case 'needs-sign-in': {
      const servers = [...new Set(inState.map((f) => f.accountLabel ?? f.accountId))]
      return `Sign in again to ${servers.join(' and ')}`
    }
    case 'error': {
      const [only] = inState
      if (inState.length > 1 || !only) return `Can't sync ${plural(inState.length, 'folder')}`
      return only.message
        ? `Can't sync ${folderName(only.path)}: ${only.message}`
        : `Can't sync ${folderName(only.path)}`
    }
    case 'offline':
      return 'Offline — will retry'
    case 'syncing': {
      const what = filesRemaining > 0 ? `Uploading ${plural(filesRemaining, 'file')}` : 'Uploading'
      return etaSeconds === undefined ? what : `${what} — ${formatDuration(etaSeconds)} left`
    }
    case 'scanning':
      return 'Looking for changes'
    case 'paused':
      return 'Paused'
    case 'idle': {
      if (folders.length === 0) return 'No folders chosen yet'
      const parts = [
        failed > 0
          ? `Everything else is stored — ${plural(failed, 'file')} could not be uploaded`
          : 'Everything is stored',
      ]
      const paused = folders.filter((f) => f.state === 'paused')
      const [onlyPaused] = paused
      if (paused.length === 1 && onlyPaused) parts.push(`${folderName(onlyPaused.path)} is paused`)
      else if (paused.length > 1) parts.push(`${plural(paused.length, 'folder')} paused`)
      return parts.join(' — ')
    }
  }
}
