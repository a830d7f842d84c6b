import type { ProgressEvent } from './backend.ts'

/**
 * Turns "bytes went out" into progress that counts each byte of a file once: a resent request
 * (retry, restart, 401 replay) only reports bytes beyond what was already reported, so a bar
 * never runs past 100 %. Positions are tracked per key (a file, or a Perkeep blob).
 */
export class ProgressTracker {
  readonly #report: ((event: ProgressEvent) => void) | undefined
  readonly #reached = new Map<string, number>()

  constructor(report?: (event: ProgressEvent) => void) {
    this.#report = report
  }

  /** `owner`'s bytes up to `position` of `key` have been sent. */
  reach(key: string, position: number, owner: string): void {
    if (!this.#report) return
    const before = this.#reached.get(key) ?? 0
    if (position <= before) return
    this.#reached.set(key, position)
    this.#report({ relPath: owner, bytes: position - before })
  }
}
