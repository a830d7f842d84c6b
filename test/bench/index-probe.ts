/**
 * Read-only look into a running engine's index (FERRY_HOME/sync.sqlite): a row turns `synced`
 * in the same transaction that stores the server's confirmation, so this is where the sync
 * benchmark sees a file confirmed. WAL mode lets it read while the engine writes.
 */
import Database from 'better-sqlite3'
import { existsSync } from 'node:fs'

/** What the benchmark reads of one index row. */
export interface ProbedRow {
  readonly state: string
  readonly syncedSize: number | null
  readonly syncedMtimeMs: number | null
}

/** Opens the index lazily: it does not exist until the engine has started. */
export class IndexProbe {
  readonly #path: string
  #db: Database.Database | undefined
  #row: Database.Statement | undefined
  #synced: Database.Statement | undefined

  constructor(path: string) {
    this.#path = path
  }

  #open(): boolean {
    if (this.#db) return true
    if (!existsSync(this.#path)) return false
    try {
      this.#db = new Database(this.#path, { readonly: true, fileMustExist: true, timeout: 5000 })
      this.#row = this.#db.prepare(
        `SELECT state, synced_size AS syncedSize, synced_mtime_ms AS syncedMtimeMs FROM files
         WHERE folder_id = ? AND rel_path = ?`,
      )
      this.#synced = this.#db.prepare(
        `SELECT COUNT(*) AS n FROM files WHERE folder_id = ? AND state = 'synced'`,
      )
      return true
    } catch {
      // Created but not set up yet (the engine is creating its tables): try again later.
      this.close()
      return false
    }
  }

  row(folderId: string, relPath: string): ProbedRow | undefined {
    if (!this.#open()) return undefined
    return this.#row?.get(folderId, relPath) as ProbedRow | undefined
  }

  /** Confirmed files of a folder. */
  syncedCount(folderId: string): number {
    if (!this.#open()) return 0
    return (this.#synced?.get(folderId) as { n: number } | undefined)?.n ?? 0
  }

  close(): void {
    this.#db?.close()
    this.#db = undefined
    this.#row = undefined
    this.#synced = undefined
  }
}
