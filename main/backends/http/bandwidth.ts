import { CancelledError } from '../errors.ts'

/** The most body bytes that take tokens at once: bigger chunks go out in slices of this size. */
export const BANDWIDTH_SLICE = 64 * 1024

// The bucket holds this long's worth of bytes (and at least a slice): enough to make up for a
// timer that fires late, small enough that the rate stays smooth rather than bursty.
const BURST_MS = 100

// Handed out whenever the bytes may go at once, so the hot path allocates nothing.
const GO = Promise.resolve()

interface Waiter {
  readonly bytes: number
  readonly resolve: () => void
  readonly reject: (error: unknown) => void
  readonly signal: AbortSignal | undefined
  readonly onAbort: () => void
}

/**
 * The upload bandwidth limit, as a token bucket shared by every HttpClient of the process:
 * request bodies take tokens for their bytes before they reach the socket, so the rate on the
 * wire stays at the limit whatever the number of requests. Waiters are served in arrival
 * order, and a new limit applies at once, to waiters already blocked too.
 */
export class BandwidthLimiter {
  #rate: number
  #capacity: number
  #tokens: number
  #stamp: number
  // Waiters in arrival order; only the first one has a timer set for it.
  readonly #queue: Waiter[] = []
  #timer: ReturnType<typeof setTimeout> | undefined

  /** `bytesPerSecond` 0 means unlimited. */
  constructor(bytesPerSecond: number) {
    this.#rate = checkRate(bytesPerSecond)
    this.#capacity = capacityFor(this.#rate)
    this.#tokens = this.#capacity
    this.#stamp = performance.now()
  }

  /** Bytes per second; 0 when unlimited. */
  get limit(): number {
    return this.#rate
  }

  /** Changes the limit (0 = unlimited) for every byte not yet sent, blocked ones included. */
  setLimit(bytesPerSecond: number): void {
    const rate = checkRate(bytesPerSecond)
    if (rate === this.#rate) return
    // Tokens earned so far were earned at the old rate.
    this.#refill()
    const wasUnlimited = this.#rate === 0
    this.#rate = rate
    this.#capacity = capacityFor(rate)
    this.#tokens = wasUnlimited ? this.#capacity : Math.min(this.#tokens, this.#capacity)
    this.#serve()
  }

  /**
   * Resolves once `bytes` may go out. Rejects with CancelledError as soon as `signal` aborts;
   * the bytes are then not counted.
   */
  take(bytes: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(new CancelledError())
    if (this.#rate === 0) return GO
    if (this.#queue.length === 0) {
      this.#refill()
      if (this.#tokens >= this.#need(bytes)) {
        this.#tokens -= bytes
        return GO
      }
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        bytes,
        resolve,
        reject,
        signal,
        onAbort: () => this.#drop(waiter),
      }
      signal?.addEventListener('abort', waiter.onAbort, { once: true })
      this.#queue.push(waiter)
      if (this.#queue.length === 1) this.#serve()
    })
  }

  // More than the bucket holds goes once it is full, leaving it in debt: the rate still holds.
  #need(bytes: number): number {
    return Math.min(bytes, this.#capacity)
  }

  #refill(): void {
    const now = performance.now()
    this.#tokens = Math.min(
      this.#capacity,
      this.#tokens + ((now - this.#stamp) * this.#rate) / 1000,
    )
    this.#stamp = now
  }

  /** Lets through every waiter the tokens cover, in order; sets a timer for the next one. */
  #serve(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer)
      this.#timer = undefined
    }
    this.#refill()
    for (let head = this.#queue[0]; head !== undefined; head = this.#queue[0]) {
      if (this.#rate > 0 && this.#tokens < this.#need(head.bytes)) {
        const delay = ((this.#need(head.bytes) - this.#tokens) / this.#rate) * 1000
        this.#timer = setTimeout(() => {
          this.#timer = undefined
          this.#serve()
        }, Math.ceil(delay))
        return
      }
      this.#queue.shift()
      if (this.#rate > 0) this.#tokens -= head.bytes
      head.signal?.removeEventListener('abort', head.onAbort)
      head.resolve()
    }
  }

  #drop(waiter: Waiter): void {
    const at = this.#queue.indexOf(waiter)
    if (at < 0) return
    this.#queue.splice(at, 1)
    waiter.reject(new CancelledError())
    // The waiter behind it may be covered already, or need a timer of its own.
    if (at === 0) this.#serve()
  }
}

function checkRate(bytesPerSecond: number): number {
  if (!Number.isFinite(bytesPerSecond) || bytesPerSecond < 0) {
    throw new RangeError(`Not a bandwidth limit: ${bytesPerSecond}`)
  }
  return bytesPerSecond
}

function capacityFor(rate: number): number {
  return Math.max(BANDWIDTH_SLICE, (rate * BURST_MS) / 1000)
}
