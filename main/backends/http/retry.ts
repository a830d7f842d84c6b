import type { FerryError } from '../errors.ts'
import { CancelledError, toFerryError } from '../errors.ts'

/** How hard to try again after a retryable failure. */
export interface RetryPolicy {
  /** Further attempts after the first. */
  readonly retries: number
  readonly baseDelayMs: number
  readonly maxDelayMs: number
  /** A server's Retry-After above this is not waited for: the error goes to the caller. */
  readonly maxRetryAfterMs: number
}

export const DEFAULT_RETRY: RetryPolicy = {
  retries: 4,
  baseDelayMs: 500,
  maxDelayMs: 30_000,
  maxRetryAfterMs: 5 * 60_000,
}

/**
 * Delay before attempt `attempt` (1 = first retry): exponential with full jitter, so many
 * clients that failed together do not come back together; a server's Retry-After wins.
 */
export function backoffDelay(policy: RetryPolicy, attempt: number, retryAfterMs?: number): number {
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, policy.maxRetryAfterMs)
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1))
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2)
}

/** Parses Retry-After (delta seconds or an HTTP date) into milliseconds. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000
  const date = Date.parse(trimmed)
  if (Number.isNaN(date)) return undefined
  return Math.max(0, date - now)
}

/** Resolves after `ms`, or rejects with CancelledError as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(new CancelledError())
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(new CancelledError())
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/**
 * Runs `attempt` until it succeeds, fails with a non-retryable error, or the policy runs out.
 * Used for whole protocol steps (a dStor process, a Kala session) as well as single requests.
 */
export async function withRetry<T>(
  policy: RetryPolicy,
  signal: AbortSignal | undefined,
  attempt: (n: number) => Promise<T>,
  options: {
    readonly onRetry?: (error: FerryError, delayMs: number) => void
    /** Retryable errors this step must not retry itself (its caller recovers differently). */
    readonly retryIf?: (error: FerryError) => boolean
  } = {},
): Promise<T> {
  for (let n = 0; ; n++) {
    try {
      return await attempt(n)
    } catch (thrown) {
      const error = toFerryError(thrown, signal)
      if (error.kind !== 'retryable' || n >= policy.retries) throw error
      if (options.retryIf && !options.retryIf(error)) throw error
      if (error.retryAfterMs !== undefined && error.retryAfterMs > policy.maxRetryAfterMs) {
        throw error
      }
      const delay = backoffDelay(policy, n + 1, error.retryAfterMs)
      options.onRetry?.(error, delay)
      await sleep(delay, signal)
    }
  }
}
