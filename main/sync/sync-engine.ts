import { existsSync, lstatSync } from 'node:fs'
import { lstat } from 'node:fs/promises'
import { join } from 'node:path'
import type { Backend, LocalFile, RemoteRef, UploadOutcome } from '../backends/backend.ts'
import { mapLimit } from '../backends/concurrency.ts'
import { FerryError, FileChangedError, toFerryError } from '../backends/errors.ts'
import { hashFile, unreadable } from '../backends/local-file.ts'
import type { AccountSettings, FolderSettings, Settings } from '../settings/settings-schema.ts'
import type { SettingsStore } from '../settings/settings-store.ts'
import { AccountHealth, type AccountState } from './account-health.ts'
import { BATCH_LIMITS, BIG_FILE_BYTES, planBatch, retryDelayMs } from './batch-planner.ts'
import { ExcludeMatcher } from './excludes.ts'
import { FolderWatcher, type WatchChange } from './folder-watcher.ts'
import { FOLDER_MISSING, isUnder, scanFolder } from './folder-scan.ts'
import { needsContentCheck, SyncIndex, type IndexedFile, type SeenFile } from './sync-index.ts'
import { StatusModel, type SyncState } from './sync-status.ts'

/** Makes the backend for one synced folder (dStor's remote path is per folder). */
export type BackendFactory = (
  account: AccountSettings,
  secret: string,
  folder: FolderSettings,
) => Backend

export interface SyncEngineOptions {
  readonly settings: SettingsStore
  /** The account's secret (keychain, or FERRY_SECRET headless); rejects when there is none. */
  readonly secretFor: (account: AccountSettings) => Promise<string>
  readonly makeBackend: BackendFactory
  readonly indexPath: string
  readonly status?: StatusModel
  /** Plain log lines, prefixed by subsystem; never secrets. */
  readonly log?: (line: string) => void
  /** Watch folders for changes (false for `ferry sync --once`). */
  readonly watch?: boolean
  readonly settleMs?: number
  readonly capMs?: number
  /** Full reconcile of every folder with the index, besides the watcher (default hourly). */
  readonly scanIntervalMs?: number
  /** Rescan period of a folder whose watcher ran out of OS watches. */
  readonly fallbackRescanMs?: number
  /** How often a folder found missing (an unplugged drive) is looked for again; default 5 s. */
  readonly folderRecheckMs?: number
  /** Upload calls in flight at once, across all folders. */
  readonly concurrency?: number
  /** How long `stop()` lets in-flight uploads finish before cancelling them. */
  readonly stopGraceMs?: number
  /** Called when the user's bandwidth limit changes (the HTTP layer's limiter). */
  readonly onBandwidthLimit?: (bytesPerSecond: number) => void
  readonly now?: () => number
}

/** What `syncOnce` ends with, for exit codes. */
export interface SyncSummary {
  readonly uploaded: number
  readonly failed: number
  readonly needsSignIn: boolean
}

interface FolderRuntime {
  settings: FolderSettings
  account: AccountSettings
  excludes: ExcludeMatcher
  watcher: FolderWatcher | undefined
  backend: Backend | undefined
  scanning: Promise<void> | undefined
  rescanRequested: boolean
  /** The folder itself is missing or unreadable: nothing is taken as deleted meanwhile. */
  problem: string | undefined
  /** The last scan found the folder itself missing: it is looked for again until it is back. */
  rootGone: boolean
  recheckTimer: NodeJS.Timeout | undefined
  /** `.ferryignore` changed: the next scan reloads the exclude rules first. */
  reloadExcludes: boolean
  lastFolders: readonly string[]
  treeTimer: NodeJS.Timeout | undefined
  storingTree: boolean
  /** Inodes of files removed in the last seconds, to tell a rename from a delete + create. */
  recentlyRemoved: Map<number, { relPath: string; at: number }>
  /** Inodes of files that appeared in the last seconds (a rename may report the new name first). */
  recentlyAdded: Map<number, { relPath: string; at: number }>
  /** Storing the tree failed in a run-once: reported, not retried until the next run. */
  treeFailed: boolean
  /** The running tree store, for stop() to wait for. */
  treeStore: Promise<void> | undefined
  /** Touched files reported by the watcher, hashed one after another (see #checkContent). */
  contentChecks: Promise<void>
  checking: number
  /**
   * sha256 of files as listed, known without reading them at upload (see skipsStoredContent):
   * a rename carries the old row's, a content check leaves the one it computed.
   */
  knownContent: Map<string, KnownContent>
}

/** A file's sha256, valid while the file still has this size, mtime and inode. */
interface KnownContent {
  readonly size: number
  readonly mtimeMs: number
  readonly ino: number
  readonly sha256: string
}

/** Content the server confirmed for a row of the same account, found for a file about to go. */
interface StoredMatch {
  readonly folderId: string
  readonly relPath: string
  readonly remote: RemoteRef
  readonly sha256: string
}

interface Batch {
  readonly folder: FolderRuntime
  readonly files: readonly IndexedFile[]
  readonly big: boolean
  readonly controller: AbortController
  readonly settled: Set<string>
  done: Promise<void>
}

/**
 * The sync engine: sees changes (scans + watcher), records them in the index, and uploads what
 * is due in batches, within a global concurrency limit, fairly between folders. Plain Node; the
 * CLI and the app build it with their own settings store, secrets and backends.
 * dStor: a file whose bytes the account already stored (rename, move, copy) gets their CID, unsent.
 */
export class SyncEngine {
  readonly status: StatusModel
  readonly #options: SyncEngineOptions
  readonly #index: SyncIndex
  readonly #folders = new Map<string, FolderRuntime>()
  readonly #accounts = new Map<string, AccountHealth>()
  readonly #batches = new Set<Batch>()
  readonly #now: () => number
  #settings: Settings
  #rotation = 0
  #started = false
  #stopping = false
  #retryTimer: NodeJS.Timeout | undefined
  #scanTimer: NodeJS.Timeout | undefined
  #statusTimer: NodeJS.Timeout | undefined
  #unsubscribe: (() => void) | undefined
  #uploaded = 0
  #idleWaiters: (() => void)[] = []
  #once = false
  #closed = false
  /** Aborted by stop(): scans, content hashes, tree stores and account probes end at once. */
  readonly #halt = new AbortController()
  /** Files whose network failure waits for the account's probe to say whose fault it is. */
  readonly #networkChecks = new Set<Promise<void>>()
  readonly #probes = new Map<string, Promise<AccountState>>()
  /** Run-once: how often each file changed during its upload in this run. */
  readonly #changedInRun = new Map<string, number>()

  constructor(options: SyncEngineOptions) {
    this.#options = options
    this.#now = options.now ?? Date.now
    this.#index = new SyncIndex(options.indexPath)
    this.status = options.status ?? new StatusModel()
    this.#settings = options.settings.read()
  }

  /** The index, for `ferry status` and tests (read it; the engine writes it). */
  get index(): SyncIndex {
    return this.#index
  }

  /**
   * For tests only: the watcher of a folder (undefined when not watched), so a test can inject
   * a watch failure with `simulateWatchFailure`. Product code never calls this.
   */
  watcherForTest(folderId: string): FolderWatcher | undefined {
    return this.#folders.get(folderId)?.watcher
  }

  /** Starts watching and syncing every folder in the settings. */
  async start(): Promise<void> {
    if (this.#started) throw new Error('The engine is already started')
    this.#started = true
    const recovered = this.#index.recoverInterrupted()
    if (recovered > 0) this.#log(`[sync] resuming ${recovered} interrupted uploads`)
    this.#options.onBandwidthLimit?.(this.#settings.bandwidthLimit)
    this.#unsubscribe = this.#options.settings.onDidChange((settings) => {
      void this.#applySettings(settings)
    })
    await this.#applySettings(this.#settings, true)
    const every = this.#options.scanIntervalMs ?? 3_600_000
    if (this.#options.watch !== false && every > 0) {
      this.#scanTimer = setInterval(() => {
        for (const folder of this.#folders.values()) this.#requestScan(folder)
      }, every)
      this.#scanTimer.unref()
    }
  }

  /**
   * `ferry sync --once`: scans every folder, uploads everything due, and resolves when nothing
   * is left to try in this run (files that failed stay failed, with their reasons).
   */
  async syncOnce(): Promise<SyncSummary> {
    this.#once = true
    this.#index.retryAllFailed()
    await this.start()
    await this.whenIdle()
    let failed = 0
    for (const id of this.#folders.keys()) failed += this.#index.counts(id).failed
    const needsSignIn = [...this.#accounts.values()].some((a) => a.state === 'needs-sign-in')
    return { uploaded: this.#uploaded, failed, needsSignIn }
  }

  /** Resolves once no scan or upload runs and nothing is due now. */
  whenIdle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve()
    return new Promise((resolve) => this.#idleWaiters.push(resolve))
  }

  pauseAll(paused = true): void {
    this.#options.settings.update((s) => ({ ...s, paused }))
  }

  pauseFolder(folderId: string, paused = true): void {
    this.#options.settings.update((s) => ({
      ...s,
      folders: s.folders.map((f) => (f.id === folderId ? { ...f, paused } : f)),
    }))
  }

  /** The user's "Retry": failed files (or one) are due now; a blocked account is re-checked. */
  async retry(folderId: string, relPath?: string): Promise<void> {
    const folder = this.#folders.get(folderId)
    if (!folder) return
    this.#index.retry(folderId, relPath)
    const health = this.#accounts.get(folder.account.id)
    if (health && health.state !== 'ok') await health.check()
    this.#pump()
  }

  /**
   * A new secret was saved for the account ("sign in again"): backends built with the old one
   * are dropped, and an account that was blocked is checked now and resumes if it works.
   */
  async recheckAccount(accountId: string): Promise<void> {
    this.#dropBackends(accountId)
    const health = this.#accounts.get(accountId)
    if (health && health.state !== 'ok') await health.check()
    this.#pump()
  }

  /**
   * Stops cleanly: no new work, watchers closed, in-flight uploads get `stopGraceMs` to finish
   * and are then cancelled; the index is left consistent (cut-short files are due again).
   */
  async stop(): Promise<void> {
    if (this.#stopping) return
    this.#stopping = true
    this.#halt.abort()
    this.#unsubscribe?.()
    clearTimeout(this.#retryTimer)
    clearInterval(this.#scanTimer)
    clearTimeout(this.#statusTimer)
    for (const health of this.#accounts.values()) health.dispose()
    await Promise.all([...this.#folders.values()].map((f) => f.watcher?.close()))
    for (const folder of this.#folders.values()) {
      clearTimeout(folder.treeTimer)
      clearTimeout(folder.recheckTimer)
    }
    const inFlight = Promise.all([...this.#batches].map((b) => b.done))
    const grace = this.#options.stopGraceMs ?? 2000
    let timer: NodeJS.Timeout | undefined
    await Promise.race([inFlight, new Promise((r) => (timer = setTimeout(r, grace)))])
    clearTimeout(timer)
    for (const batch of this.#batches) batch.controller.abort()
    await inFlight
    await Promise.all(
      [...this.#folders.values()].flatMap((f) => [
        f.scanning?.catch(() => {}),
        f.contentChecks,
        f.treeStore,
      ]),
    )
    await Promise.all(this.#networkChecks)
    await Promise.all(
      [...this.#folders.values()].map((f) => f.backend?.close().catch(() => undefined)),
    )
    this.#closed = true
    this.#index.close()
    this.status.dispose()
    for (const resolve of this.#idleWaiters.splice(0)) resolve()
  }

  // ---- folders and settings ----

  async #applySettings(settings: Settings, first = false): Promise<void> {
    if (this.#stopping) return
    const before = this.#settings
    this.#settings = settings
    if (!first && before.bandwidthLimit !== settings.bandwidthLimit) {
      this.#options.onBandwidthLimit?.(settings.bandwidthLimit)
    }
    const wanted = new Map(settings.folders.map((f) => [f.id, f]))
    for (const [id, folder] of this.#folders) {
      const next = wanted.get(id)
      const account = next && settings.accounts.find((a) => a.id === next.accountId)
      if (!next || !account || JSON.stringify(account) !== JSON.stringify(folder.account)) {
        await this.#dropFolder(folder)
      }
    }
    if (first) {
      // Folders removed from the settings while Ferry was not running.
      for (const id of this.#index.folderIds()) if (!wanted.has(id)) this.#index.forgetFolder(id)
    }
    const adding: Promise<void>[] = []
    for (const folder of settings.folders) {
      const existing = this.#folders.get(folder.id)
      if (existing) {
        const excludesChanged =
          JSON.stringify(existing.settings.excludes) !== JSON.stringify(folder.excludes)
        existing.settings = folder
        if (excludesChanged) this.#requestScan(existing, true)
        continue
      }
      const account = settings.accounts.find((a) => a.id === folder.accountId)
      if (account) adding.push(this.#addFolder(folder, account))
    }
    await Promise.all(adding)
    this.#pump()
    this.#refreshStatus()
  }

  async #addFolder(settings: FolderSettings, account: AccountSettings): Promise<void> {
    const runtime: FolderRuntime = {
      settings,
      account,
      excludes: new ExcludeMatcher(settings.excludes),
      watcher: undefined,
      backend: undefined,
      scanning: undefined,
      rescanRequested: false,
      problem: undefined,
      rootGone: false,
      recheckTimer: undefined,
      reloadExcludes: false,
      lastFolders: [],
      treeTimer: undefined,
      storingTree: false,
      treeFailed: false,
      treeStore: undefined,
      contentChecks: Promise.resolve(),
      checking: 0,
      knownContent: new Map(),
      recentlyRemoved: new Map(),
      recentlyAdded: new Map(),
    }
    this.#folders.set(settings.id, runtime)
    this.#healthFor(account)
    this.status.setFolders(
      [...this.#folders.values()].map((f) => ({
        id: f.settings.id,
        path: f.settings.path,
        accountId: f.account.id,
        accountLabel: `${f.account.backend} ${f.account.server}`,
      })),
    )
    runtime.excludes = await this.#loadExcludes(runtime)
    if (this.#options.watch !== false) {
      await this.#watch(runtime)
      if (this.#stopping || this.#folders.get(settings.id) !== runtime) {
        await runtime.watcher?.close()
        return
      }
    }
    // The watcher runs before the scan starts, so a change made meanwhile is seen by one of them.
    this.#requestScan(runtime)
    await runtime.scanning
  }

  /** Starts watching the folder (again: a folder back after it went has lost its old watch). */
  async #watch(runtime: FolderRuntime): Promise<void> {
    const { settings } = runtime
    const old = runtime.watcher
    runtime.watcher = undefined
    await old?.close()
    const watcher = new FolderWatcher({
      root: settings.path,
      excludes: runtime.excludes,
      settleMs: this.#options.settleMs,
      capMs: this.#options.capMs,
      fallbackRescanMs: this.#options.fallbackRescanMs,
      onChanges: (changes) => this.#onChanges(runtime, changes),
      onDegraded: (message) => {
        this.#log(`[watcher] ${message}`)
        this.status.setDegraded(settings.id, message)
      },
    })
    const watchStarted = performance.now()
    try {
      await watcher.start()
      if (this.#stopping || this.#folders.get(settings.id) !== runtime) {
        await watcher.close()
        return
      }
      runtime.watcher = watcher
      this.status.setDegraded(settings.id, watcher.degraded)
      this.#log(`[watcher] ${settings.path}: watching (${elapsedMs(watchStarted)} ms)`)
    } catch (error) {
      // A folder that cannot be watched is still scanned; the status says why.
      await watcher.close().catch(() => undefined)
      runtime.problem = `Cannot watch ${settings.path}: ${(error as Error).message}`
      this.#log(`[watcher] ${runtime.problem}`)
    }
  }

  async #dropFolder(folder: FolderRuntime): Promise<void> {
    this.#folders.delete(folder.settings.id)
    clearTimeout(folder.treeTimer)
    clearTimeout(folder.recheckTimer)
    await folder.watcher?.close()
    for (const batch of this.#batches) if (batch.folder === folder) batch.controller.abort()
    await Promise.all([...this.#batches].filter((b) => b.folder === folder).map((b) => b.done))
    await folder.backend?.close().catch(() => undefined)
    if (!this.#settings.folders.some((f) => f.id === folder.settings.id)) {
      this.#index.forgetFolder(folder.settings.id)
    }
  }

  async #loadExcludes(folder: FolderRuntime): Promise<ExcludeMatcher> {
    try {
      return await ExcludeMatcher.forFolder(folder.settings.path, folder.settings.excludes)
    } catch (error) {
      this.#activity(folder, '.ferryignore', 'info', `Cannot read .ferryignore: ${String(error)}`)
      return new ExcludeMatcher(folder.settings.excludes)
    }
  }

  #healthFor(account: AccountSettings): AccountHealth {
    let health = this.#accounts.get(account.id)
    if (!health) {
      health = new AccountHealth({
        probe: () => this.#probe(account.id),
        onChange: (state, message) => this.#onAccountState(account.id, state, message),
      })
      this.#accounts.set(account.id, health)
    }
    return health
  }

  // ---- seeing changes ----

  #requestScan(folder: FolderRuntime, reloadExcludes = false): void {
    if (this.#stopping) return
    // Kept on the folder: a .ferryignore change seen during a scan reloads before the next one.
    if (reloadExcludes) folder.reloadExcludes = true
    if (folder.scanning) {
      folder.rescanRequested = true
      return
    }
    folder.scanning = (async () => {
      do {
        folder.rescanRequested = false
        this.#refreshStatus()
        if (folder.reloadExcludes) {
          folder.reloadExcludes = false
          folder.excludes = await this.#loadExcludes(folder)
          folder.watcher?.setExcludes(folder.excludes)
        }
        await this.#scan(folder).catch((error: unknown) => {
          // Cut short by stop(): nothing to report.
          if (!this.#halt.signal.aborted)
            this.#log(`[scan] ${folder.settings.path}: ${String(error)}`)
        })
      } while (folder.rescanRequested && !this.#stopping)
    })().finally(() => {
      folder.scanning = undefined
      this.#pump()
      this.#refreshStatus()
    })
  }

  async #scan(folder: FolderRuntime): Promise<void> {
    const id = folder.settings.id
    const started = performance.now()
    const scan = await scanFolder(folder.settings.path, folder.excludes, this.#halt.signal)
    if (this.#stopping || this.#folders.get(id) !== folder) return
    const rootProblem = scan.unreadable.find((u) => u.relPath === '')
    if (rootProblem) {
      // A missing folder (unplugged drive, renamed) is not "everything deleted".
      folder.problem = `${folder.settings.path}: ${rootProblem.reason}`
      this.#log(`[scan] ${folder.problem}`)
      if (this.#options.watch !== false) {
        // Nothing reports its return (its watch went with it): look for it now and then.
        folder.rootGone = true
        clearTimeout(folder.recheckTimer)
        folder.recheckTimer = setTimeout(
          () => this.#requestScan(folder),
          this.#options.folderRecheckMs ?? 5000,
        )
        folder.recheckTimer.unref()
      }
      return
    }
    if (folder.rootGone) {
      // Back (a drive plugged in again): with its own .ferryignore, watched afresh, and scanned
      // again, so that nothing changed before the new watch started goes unseen.
      folder.rootGone = false
      folder.excludes = await this.#loadExcludes(folder)
      await this.#watch(folder)
      folder.rescanRequested = true
      return
    }
    folder.problem = undefined
    folder.lastFolders = scan.folders
    const now = this.#now()
    const rows = this.#index.all(id)
    const maybeSame: SeenFile[] = []
    this.#index.transaction(() => {
      const seen = new Set<string>()
      for (const file of scan.files) {
        seen.add(file.relPath)
        const row = rows.get(file.relPath)
        if (row && needsContentCheck(row, file)) maybeSame.push(file)
        else this.#index.seen(id, file, now, row ?? null)
      }
      for (const special of scan.special) {
        seen.add(special.relPath)
        this.#recordSpecial(folder, special.relPath, special.kind, now)
      }
      const unreadable = scan.unreadable.map((u) => u.relPath)
      for (const { relPath, reason } of scan.unreadable) {
        this.#activity(folder, relPath, 'failed', `Cannot read ${relPath}: ${reason}`)
      }
      for (const [relPath, row] of rows) {
        if (seen.has(relPath) || unreadable.some((prefix) => isUnder(relPath, prefix))) continue
        if (folder.excludes.excludes(relPath)) {
          if (row.state !== 'excluded') this.#index.excluded(id, relPath, now)
        } else if (row.state !== 'removed' && row.state !== 'excluded') {
          this.#index.removed(id, relPath, false, now)
        }
      }
    })
    await this.#hashAndRecord(folder, maybeSame)
    if (this.#stopping) return
    // Every file is in the index now (`npm run bench:sync` times the scan by this line).
    this.#log(
      `[scan] ${folder.settings.path}: ${scan.files.length} files in ${elapsedMs(started)} ms`,
    )
    if (storesTrees(folder)) this.#scheduleTree(folder)
    this.#pump()
  }

  /**
   * Same size as confirmed, but a new mtime or inode: hashes each file to tell a touch or a copy
   * (recorded as synced, nothing uploaded) from an edit (queued). The row may move on while a
   * hash runs (the watcher records a newer version, an upload starts): then what was concluded
   * from the older look is dropped, and the newer record stands.
   */
  async #hashAndRecord(folder: FolderRuntime, files: readonly SeenFile[]): Promise<void> {
    const id = folder.settings.id
    for (const file of files) {
      if (this.#stopping || this.#folders.get(id) !== folder) return
      const checked = this.#index.get(id, file.relPath)
      if (!checked?.synced || !needsContentCheck(checked, file)) continue
      const sha256 = await hashFile(localFile(folder, file), [], this.#halt.signal).catch(
        () => undefined,
      )
      if (this.#stopping) return
      if (sha256 === checked.synced.sha256) this.#index.confirmSameContent(id, file, checked)
      else if (this.#index.unchangedSince(id, checked)) {
        if (sha256 !== undefined) this.#knowContent(folder, file, sha256)
        this.#index.seen(id, file, this.#now())
      }
    }
  }

  /** Remembers what `file`, as listed, hashed to, where a known sha256 can spare a send. */
  #knowContent(folder: FolderRuntime, file: SeenFile, sha256: string): void {
    if (!skipsStoredContent(folder)) return
    const { size, mtimeMs, ino } = file
    folder.knownContent.set(file.relPath, { size, mtimeMs, ino, sha256 })
  }

  /**
   * A rename recognised by inode: the file at its new path holds the old row's confirmed
   * content if it still has the size and mtime that content was confirmed with (the test the
   * index makes for an unchanged file, see seen()).
   */
  #carryContent(folder: FolderRuntime, old: IndexedFile, file: SeenFile): void {
    const { synced } = old
    if (!synced || old.ino !== file.ino) return
    if (synced.size !== file.size || synced.mtimeMs !== file.mtimeMs) return
    this.#knowContent(folder, file, synced.sha256)
  }

  /** Content checks of files the watcher reported: per folder, one batch after another. */
  #checkContent(folder: FolderRuntime, files: readonly SeenFile[]): void {
    if (files.length === 0) return
    folder.checking++
    folder.contentChecks = folder.contentChecks
      .then(() => this.#hashAndRecord(folder, files))
      .catch((error: unknown) => this.#log(`[watcher] ${folder.settings.path}: ${String(error)}`))
      .finally(() => {
        folder.checking--
        this.#pump()
        this.#refreshStatus()
      })
  }

  #onChanges(folder: FolderRuntime, changes: readonly WatchChange[]): void {
    if (this.#stopping || this.#folders.get(folder.settings.id) !== folder) return
    if (folder.rootGone) {
      // News from the watch of a folder that went: it may be back. The scan finds out, watches
      // it afresh, and tells a remounted file from an edited one (the watch cannot).
      this.#requestScan(folder)
      return
    }
    const id = folder.settings.id
    const now = this.#now()
    const recent = folder.recentlyRemoved
    const added = folder.recentlyAdded
    for (const map of [recent, added]) {
      for (const [ino, entry] of map) if (now - entry.at > RENAME_WINDOW_MS) map.delete(ino)
    }
    const toCheck: SeenFile[] = []
    this.#index.transaction(() => {
      for (const change of changes) {
        if (change.type !== 'removed') continue
        if (!change.folder) {
          const row = this.#index.get(id, change.relPath)
          const to = row && added.get(row.ino)
          if (row && to && to.relPath !== change.relPath) {
            added.delete(row.ino)
            this.#activity(folder, to.relPath, 'renamed', `Renamed from ${change.relPath}`)
            const moved = this.#index.get(id, to.relPath)
            if (moved?.state === 'pending') this.#carryContent(folder, row, moved)
          } else if (row && row.ino !== 0) {
            // What appeared at this path is gone again: not the new name of a later removal.
            if (to) added.delete(row.ino)
            recent.set(row.ino, { relPath: change.relPath, at: now })
          }
        }
        const gone = this.#index.removed(id, change.relPath, change.folder, now)
        if (gone.length > 0 && !change.folder) {
          this.#activity(folder, change.relPath, 'removed', 'Removed locally (kept in storage)')
        } else if (gone.length > 0) {
          this.#activity(
            folder,
            change.relPath,
            'removed',
            `Folder removed locally: ${gone.length} files (kept in storage)`,
          )
        }
      }
      for (const change of changes) {
        if (change.type === 'file') {
          const row = this.#index.get(id, change.relPath)
          const from = recent.get(change.ino)
          if (from !== undefined && from.relPath !== change.relPath) {
            recent.delete(change.ino)
            this.#activity(folder, change.relPath, 'renamed', `Renamed from ${from.relPath}`)
            const old = this.#index.get(id, from.relPath)
            if (old) this.#carryContent(folder, old, change)
          } else if (!row) {
            added.set(change.ino, { relPath: change.relPath, at: now })
          }
          const { relPath, size, mtimeMs, ino } = change
          if (row && needsContentCheck(row, change)) toCheck.push({ relPath, size, mtimeMs, ino })
          else this.#index.seen(id, change, now)
        } else if (change.type === 'special') {
          this.#recordSpecial(folder, change.relPath, change.kind, now)
        } else if (change.type === 'rescan') {
          this.#requestScan(folder, change.reason.includes('exclude'))
        }
      }
    })
    this.#checkContent(folder, toCheck)
    if (storesTrees(folder)) this.#scheduleTree(folder)
    this.#pump()
    this.#refreshStatus()
  }

  /** Symlinks are kept as links where the backend stores folder trees; else, like FIFOs, skipped. */
  #recordSpecial(
    folder: FolderRuntime,
    relPath: string,
    kind: 'symlink' | 'other',
    now: number,
  ): void {
    const id = folder.settings.id
    const keepsLinks = kind === 'symlink' && folder.account.backend === 'perkeep'
    const reason = keepsLinks ? SYMLINK_KEPT : specialReason(kind)
    if (this.#index.skipped(id, relPath, reason, now)) {
      if (keepsLinks) {
        this.#index.markTreeDirty(id)
        this.#scheduleTree(folder)
      } else this.#activity(folder, relPath, 'skipped', reason)
    }
  }

  // ---- the scheduler ----

  #pump(): void {
    if (this.#stopping || !this.#started) return
    clearTimeout(this.#retryTimer)
    const limit = this.#options.concurrency ?? 3
    const folders = [...this.#folders.values()]
    let idleRounds = 0
    while (this.#batches.size < limit && folders.length > 0 && idleRounds < folders.length) {
      const folder = folders[this.#rotation++ % folders.length] as FolderRuntime
      const batch = this.#planFor(folder, limit)
      if (batch) {
        idleRounds = 0
        this.#run(batch)
      } else idleRounds++
    }
    const next = this.#once ? undefined : this.#index.nextRetryAt(this.#now())
    if (next !== undefined) {
      this.#retryTimer = setTimeout(() => this.#pump(), Math.max(0, next - this.#now()) + 10)
      this.#retryTimer.unref()
    }
    this.#checkIdle()
  }

  #canUpload(folder: FolderRuntime): boolean {
    return (
      !this.#settings.paused &&
      !folder.settings.paused &&
      folder.problem === undefined &&
      this.#accounts.get(folder.account.id)?.state === 'ok'
    )
  }

  #planFor(folder: FolderRuntime, limit: number): Batch | undefined {
    if (!this.#canUpload(folder)) return undefined
    const limits = BATCH_LIMITS[folder.account.backend]
    const due = this.#due(folder, limits.files + 1)
    const big = [...this.#batches].filter((b) => b.big).length
    const planned = planBatch(due, limits, limit === 1 || big < limit - 1)
    if (planned.length === 0) return undefined
    const files = this.#index.markUploading(folder.settings.id, planned)
    if (files.length === 0) return undefined
    return {
      folder,
      files,
      big: files.length === 1 && (files[0] as IndexedFile).size >= BIG_FILE_BYTES,
      controller: new AbortController(),
      settled: new Set(),
      done: Promise.resolve(),
    }
  }

  #run(batch: Batch): void {
    this.#batches.add(batch)
    batch.done = this.#upload(batch)
      .catch((error: unknown) => this.#batchFailed(batch, toFerryError(error)))
      .finally(() => {
        const cut = batch.files.filter((f) => !batch.settled.has(f.relPath))
        this.#requeue(batch, cut)
        for (const file of batch.files)
          this.status.transferEnded(batch.folder.settings.id, file.relPath)
        this.#batches.delete(batch)
        this.#pump()
        this.#refreshStatus()
      })
  }

  async #upload(batch: Batch): Promise<void> {
    const { folder } = batch
    const id = folder.settings.id
    const backend = await this.#backendFor(folder)
    const files = skipsStoredContent(folder) ? await this.#alreadyStored(batch) : batch.files
    if (files.length === 0) return
    const started = new Set<string>()
    const onOutcome = (outcome: UploadOutcome): void => {
      const sent = batch.files.find((f) => f.relPath === outcome.file.relPath)
      if (!sent || batch.settled.has(sent.relPath)) return
      batch.settled.add(sent.relPath)
      this.status.transferEnded(id, sent.relPath)
      if (outcome.ok) {
        const state = this.#index.confirmed(id, sent, outcome, this.#now())
        this.#uploaded++
        this.status.fileDone(id, sent.relPath, sent.size)
        this.#activity(folder, sent.relPath, 'uploaded', `Uploaded (${sent.size} bytes)`)
        if (state === 'pending') {
          this.#activity(folder, sent.relPath, 'info', 'Changed during upload: queued again')
        }
        this.#scheduleTree(folder)
      } else this.#fileFailed(folder, sent, outcome.error)
    }
    await backend.upload(
      files.map((file) => localFile(folder, file)),
      {
        signal: batch.controller.signal,
        journal: this.#index.journal(id),
        onOutcome,
        onProgress: (event) => {
          if (!started.has(event.relPath)) {
            started.add(event.relPath)
            const file = batch.files.find((f) => f.relPath === event.relPath)
            this.status.transferStarted(id, event.relPath, file?.size ?? 0)
          }
          this.status.transferProgress(id, event.relPath, event.bytes)
        },
      },
    )
    this.#healthFor(folder.account).ok()
  }

  /**
   * Content addressing (see skipsStoredContent): the batch's files whose bytes the server already
   * holds for this account are recorded with the CID it confirmed for them, and not sent; returns
   * the files left to send. A file's sha256 is known without reading it after a rename (the old
   * row's) or a content check; otherwise it is hashed first only if a confirmed row of the
   * account has its size, so the one read of the upload stays the only one for most files.
   */
  async #alreadyStored(batch: Batch): Promise<IndexedFile[]> {
    const { folder } = batch
    const { signal } = batch.controller
    const accountFolders = [...this.#folders.values()]
      .filter((f) => f.account.id === folder.account.id)
      .map((f) => f.settings.id)
    const left = await mapLimit(
      batch.files,
      4,
      async (file) => {
        const match = await this.#storedMatch(folder, file, accountFolders, signal)
        if (!match || signal.aborted) return file
        await this.#confirmStored(batch, file, match)
        return undefined
      },
      signal,
    )
    return left.filter((file): file is IndexedFile => file !== undefined)
  }

  async #storedMatch(
    folder: FolderRuntime,
    file: IndexedFile,
    accountFolders: readonly string[],
    signal: AbortSignal,
  ): Promise<StoredMatch | undefined> {
    const known = folder.knownContent.get(file.relPath)
    folder.knownContent.delete(file.relPath)
    let sha256: string | undefined
    if (known?.size === file.size && known.mtimeMs === file.mtimeMs && known.ino === file.ino) {
      sha256 = known.sha256
    } else if (this.#index.confirmedOfSize(accountFolders, file.size)) {
      // Unreadable, changed, cancelled: the upload finds out and says so.
      sha256 = await hashFile(localFile(folder, file), [], signal).catch(() => undefined)
    }
    if (sha256 === undefined) return undefined
    const stored = this.#index.confirmedContent(accountFolders, file.size, sha256)
    if (!stored || !('cid' in stored.remote)) return undefined
    return { ...stored, sha256 }
  }

  /** Records `sent` as confirmed with content the server already holds, if it is still as listed. */
  async #confirmStored(batch: Batch, sent: IndexedFile, match: StoredMatch): Promise<void> {
    const { folder } = batch
    const id = folder.settings.id
    const file = localFile(folder, sent)
    let error: FerryError | undefined
    try {
      // As after an upload (PROTOCOLS.md §4): a file that moved since it was listed is not it.
      const stats = await lstat(file.absPath)
      if (stats.size !== sent.size || stats.mtimeMs !== sent.mtimeMs || stats.ino !== sent.ino) {
        error = new FileChangedError(`${sent.relPath} changed while it was checked`)
      }
    } catch (thrown) {
      error = unreadable(file, thrown)
    }
    if (batch.settled.has(sent.relPath)) return
    batch.settled.add(sent.relPath)
    if (error) {
      this.#fileFailed(folder, sent, error)
      return
    }
    const state = this.#index.confirmed(id, sent, match, this.#now())
    const other = this.#folders.get(match.folderId)
    const same =
      match.folderId === id || !other ? match.relPath : join(other.settings.path, match.relPath)
    this.#activity(
      folder,
      sent.relPath,
      'info',
      `Already stored (same content as ${same}): nothing uploaded`,
    )
    if (state === 'pending') {
      this.#activity(folder, sent.relPath, 'info', 'Changed meanwhile: queued again')
    }
  }

  #fileFailed(folder: FolderRuntime, sent: IndexedFile, error: FerryError): void {
    const id = folder.settings.id
    if (this.#blocksAccount(folder, error)) {
      this.#index.requeue(id, [sent.relPath])
      return
    }
    if (error.kind === 'cancelled') {
      this.#index.requeue(id, [sent.relPath])
      return
    }
    if (error instanceof FileChangedError) {
      this.#changedDuringUpload(folder, sent)
      return
    }
    if (isNetworkLevel(error) && !this.#once) {
      this.#networkFailure(folder, [sent], error)
      return
    }
    if (error.kind === 'local' && !existsSync(folder.settings.path)) {
      // Gone with its whole folder (an unplugged drive): neither failed nor deleted. It waits
      // while the scan asked for here finds the folder missing and looks for its return.
      this.#index.requeue(id, [sent.relPath])
      folder.problem ??= `${folder.settings.path}: ${FOLDER_MISSING}`
      this.#requestScan(folder)
      return
    }
    if (error.kind === 'local') {
      // Deleted after it was queued: dropped with a note, not a failure.
      void lstat(join(folder.settings.path, sent.relPath)).catch((statError: unknown) => {
        if (this.#closed || (statError as { code?: string }).code !== 'ENOENT') return
        const gone = this.#index.removed(id, sent.relPath, false, this.#now())
        if (gone.length > 0) {
          this.#activity(folder, sent.relPath, 'removed', 'Deleted before it was uploaded')
          this.#refreshStatus()
        }
      })
    }
    this.#backOff(folder, sent, error.message, error.retryAfterMs)
  }

  /** A failure of the file's own: an attempt counted, and a growing wait before the next. */
  #backOff(folder: FolderRuntime, sent: IndexedFile, reason: string, retryAfterMs?: number): void {
    const id = folder.settings.id
    const row = this.#index.get(id, sent.relPath)
    const delay = retryDelayMs((row?.attempts ?? 0) + 1, retryAfterMs)
    this.#index.failed(id, sent, reason, delay, this.#now())
    this.#activity(folder, sent.relPath, 'failed', reason)
  }

  /**
   * The file changed while it was being uploaded (PROTOCOLS.md §4): queued again, not failed.
   * Watching, it waits for the watcher to say it settled (or hit its cap again), at the latest
   * one cap from now, so a file that keeps growing goes out once per cap, not in a loop. In a
   * run-once nothing will say so: it goes again at once, and after a few times it is reported.
   */
  #changedDuringUpload(folder: FolderRuntime, sent: IndexedFile): void {
    const id = folder.settings.id
    const key = `${id}\0${sent.relPath}`
    const times = (this.#changedInRun.get(key) ?? 0) + 1
    if (this.#once) {
      this.#changedInRun.set(key, times)
      if (times > CHANGED_REQUEUES_PER_RUN) {
        this.#backOff(folder, sent, `${sent.relPath} kept changing while being uploaded`)
        return
      }
    }
    // Read now, in the same turn: the row must not sit in "uploading" while nothing uploads it.
    let current: SeenFile | undefined
    try {
      const stats = lstatSync(join(folder.settings.path, sent.relPath))
      if (stats.isFile()) {
        current = {
          relPath: sent.relPath,
          size: stats.size,
          mtimeMs: stats.mtimeMs,
          ino: stats.ino,
        }
      }
    } catch {
      // Gone: the watcher (or the upload that finds it missing) reports it.
    }
    const dueAt = this.#once ? 0 : this.#now() + (this.#options.capMs ?? 60_000)
    this.#index.changedDuringUpload(id, sent, current, dueAt)
    this.#activity(folder, sent.relPath, 'info', 'Changed during upload: queued again')
  }

  /**
   * A network-level failure (no HTTP answer) of some files. Whose fault it is, the account's
   * probe tells: if the server does not answer it either, the account is offline and the files
   * wait without an attempt counted; if it answers, the failure is these files' own, with their
   * backoff (a file whose upload always breaks the connection must not flap the account).
   */
  #networkFailure(folder: FolderRuntime, files: readonly IndexedFile[], error: FerryError): void {
    const id = folder.settings.id
    const check = this.#probeAccount(folder.account)
      .then((state) => {
        if (this.#closed) return
        if (state !== 'ok' || this.#halt.signal.aborted) {
          this.#index.requeue(
            id,
            files.map((f) => f.relPath),
          )
          return
        }
        for (const file of files) this.#backOff(folder, file, error.message, error.retryAfterMs)
      })
      .finally(() => {
        this.#networkChecks.delete(check)
        this.#pump()
        this.#refreshStatus()
      })
    this.#networkChecks.add(check)
  }

  /** Probes the account once for every caller that asks while a probe runs. */
  #probeAccount(account: AccountSettings): Promise<AccountState> {
    const health = this.#healthFor(account)
    if (health.state !== 'ok') return Promise.resolve(health.state)
    let probe = this.#probes.get(account.id)
    if (!probe) {
      probe = health.check().finally(() => this.#probes.delete(account.id))
      this.#probes.set(account.id, probe)
    }
    return probe
  }

  /** Auth failures are the account's, not the file's: the account waits for the user. */
  #blocksAccount(folder: FolderRuntime, error: FerryError): boolean {
    if (error.kind !== 'auth') return false
    this.#healthFor(folder.account).needsSignIn(error.message)
    return true
  }

  #batchFailed(batch: Batch, error: FerryError): void {
    const cut = batch.files.filter((f) => !batch.settled.has(f.relPath))
    if (error.kind === 'cancelled' || this.#blocksAccount(batch.folder, error)) return
    for (const file of cut) batch.settled.add(file.relPath)
    if (isNetworkLevel(error) && !this.#once) {
      this.#networkFailure(batch.folder, cut, error)
      return
    }
    for (const file of cut) this.#fileFailed(batch.folder, file, error)
  }

  #requeue(batch: Batch, files: readonly IndexedFile[]): void {
    if (files.length === 0) return
    this.#index.requeue(
      batch.folder.settings.id,
      files.map((f) => f.relPath),
    )
  }

  async #backendFor(folder: FolderRuntime): Promise<Backend> {
    if (folder.backend) return folder.backend
    let secret: string
    try {
      secret = await this.#options.secretFor(folder.account)
    } catch (error) {
      throw new FerryError('auth', (error as Error).message)
    }
    folder.backend ??= this.#options.makeBackend(folder.account, secret, folder.settings)
    return folder.backend
  }

  async #probe(accountId: string): Promise<{ state: AccountState; message?: string }> {
    const folder = [...this.#folders.values()].find((f) => f.account.id === accountId)
    if (!folder) return { state: 'ok' }
    let secret: string
    try {
      secret = await this.#options.secretFor(folder.account)
    } catch (error) {
      return { state: 'needs-sign-in', message: (error as Error).message }
    }
    const backend = this.#options.makeBackend(folder.account, secret, folder.settings)
    try {
      await backend.checkAuth(this.#halt.signal)
      return { state: 'ok' }
    } catch (error) {
      const typed = toFerryError(error)
      if (typed.kind === 'auth') return { state: 'needs-sign-in', message: typed.message }
      return { state: 'offline', message: typed.message }
    } finally {
      await backend.close().catch(() => undefined)
    }
  }

  #onAccountState(accountId: string, state: AccountState, message: string | undefined): void {
    this.#log(`[sync] account ${accountId}: ${state}${message ? ` (${message})` : ''}`)
    // A new secret may have been saved: the next upload builds its backend afresh.
    if (state === 'ok' || state === 'needs-sign-in') this.#dropBackends(accountId)
    for (const folder of this.#folders.values()) {
      if (folder.account.id !== accountId) continue
      for (const batch of this.#batches)
        if (batch.folder === folder && state !== 'ok') {
          batch.controller.abort()
        }
    }
    this.#pump()
    this.#refreshStatus()
  }

  #dropBackends(accountId: string): void {
    for (const folder of this.#folders.values()) {
      if (folder.account.id !== accountId || !folder.backend) continue
      const old = folder.backend
      folder.backend = undefined
      // In-flight batches hold on to it and finish (or fail) with it; it is closed after.
      const inFlight = [...this.#batches].filter((b) => b.folder === folder).map((b) => b.done)
      void Promise.all(inFlight).then(() => old.close().catch(() => undefined))
    }
  }

  // ---- Perkeep folder trees ----

  /** Once a folder's uploads quiet down, its tree (Perkeep directories) is stored again. */
  #scheduleTree(folder: FolderRuntime): void {
    clearTimeout(folder.treeTimer)
    folder.treeTimer = setTimeout(() => void this.#storeTree(folder), 2000)
    folder.treeTimer.unref()
  }

  #storeTree(folder: FolderRuntime): Promise<void> {
    if (this.#stopping || folder.storingTree) return Promise.resolve()
    const store: Promise<void> = this.#storeTreeNow(folder).finally(() => {
      // Its last step may have started the next store: that one is kept for stop().
      if (folder.treeStore === store) folder.treeStore = undefined
    })
    folder.treeStore = store
    return store
  }

  async #storeTreeNow(folder: FolderRuntime): Promise<void> {
    const id = folder.settings.id
    if (!this.#index.treeDirty(id)) return
    if (!storesTrees(folder) || !this.#canUpload(folder)) return
    if ([...this.#batches].some((b) => b.folder === folder) || folder.scanning) {
      this.#scheduleTree(folder)
      return
    }
    folder.storingTree = true
    try {
      const backend = await this.#backendFor(folder)
      if (!backend.storeTree) return
      const files = this.#index.syncedFiles(id)
      const folders = new Set<string>([''])
      for (const file of files) {
        for (let at = file.relPath.indexOf('/'); at > 0; at = file.relPath.indexOf('/', at + 1)) {
          folders.add(file.relPath.slice(0, at))
        }
      }
      const symlinks = this.#index.skippedWith(id, SYMLINK_KEPT)
      for (const link of symlinks) {
        for (let at = link.indexOf('/'); at > 0; at = link.indexOf('/', at + 1)) {
          folders.add(link.slice(0, at))
        }
      }
      const root = await backend.storeTree(
        { root: folder.settings.path, folders: [...folders], files, symlinks },
        { signal: this.#halt.signal },
      )
      this.#index.treeStored(id, root)
      this.#log(`[sync] ${folder.settings.path}: folder tree stored, root ${root}`)
    } catch (error) {
      // Cut short by stop(): stored again (the tree is still dirty) on the next start.
      if (this.#halt.signal.aborted) return
      this.#log(`[sync] ${folder.settings.path}: storing the folder tree failed: ${String(error)}`)
      if (this.#once) folder.treeFailed = true
      else this.#scheduleTree(folder)
    } finally {
      folder.storingTree = false
      this.#checkIdle()
    }
  }

  // ---- status ----

  #activity(
    folder: FolderRuntime,
    relPath: string,
    kind: 'uploaded' | 'failed' | 'removed' | 'skipped' | 'renamed' | 'info',
    message: string,
  ): void {
    this.status.activity({ folderId: folder.settings.id, relPath, kind, message })
    if (this.#options.log && kind !== 'uploaded') {
      this.#log(`[sync] ${kind} ${folder.settings.path}/${relPath}: ${message}`)
    }
  }

  #refreshStatus(): void {
    if (this.#statusTimer || this.#stopping) return
    // Counting rows is a query per folder: at most four times a second.
    this.#statusTimer = setTimeout(() => {
      this.#statusTimer = undefined
      if (this.#stopping) return
      for (const folder of this.#folders.values()) {
        const id = folder.settings.id
        const counts = this.#index.counts(id)
        this.status.setQueue(id, {
          filesRemaining: counts.pendingFiles,
          bytesRemaining: counts.pendingBytes,
        })
        const failures = this.#index.failures(id, 200)
        this.status.setFailed(
          id,
          failures.map((f) => ({
            folderId: id,
            relPath: f.relPath,
            reason: f.lastError ?? 'Failed',
            attempts: f.attempts,
            nextAttemptAt: f.nextAttemptAt,
          })),
        )
        const [state, message] = this.#folderState(folder, counts.pendingFiles - counts.failed)
        this.status.setFolderState(id, state, message)
      }
    }, 250)
    this.#statusTimer.unref()
  }

  #folderState(folder: FolderRuntime, due: number): [SyncState, string | undefined] {
    const health = this.#accounts.get(folder.account.id)
    if (health?.state === 'needs-sign-in') return ['needs-sign-in', health.message]
    if (folder.problem) return ['error', folder.problem]
    if (this.#settings.paused || folder.settings.paused) return ['paused', undefined]
    if (health?.state === 'offline') return ['offline', health.message]
    if ([...this.#batches].some((b) => b.folder === folder) || due > 0) {
      return ['syncing', undefined]
    }
    if (folder.scanning) return ['scanning', undefined]
    return ['idle', undefined]
  }

  #isIdle(): boolean {
    if (this.#stopping) return true
    if (!this.#started || this.#batches.size > 0) return false
    if (this.#networkChecks.size > 0) return false
    for (const folder of this.#folders.values()) {
      if (folder.scanning || folder.storingTree || folder.checking > 0) return false
      if (storesTrees(folder) && !folder.treeFailed && this.#index.treeDirty(folder.settings.id)) {
        if (this.#canUpload(folder)) return false
      }
      if (!this.#canUpload(folder)) continue
      if (this.#due(folder, 1).length > 0) return false
    }
    return true
  }

  /**
   * The folder's next files to upload. In a run-once, whatever is pending goes now, and files
   * that failed in this run are not tried again until the next run (nor counted in `limit`).
   */
  #due(folder: FolderRuntime, limit: number): IndexedFile[] {
    const id = folder.settings.id
    if (this.#once)
      return this.#index.due(id, Number.MAX_SAFE_INTEGER, limit, BIG_FILE_BYTES, false)
    return this.#index.due(id, this.#now(), limit, BIG_FILE_BYTES)
  }

  #checkIdle(): void {
    if (this.#idleWaiters.length === 0) return
    if (this.#once) {
      // Trees are stored at once in a run-once, not after a quiet period.
      for (const folder of this.#folders.values()) {
        if (this.#batches.size === 0 && !folder.scanning) void this.#storeTree(folder)
      }
    }
    if (!this.#isIdle()) return
    for (const resolve of this.#idleWaiters.splice(0)) resolve()
  }

  #log(line: string): void {
    this.#options.log?.(line)
  }
}

/** Perkeep keeps a symlink as a symlink blob in the folder tree (its target is not read). */
const SYMLINK_KEPT = 'Symbolic link: kept as a link in the folder tree (not followed)'

/** How often a run-once sends a file that changes during each upload before reporting it. */
const CHANGED_REQUEUES_PER_RUN = 3

/** Retryable without an HTTP answer: the connection broke, or the server never answered. */
function isNetworkLevel(error: FerryError): boolean {
  return error.kind === 'retryable' && error.status === undefined
}

/** A file that reappears with the same inode this soon after a removal was renamed. */
const RENAME_WINDOW_MS = 10_000

/**
 * Where the engine skips content the server already holds. dStor is content addressed (the same
 * bytes are the same CID) but has no call to add a name for a CID, so a file whose bytes match
 * a confirmed row of the account is recorded with that CID, and nothing is sent. Kala is not
 * content addressed; Perkeep stats its blobs and sends only the missing ones by itself.
 */
function skipsStoredContent(folder: FolderRuntime): boolean {
  return folder.account.backend === 'dstor'
}

/** Backends that keep the folder tree as objects of their own (Perkeep's directories). */
function storesTrees(folder: FolderRuntime): boolean {
  return folder.account.backend === 'perkeep'
}

function elapsedMs(since: number): number {
  return Math.round(performance.now() - since)
}

function localFile(folder: FolderRuntime, file: SeenFile): LocalFile {
  return {
    relPath: file.relPath,
    absPath: join(folder.settings.path, file.relPath),
    size: file.size,
    mtimeMs: file.mtimeMs,
  }
}

function specialReason(kind: 'symlink' | 'other'): string {
  return kind === 'symlink'
    ? 'Symbolic link: not followed, not uploaded'
    : 'Not a regular file (FIFO, socket or device): not uploaded'
}
