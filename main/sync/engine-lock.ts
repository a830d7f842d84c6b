import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'

/** Thrown when another Ferry process already syncs from this state folder. */
export class EngineLockedError extends Error {
  readonly pid: number | undefined
  constructor(pid: number | undefined) {
    super(
      `Another copy of Ferry${pid ? ` (process ${pid})` : ''} is already keeping these folders ` +
        'stored (the desktop app or `ferry sync`). Quit it first.',
    )
    this.name = 'EngineLockedError'
    this.pid = pid
  }
}

/**
 * One engine per state folder (the app and `ferry sync` share it): two engines on one index
 * would upload the same files twice. The lock is an exclusive SQLite transaction on
 * `engine.lock`, i.e. an OS file lock: the kernel drops it the instant its process dies (kill -9
 * included), so a stale lock cannot exist and no takeover can race another one. `sync.pid`
 * only names the owner in messages.
 */
export class EngineLock {
  readonly #path: string
  readonly #pidPath: string
  #db: Database.Database | undefined

  constructor(stateDir: string) {
    mkdirSync(stateDir, { recursive: true })
    // Not `sync.lock`: earlier versions kept a plain pid file there.
    this.#path = join(stateDir, 'engine.lock')
    this.#pidPath = join(stateDir, 'sync.pid')
  }

  /** The pid of the process syncing now (0 if it cannot be read), or undefined if none. */
  owner(): number | undefined {
    if (this.#db) return process.pid
    const probe = this.#tryLock()
    if (probe) {
      probe.close()
      return undefined
    }
    return this.#ownerPid() ?? 0
  }

  acquire(): void {
    if (this.#db) return
    const db = this.#tryLock()
    if (!db) throw new EngineLockedError(this.#ownerPid())
    this.#db = db
    writeFileSync(this.#pidPath, String(process.pid))
  }

  release(): void {
    if (!this.#db) return
    rmSync(this.#pidPath, { force: true })
    this.#db.close()
    this.#db = undefined
  }

  /** An open connection holding the exclusive lock, or undefined if another one holds it. */
  #tryLock(): Database.Database | undefined {
    const db = new Database(this.#path, { timeout: 0 })
    try {
      db.pragma('locking_mode = EXCLUSIVE')
      db.exec('BEGIN EXCLUSIVE')
      return db
    } catch (error) {
      db.close()
      if ((error as { code?: string }).code?.startsWith('SQLITE_BUSY')) return undefined
      throw error
    }
  }

  #ownerPid(): number | undefined {
    try {
      const pid = Number.parseInt(readFileSync(this.#pidPath, 'utf8'), 10)
      return Number.isInteger(pid) && pid > 0 ? pid : undefined
    } catch {
      return undefined
    }
  }
}
