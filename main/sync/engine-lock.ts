import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs'
import { join } from 'node:path'

/** Thrown when another Ferry process already syncs from this state folder. */
export class EngineLockedError extends Error {
  readonly pid: number
  constructor(pid: number) {
    super(`Ferry is already syncing in another process (pid ${pid}); stop it first`)
    this.name = 'EngineLockedError'
    this.pid = pid
  }
}

/**
 * One engine per state folder (the app and `ferry sync` share it): two engines on one index
 * would upload the same files twice. The lock is a file holding the owner's pid; a lock whose
 * process is gone (killed) is taken over.
 */
export class EngineLock {
  readonly #path: string
  #held = false

  constructor(stateDir: string) {
    mkdirSync(stateDir, { recursive: true })
    this.#path = join(stateDir, 'sync.lock')
  }

  /** The pid of the process syncing now, if any. */
  owner(): number | undefined {
    let pid: number
    try {
      pid = Number.parseInt(readFileSync(this.#path, 'utf8'), 10)
    } catch {
      return undefined
    }
    return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? pid : undefined
  }

  acquire(): void {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fd = openSync(this.#path, 'wx')
        writeSync(fd, String(process.pid))
        closeSync(fd)
        this.#held = true
        return
      } catch (error) {
        if ((error as { code?: string }).code !== 'EEXIST') throw error
      }
      const pid = this.owner()
      if (pid !== undefined && pid !== process.pid) throw new EngineLockedError(pid)
      // Left behind by a process that died: take it over.
      try {
        unlinkSync(this.#path)
      } catch {
        // Another process took it over first; the next attempt tells.
      }
    }
    throw new Error(`Cannot take the sync lock ${this.#path}`)
  }

  release(): void {
    if (!this.#held) return
    this.#held = false
    try {
      if (readFileSync(this.#path, 'utf8') === String(process.pid)) unlinkSync(this.#path)
    } catch {
      // Already gone.
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as { code?: string }).code === 'EPERM'
  }
}
