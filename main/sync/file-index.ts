import Database from 'better-sqlite3'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import type { RemoteRef } from '../backends/backend.ts'

/** Where a synced folder goes: the index keeps one record set per target. */
export interface SyncTarget {
  /** Absolute local folder. */
  readonly folder: string
  readonly backend: string
  /** Server origin + path, without credentials. */
  readonly server: string
  readonly remotePath: string
}

/** A file confirmed by the server, as it was when it was confirmed. */
export interface SyncedFile {
  readonly relPath: string
  readonly size: number
  readonly mtimeMs: number
  readonly sha256: string
  readonly remote: RemoteRef
  readonly syncedAt: number
}

/**
 * The record of what is confirmed on which server, in SQLite (WAL). A row is written only once
 * the server has confirmed the file and the file was re-checked unchanged, so a crash at any
 * moment loses at most unconfirmed work. Issue #3 grows this into the sync engine's queue.
 */
export class FileIndex {
  readonly #db: Database.Database
  readonly #list: Database.Statement
  readonly #record: Database.Statement

  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
    this.#db = new Database(path)
    this.#db.pragma('journal_mode = WAL')
    this.#db.pragma('synchronous = NORMAL')
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS synced_files (
        folder TEXT NOT NULL,
        backend TEXT NOT NULL,
        server TEXT NOT NULL,
        remote_path TEXT NOT NULL,
        rel_path TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ms REAL NOT NULL,
        sha256 TEXT NOT NULL,
        remote TEXT NOT NULL,
        synced_at INTEGER NOT NULL,
        PRIMARY KEY (folder, backend, server, remote_path, rel_path)
      ) WITHOUT ROWID;
    `)
    this.#list = this.#db.prepare(
      `SELECT rel_path, size, mtime_ms, sha256, remote, synced_at FROM synced_files
       WHERE folder = ? AND backend = ? AND server = ? AND remote_path = ?`,
    )
    this.#record = this.#db.prepare(
      `INSERT OR REPLACE INTO synced_files
       (folder, backend, server, remote_path, rel_path, size, mtime_ms, sha256, remote, synced_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
  }

  /** Every confirmed file of a target, by relative path. */
  list(target: SyncTarget): Map<string, SyncedFile> {
    const rows = this.#list.all(
      target.folder,
      target.backend,
      target.server,
      target.remotePath,
    ) as {
      rel_path: string
      size: number
      mtime_ms: number
      sha256: string
      remote: string
      synced_at: number
    }[]
    return new Map(
      rows.map((row) => [
        row.rel_path,
        {
          relPath: row.rel_path,
          size: row.size,
          mtimeMs: row.mtime_ms,
          sha256: row.sha256,
          remote: JSON.parse(row.remote) as RemoteRef,
          syncedAt: row.synced_at,
        },
      ]),
    )
  }

  record(target: SyncTarget, file: Omit<SyncedFile, 'syncedAt'>): void {
    this.#record.run(
      target.folder,
      target.backend,
      target.server,
      target.remotePath,
      file.relPath,
      file.size,
      file.mtimeMs,
      file.sha256,
      JSON.stringify(file.remote),
      Date.now(),
    )
  }

  close(): void {
    this.#db.close()
  }
}
