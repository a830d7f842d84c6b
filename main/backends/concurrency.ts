/**
 * Runs `work` over `items` with at most `limit` at a time and returns the results in input
 * order. The first failure stops new items from starting; running ones finish before it is
 * rethrown, so nothing keeps working (or reporting) behind the caller's back. Cancellation via
 * `signal` likewise stops new starts.
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<R>,
  signal?: AbortSignal,
): Promise<R[]> {
  const results = new Array<R>(items.length)
  let next = 0
  let failure: { readonly error: unknown } | undefined
  const worker = async (): Promise<void> => {
    while (next < items.length && !failure && !signal?.aborted) {
      const index = next++
      try {
        results[index] = await work(items[index] as T, index)
      } catch (error) {
        failure ??= { error }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker))
  if (failure) throw failure.error
  signal?.throwIfAborted()
  return results
}
