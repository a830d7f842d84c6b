import Database from 'better-sqlite3'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import type { RemoteRef, UploadJournal } from '../backends/backend.ts'

/**
 * Where a file stands. `pending` waits for upload (or a retry once `nextAttemptAt` passes),
 * `uploading` is handed to a backend, `synced` is confirmed by the server with the content seen
 * locally, `failed` waits for its backoff (or the user's retry), `excluded` matches an exclude
 * rule, `removed` is gone locally (nothing remote is ever deleted), `skipped` cannot be uploaded
 * (a symlink or special file; `lastError` says why).
 */
export type FileState =
  'pending' | 'uploading' | 'synced' | 'failed' | 'excluded' | 'removed' | 'skipped'

/** A file as the index knows it: what was last seen locally and what the server confirmed. */
export interface IndexedFile {
  readonly folderId: string
  readonly relPath: string
  readonly size: number
  readonly mtimeMs: number
  readonly ino: number
  readonly state: FileState
  readonly attempts: number
  readonly lastError: string | null
  readonly nextAttemptAt: number
  /** What the server confirmed, with the local size/mtime it was confirmed for. */
  readonly synced: {
    readonly size: number
    readonly mtimeMs: number
    readonly sha256: string
    readonly remote: RemoteRef
    readonly at: number
  } | null
  readonly changedAt: number
}

/** What a scan or the watcher saw of a regular file. */
export interface SeenFile {
  readonly relPath: string
  readonly size: number
  readonly mtimeMs: number
  readonly ino: number
}

interface Row {
  folder_id: string
  rel_path: string
  size: number
  mtime_ms: number
  ino: number
  state: FileState
  attempts: number
  last_error: string | null
  next_attempt_at: number
  synced_size: number | null
  synced_mtime_ms: number | null
  sha256: string | null
  remote: string | null
  synced_at: number | null
  changed_at: number
}

/** Per-folder counts for the status view. */
export interface FolderCounts {
  readonly pendingFiles: number
  readonly pendingBytes: number
  readonly synced: number
  readonly failed: number
}

/**
 * The engine's memory, in SQLite with WAL: one row per file, which is both the record of what is
 * confirmed and the persistent upload queue. Every transition is one transaction, so a kill -9
 * at any instant leaves a state the engine resumes from: `uploading` rows go back to `pending`,
 * and a row becomes `synced` only in the same statement that stores the server's confirmation.
 */
export class SyncIndex {
  readonly #db: Database.Database
  readonly #get: Database.Statement
  readonly #insertSeen: Database.Statement
  readonly #due: Database.Statement
  readonly #setState: Database.Statement
  readonly #statements = new Map<string, Database.Statement>()

  /**
   * Opens (and creates, with its tables) the index at `path`. With `readonly`, an existing index
   * is only read (`ferry status` while no engine runs): nothing is created, migrated or set, and
   * a missing file is an error.
   */
  constructor(path: string, options: { readonly readonly?: boolean } = {}) {
    if (options.readonly) {
      this.#db = new Database(path, { readonly: true, fileMustExist: true, timeout: 10_000 })
    } else {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
      this.#db = new Database(path, { timeout: 10_000 })
      this.#createTables()
    }
    this.#get = this.#db.prepare('SELECT * FROM files WHERE folder_id = ? AND rel_path = ?')
    this.#insertSeen = this.#db.prepare(
      `INSERT INTO files (folder_id, rel_path, size, mtime_ms, ino, state, changed_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    )
    this.#due = this.#db.prepare(
      `SELECT * FROM files WHERE folder_id = ? AND state IN (?, ?)
       AND next_attempt_at <= ? ORDER BY size < ? DESC, changed_at, rel_path LIMIT ?`,
    )
    this.#setState = this.#db.prepare(
      `UPDATE files SET state = ?, last_error = ?, changed_at = ? WHERE folder_id = ? AND rel_path = ?`,
    )
  }

  #createTables(): void {
    this.#db.pragma('journal_mode = WAL')
    // FULL: a synced row must survive a power cut, not just a crash of the process.
    this.#db.pragma('synchronous = FULL')
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS files (
        folder_id TEXT NOT NULL,
        rel_path TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ms REAL NOT NULL,
        ino INTEGER NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        next_attempt_at INTEGER NOT NULL DEFAULT 0,
        synced_size INTEGER,
        synced_mtime_ms REAL,
        sha256 TEXT,
        remote TEXT,
        synced_at INTEGER,
        changed_at INTEGER NOT NULL,
        PRIMARY KEY (folder_id, rel_path)
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS files_queue ON files (state, next_attempt_at);
      CREATE INDEX IF NOT EXISTS files_content ON files (synced_size, sha256)
        WHERE sha256 IS NOT NULL;
      CREATE TABLE IF NOT EXISTS journal (
        folder_id TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (folder_id, key)
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS folder_meta (
        folder_id TEXT PRIMARY KEY,
        root_ref TEXT,
        tree_dirty INTEGER NOT NULL DEFAULT 0
      ) WITHOUT ROWID;
    `)
  }

  /**
   * The statement for `sql`, prepared once. Preparing per call costs time, and each statement
   * holds native memory until V8 collects it: a rescan of 100 000 files went past 1 GB.
   */
  #sql(sql: string): Database.Statement {
    let statement = this.#statements.get(sql)
    if (!statement) {
      statement = this.#db.prepare(sql)
      this.#statements.set(sql, statement)
    }
    return statement
  }

  /** Runs `work` in one transaction (all of it lands, or none). */
  transaction<T>(work: () => T): T {
    return this.#db.transaction(work)()
  }

  get(folderId: string, relPath: string): IndexedFile | undefined {
    const row = this.#get.get(folderId, relPath) as Row | undefined
    return row && fromRow(row)
  }

  /** Every row of a folder, by relative path. */
  all(folderId: string): Map<string, IndexedFile> {
    const rows = this.#db.prepare('SELECT * FROM files WHERE folder_id = ?').all(folderId) as Row[]
    return new Map(rows.map((row) => [row.rel_path, fromRow(row)]))
  }

  /**
   * Records a regular file as seen locally; returns true when it now waits for upload. A file
   * whose size, mtime and inode match what the server confirmed stays synced; anything else is
   * queued. (Callers hash a same-size file first when only its mtime or inode moved: see
   * needsContentCheck.) A file requeued to wait until it settles is due again at once: this
   * is the news it waited for.
   */
  seen(
    folderId: string,
    file: SeenFile,
    now: number,
    /** The file's row as the caller just read it (null: none), saving a lookup per file. */
    known?: IndexedFile | null,
  ): boolean {
    const row = known === undefined ? this.get(folderId, file.relPath) : (known ?? undefined)
    if (!row) {
      this.#insertSeen.run(
        folderId,
        file.relPath,
        file.size,
        file.mtimeMs,
        file.ino,
        'pending',
        now,
      )
      return true
    }
    const sameAsSeen = row.size === file.size && row.mtimeMs === file.mtimeMs
    const sameAsSynced =
      row.synced &&
      row.synced.size === file.size &&
      row.synced.mtimeMs === file.mtimeMs &&
      row.ino === file.ino
    let state: FileState
    if (row.state === 'uploading') state = 'uploading'
    else if (sameAsSynced) state = 'synced'
    // An unchanged failed file keeps its backoff; a changed one is worth trying at once.
    else if (row.state === 'failed' && sameAsSeen && row.ino === file.ino) state = 'failed'
    else state = 'pending'
    const reset =
      state === 'pending' && !(row.state === 'pending' && sameAsSeen && row.ino === file.ino)
    const waiting = state === 'pending' && row.state === 'pending' && row.nextAttemptAt > now
    // A rescan sees mostly unchanged files: an update that would change nothing is skipped.
    const unchanged =
      sameAsSeen &&
      row.ino === file.ino &&
      row.state === state &&
      !reset &&
      !waiting &&
      (state !== 'synced' || row.lastError === null)
    if (unchanged) return state === 'pending'
    this.#sql(
      `UPDATE files SET size = ?, mtime_ms = ?, ino = ?, state = ?,
         attempts = CASE WHEN ? THEN 0 ELSE attempts END,
         next_attempt_at = CASE WHEN ? THEN 0 ELSE next_attempt_at END,
         last_error = CASE WHEN ? THEN NULL ELSE last_error END,
         changed_at = CASE WHEN ? THEN ? ELSE changed_at END
         WHERE folder_id = ? AND rel_path = ?`,
    ).run(
      file.size,
      file.mtimeMs,
      file.ino,
      state,
      reset ? 1 : 0,
      reset || waiting ? 1 : 0,
      reset || state === 'synced' ? 1 : 0,
      sameAsSeen && row.state === state ? 0 : 1,
      now,
      folderId,
      file.relPath,
    )
    return state === 'pending'
  }

  /**
   * True while the row is still exactly `checked` (state, local stat, confirmation): nothing was
   * recorded for the file since `checked` was read, so a conclusion drawn from it still holds.
   */
  unchangedSince(folderId: string, checked: IndexedFile): boolean {
    const row = this.get(folderId, checked.relPath)
    return (
      row !== undefined &&
      row.state === checked.state &&
      row.size === checked.size &&
      row.mtimeMs === checked.mtimeMs &&
      row.ino === checked.ino &&
      row.synced?.sha256 === checked.synced?.sha256 &&
      row.synced?.size === checked.synced?.size &&
      row.synced?.mtimeMs === checked.synced?.mtimeMs
    )
  }

  /**
   * Content hashed equal to the confirmed version (a touch, a copy that kept the bytes): the
   * confirmation now covers the new size/mtime/inode, and nothing is uploaded. Applied only if
   * the row is still `checked`, the row the hash was compared with: while the hash ran, the
   * watcher may have recorded a newer version, or an upload may have started, and those win.
   * Returns whether it was applied.
   */
  confirmSameContent(folderId: string, file: SeenFile, checked: IndexedFile): boolean {
    if (!checked.synced || !needsContentCheck(checked, file)) return false
    if (!this.unchangedSince(folderId, checked)) return false
    this.#sql(
      `UPDATE files SET size = ?, mtime_ms = ?, ino = ?, synced_size = ?, synced_mtime_ms = ?,
         state = 'synced', attempts = 0, last_error = NULL, next_attempt_at = 0
         WHERE folder_id = ? AND rel_path = ?`,
    ).run(file.size, file.mtimeMs, file.ino, file.size, file.mtimeMs, folderId, file.relPath)
    // A file back after a removal is in the folder tree again.
    if (checked.state === 'removed') this.markTreeDirty(folderId)
    return true
  }

  /**
   * Whether any of the folders holds content the server confirmed with this size (in any state:
   * a renamed file's old row is "removed" but its content is still stored). The cheap filter
   * before hashing a file to look for it with confirmedContent.
   */
  confirmedOfSize(folderIds: readonly string[], size: number): boolean {
    return (
      this.#sql(
        `SELECT 1 FROM files WHERE synced_size = ? AND sha256 IS NOT NULL AND remote IS NOT NULL
           AND folder_id IN (SELECT value FROM json_each(?)) LIMIT 1`,
      ).get(size, JSON.stringify(folderIds)) !== undefined
    )
  }

  /** A row of the folders whose confirmed content has this size and sha256, if any. */
  confirmedContent(
    folderIds: readonly string[],
    size: number,
    sha256: string,
  ): { folderId: string; relPath: string; remote: RemoteRef } | undefined {
    const row = this.#sql(
      `SELECT folder_id, rel_path, remote FROM files
         WHERE synced_size = ? AND sha256 = ? AND remote IS NOT NULL
           AND folder_id IN (SELECT value FROM json_each(?))
         ORDER BY synced_at LIMIT 1`,
    ).get(size, sha256, JSON.stringify(folderIds)) as
      { folder_id: string; rel_path: string; remote: string } | undefined
    return (
      row && {
        folderId: row.folder_id,
        relPath: row.rel_path,
        remote: JSON.parse(row.remote) as RemoteRef,
      }
    )
  }

  /** Marks a path (or, with `folder`, everything under it) as gone locally; returns the paths. */
  removed(folderId: string, relPath: string, folder: boolean, now: number): string[] {
    const rows = folder
      ? (this.#sql(
          `SELECT rel_path FROM files WHERE folder_id = ? AND substr(rel_path, 1, ?) = ?
             AND state NOT IN ('removed', 'excluded')`,
        ).all(folderId, relPath.length + 1, `${relPath}/`) as { rel_path: string }[])
      : (this.#sql(
          `SELECT rel_path FROM files WHERE folder_id = ? AND rel_path = ?
             AND state NOT IN ('removed', 'excluded')`,
        ).all(folderId, relPath) as { rel_path: string }[])
    for (const { rel_path } of rows) {
      this.#setState.run('removed', 'removed locally', now, folderId, rel_path)
    }
    if (rows.length > 0) this.markTreeDirty(folderId)
    return rows.map((row) => row.rel_path)
  }

  /** A path the exclude rules now match: kept as a record, never uploaded. */
  excluded(folderId: string, relPath: string, now: number): void {
    this.#setState.run('excluded', null, now, folderId, relPath)
  }

  /** A symlink or special file: recorded with the reason it is not uploaded; true if new. */
  skipped(folderId: string, relPath: string, reason: string, now: number): boolean {
    const row = this.get(folderId, relPath)
    if (!row) {
      this.#insertSeen.run(folderId, relPath, 0, 0, 0, 'skipped', now)
    }
    if (row?.state !== 'skipped' || row.lastError !== reason) {
      this.#setState.run('skipped', reason, now, folderId, relPath)
      return true
    }
    return false
  }

  /** Skipped entries with this reason (the symlinks a folder tree keeps as links). */
  skippedWith(folderId: string, reason: string): string[] {
    return (
      this.#db
        .prepare(
          `SELECT rel_path FROM files WHERE folder_id = ? AND state = 'skipped' AND last_error = ?
           ORDER BY rel_path`,
        )
        .all(folderId, reason) as { rel_path: string }[]
    ).map((row) => row.rel_path)
  }

  /** The folder's tree must be stored again (a symlink or a removal changed it). */
  markTreeDirty(folderId: string): void {
    this.#sql(
      `INSERT INTO folder_meta (folder_id, tree_dirty) VALUES (?, 1)
         ON CONFLICT (folder_id) DO UPDATE SET tree_dirty = 1`,
    ).run(folderId)
  }

  /**
   * Files of a folder due for upload: small ones first (so one huge file blocks nothing). Without
   * `failed`, only pending files: a run-once does not try again what failed in the same run, and
   * those rows must not fill the limit ahead of files it has not tried yet.
   */
  due(
    folderId: string,
    now: number,
    limit: number,
    smallBelow: number,
    failed = true,
  ): IndexedFile[] {
    const rows = this.#due.all(
      folderId,
      'pending',
      failed ? 'failed' : 'pending',
      now,
      smallBelow,
      limit,
    )
    return (rows as Row[]).map(fromRow)
  }

  /** The earliest future retry of any folder, for the scheduler's timer. */
  nextRetryAt(now: number): number | undefined {
    const row = this.#sql(
      `SELECT MIN(next_attempt_at) AS at FROM files
         WHERE state IN ('pending', 'failed') AND next_attempt_at > ?`,
    ).get(now) as { at: number | null }
    return row.at ?? undefined
  }

  /** Hands files to a backend; only rows still due are taken (returns those). */
  markUploading(folderId: string, files: readonly IndexedFile[]): IndexedFile[] {
    const take = this.#db.prepare(
      `UPDATE files SET state = 'uploading' WHERE folder_id = ? AND rel_path = ?
       AND state IN ('pending', 'failed') AND size = ? AND mtime_ms = ?`,
    )
    return this.transaction(() =>
      files.filter(
        (file) => take.run(folderId, file.relPath, file.size, file.mtimeMs).changes === 1,
      ),
    )
  }

  /**
   * The server confirmed `sent`. The row becomes synced only if the file is still what was sent;
   * a file that changed (or went) meanwhile keeps its new state, with the older version noted
   * as confirmed. Returns the resulting state.
   */
  confirmed(
    folderId: string,
    sent: SeenFile,
    result: { sha256: string; remote: RemoteRef },
    now: number,
  ): FileState {
    return this.transaction(() => {
      const row = this.get(folderId, sent.relPath)
      if (!row) return 'removed'
      const unchanged = row.size === sent.size && row.mtimeMs === sent.mtimeMs
      const state: FileState =
        row.state === 'uploading' ? (unchanged ? 'synced' : 'pending') : row.state
      this.#sql(
        `UPDATE files SET state = ?, synced_size = ?, synced_mtime_ms = ?, sha256 = ?, remote = ?,
           synced_at = ?, attempts = 0, last_error = NULL, next_attempt_at = 0
           WHERE folder_id = ? AND rel_path = ?`,
      ).run(
        state,
        sent.size,
        sent.mtimeMs,
        result.sha256,
        JSON.stringify(result.remote),
        now,
        folderId,
        sent.relPath,
      )
      this.markTreeDirty(folderId)
      return state
    })
  }

  /** An upload failed: back off `delayMs` before the next try (a changed file retries at once). */
  failed(folderId: string, sent: SeenFile, reason: string, delayMs: number, now: number): void {
    const row = this.get(folderId, sent.relPath)
    if (!row || row.state !== 'uploading') return
    const unchanged = row.size === sent.size && row.mtimeMs === sent.mtimeMs
    this.#sql(
      `UPDATE files SET state = ?, attempts = attempts + ?, last_error = ?, next_attempt_at = ?
         WHERE folder_id = ? AND rel_path = ?`,
    ).run(
      unchanged ? 'failed' : 'pending',
      unchanged ? 1 : 0,
      reason,
      unchanged ? now + delayMs : 0,
      folderId,
      sent.relPath,
    )
  }

  /** Work that was cut short (stop, pause, offline, sign-in): due again, no attempt counted. */
  requeue(folderId: string, relPaths: readonly string[]): void {
    const back = this.#db.prepare(
      `UPDATE files SET state = 'pending' WHERE folder_id = ? AND rel_path = ? AND state = 'uploading'`,
    )
    this.transaction(() => {
      for (const relPath of relPaths) back.run(folderId, relPath)
    })
  }

  /**
   * The file changed while it was being uploaded (PROTOCOLS.md §4): not a failure, no attempt
   * counted. If a newer version was recorded meanwhile, it is due at once. Otherwise it waits
   * until `dueAt` with what the file looks like now (`current`, undefined if it is gone): the
   * watcher's report that it settled (or hit its cap) makes it due earlier (see seen()).
   */
  changedDuringUpload(
    folderId: string,
    sent: SeenFile,
    current: SeenFile | undefined,
    dueAt: number,
  ): void {
    const row = this.get(folderId, sent.relPath)
    if (!row || row.state !== 'uploading') return
    const newer = row.size !== sent.size || row.mtimeMs !== sent.mtimeMs || row.ino !== sent.ino
    const look = newer || !current ? row : current
    this.#sql(
      `UPDATE files SET state = 'pending', size = ?, mtime_ms = ?, ino = ?, last_error = NULL,
         next_attempt_at = ? WHERE folder_id = ? AND rel_path = ?`,
    ).run(look.size, look.mtimeMs, look.ino, newer ? 0 : dueAt, folderId, sent.relPath)
  }

  /** After a crash: everything that was in flight is due again (the journal recovers sessions). */
  recoverInterrupted(): number {
    return this.#db.prepare(`UPDATE files SET state = 'pending' WHERE state = 'uploading'`).run()
      .changes
  }

  /** The user's "Retry": failed files of a folder (or one of them) are due now. */
  retry(folderId: string, relPath?: string): number {
    const sql = `UPDATE files SET state = 'pending', next_attempt_at = 0
                 WHERE folder_id = ? AND state = 'failed'`
    return relPath === undefined
      ? this.#db.prepare(sql).run(folderId).changes
      : this.#db.prepare(`${sql} AND rel_path = ?`).run(folderId, relPath).changes
  }

  /** A new run-once tries every failed file again, whatever its backoff. */
  retryAllFailed(): number {
    return this.#db
      .prepare(`UPDATE files SET state = 'pending', next_attempt_at = 0 WHERE state = 'failed'`)
      .run().changes
  }

  counts(folderId: string): FolderCounts {
    const row = this.#sql(
      `SELECT
           COALESCE(SUM(state IN ('pending', 'uploading', 'failed')), 0) AS pending_files,
           COALESCE(SUM(CASE WHEN state IN ('pending', 'uploading', 'failed') THEN size END), 0)
             AS pending_bytes,
           COALESCE(SUM(state = 'synced'), 0) AS synced,
           COALESCE(SUM(state = 'failed'), 0) AS failed
         FROM files WHERE folder_id = ?`,
    ).get(folderId) as {
      pending_files: number
      pending_bytes: number
      synced: number
      failed: number
    }
    return {
      pendingFiles: row.pending_files,
      pendingBytes: row.pending_bytes,
      synced: row.synced,
      failed: row.failed,
    }
  }

  /** Files waiting for or in upload, across folders: in flight first, then by age. */
  queue(offset: number, limit: number): { total: number; items: IndexedFile[] } {
    const where = `state IN ('pending', 'uploading', 'failed')`
    const total = (
      this.#db.prepare(`SELECT COUNT(*) AS n FROM files WHERE ${where}`).get() as { n: number }
    ).n
    const items = (
      this.#db
        .prepare(
          `SELECT * FROM files WHERE ${where}
           ORDER BY state = 'uploading' DESC, state = 'failed', changed_at, folder_id, rel_path
           LIMIT ? OFFSET ?`,
        )
        .all(limit, offset) as Row[]
    ).map(fromRow)
    return { total, items }
  }

  /** Failed files of a folder with their reasons, for the status view. */
  failures(folderId: string, limit = 1000): IndexedFile[] {
    return (
      this.#db
        .prepare(
          `SELECT * FROM files WHERE folder_id = ? AND state = 'failed' ORDER BY rel_path LIMIT ?`,
        )
        .all(folderId, limit) as Row[]
    ).map(fromRow)
  }

  /** Confirmed files of a folder (present locally), for backends that store the folder tree. */
  syncedFiles(folderId: string): { relPath: string; remote: RemoteRef }[] {
    const rows = this.#db
      .prepare(
        `SELECT rel_path, remote FROM files WHERE folder_id = ? AND state = 'synced' ORDER BY rel_path`,
      )
      .all(folderId) as { rel_path: string; remote: string }[]
    return rows.map((row) => ({
      relPath: row.rel_path,
      remote: JSON.parse(row.remote) as RemoteRef,
    }))
  }

  treeDirty(folderId: string): boolean {
    const row = this.#sql('SELECT tree_dirty FROM folder_meta WHERE folder_id = ?').get(
      folderId,
    ) as { tree_dirty: number } | undefined
    return row?.tree_dirty === 1
  }

  /** The folder's tree is stored with root `ref`; cleared only if nothing changed since `dirtySeen`. */
  treeStored(folderId: string, ref: string): void {
    this.#db
      .prepare(
        `INSERT INTO folder_meta (folder_id, root_ref, tree_dirty) VALUES (?, ?, 0)
         ON CONFLICT (folder_id) DO UPDATE SET root_ref = excluded.root_ref, tree_dirty = 0`,
      )
      .run(folderId, ref)
  }

  rootRef(folderId: string): string | undefined {
    const row = this.#db
      .prepare('SELECT root_ref FROM folder_meta WHERE folder_id = ?')
      .get(folderId) as { root_ref: string | null } | undefined
    return row?.root_ref ?? undefined
  }

  /** The backends' crash journal for one folder, stored in this database. */
  journal(folderId: string): UploadJournal {
    const get = this.#db.prepare('SELECT value FROM journal WHERE folder_id = ? AND key = ?')
    const set = this.#db.prepare(
      `INSERT INTO journal (folder_id, key, value) VALUES (?, ?, ?)
       ON CONFLICT (folder_id, key) DO UPDATE SET value = excluded.value`,
    )
    const del = this.#db.prepare('DELETE FROM journal WHERE folder_id = ? AND key = ?')
    const keys = this.#db.prepare(
      'SELECT key FROM journal WHERE folder_id = ? AND substr(key, 1, ?) = ? ORDER BY key',
    )
    return {
      get: (key) => (get.get(folderId, key) as { value: string } | undefined)?.value,
      set: (key, value) => void set.run(folderId, key, value),
      delete: (key) => void del.run(folderId, key),
      keys: (prefix) =>
        (keys.all(folderId, prefix.length, prefix) as { key: string }[]).map((row) => row.key),
    }
  }

  /** Drops everything about a folder that is no longer synced. */
  forgetFolder(folderId: string): void {
    this.transaction(() => {
      for (const table of ['files', 'journal', 'folder_meta']) {
        this.#db.prepare(`DELETE FROM ${table} WHERE folder_id = ?`).run(folderId)
      }
    })
  }

  /** Folder ids that have rows, to forget folders removed from the settings. */
  folderIds(): string[] {
    return (
      this.#db
        .prepare(
          `SELECT folder_id FROM files UNION SELECT folder_id FROM journal
           UNION SELECT folder_id FROM folder_meta`,
        )
        .all() as { folder_id: string }[]
    ).map((row) => row.folder_id)
  }

  close(): void {
    this.#db.close()
  }
}

/**
 * Whether `file` may hold the content the server confirmed for `row` although its mtime or inode
 * moved (a touch, a copy with cp -p or rsync -t, an editor's atomic save): same size as
 * confirmed, so only hashing can tell. Synced rows, and removed ones seen again.
 */
export function needsContentCheck(row: IndexedFile, file: SeenFile): boolean {
  return (
    (row.state === 'synced' || row.state === 'removed') &&
    row.synced !== null &&
    row.synced.size === file.size &&
    (row.synced.mtimeMs !== file.mtimeMs || row.ino !== file.ino)
  )
}

function fromRow(row: Row): IndexedFile {
  return {
    folderId: row.folder_id,
    relPath: row.rel_path,
    size: row.size,
    mtimeMs: row.mtime_ms,
    ino: row.ino,
    state: row.state,
    attempts: row.attempts,
    lastError: row.last_error,
    nextAttemptAt: row.next_attempt_at,
    synced:
      row.sha256 !== null && row.remote !== null
        ? {
            size: row.synced_size ?? 0,
            mtimeMs: row.synced_mtime_ms ?? 0,
            sha256: row.sha256,
            remote: JSON.parse(row.remote) as RemoteRef,
            at: row.synced_at ?? 0,
          }
        : null,
    changedAt: row.changed_at,
  }
}
