/**
 * At most one event per key per interval (one notification per kind every few minutes, say).
 * Time comes from `now`, so tests drive it with a clock of their own.
 */
export class RateLimiter {
  readonly #intervalMs: number
  readonly #now: () => number
  readonly #last = new Map<string, number>()

  constructor(intervalMs: number, now: () => number = Date.now) {
    this.#intervalMs = intervalMs
    this.#now = now
  }

  /** True, and counted, when the key's last event is at least an interval ago. */
  tryTake(key: string): boolean {
    const now = this.#now()
    if (now < this.nextAt(key)) return false
    this.#last.set(key, now)
    return true
  }

  /** When the key may fire next (a time already past when it may fire now). */
  nextAt(key: string): number {
    const last = this.#last.get(key)
    return last === undefined ? -Infinity : last + this.#intervalMs
  }
}
