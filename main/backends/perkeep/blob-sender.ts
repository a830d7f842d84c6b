import { IntegrityError, PermanentError, toFerryError, type FerryError } from '../errors.ts'
import { backoffDelay, sleep, type RetryPolicy } from '../http/retry.ts'
import type { ProgressTracker } from '../progress.ts'
import { MAX_STAT_REFS, type BlobTarget } from './blob-target.ts'
import { blobsBody, PiecePool, type BlobSource } from './blobs-body.ts'

/** A blob to get onto the server, and whose progress its bytes count towards. */
export interface OutgoingBlob {
  readonly ref: string
  readonly size: number
  readonly source: BlobSource
  readonly owner: string
  /** Schema blobs go after every content chunk, in list order (PROTOCOLS.md §3.5 "Order"). */
  readonly schema: boolean
}

export interface SendOptions {
  readonly signal?: AbortSignal
  readonly progress?: ProgressTracker
  /** Multipart requests of content chunks in flight at once. */
  readonly parallel?: number
  /** Blob bytes per upload request, never over the server's limit (default: that limit). */
  readonly requestBytes?: number
  /**
   * Fill each request from buffers the previous requests gave back (see PiecePool): for a
   * steady stream of requests, which then makes no garbage. Use small requests with it, since
   * a request keeps its buffers until it is answered.
   */
  readonly reuseBuffers?: boolean
}

/**
 * Gets blobs onto a Perkeep server the way its own client does: stat first (in batches of at
 * most 1000) and send only what is missing, in multipart requests of at most 32 MB (or the
 * legacy server's limit, read afresh for each request, or less if asked). Content chunks go first, several
 * requests at a time; schema blobs follow, in order, so a schema never lands before what it
 * names. Only a ref listed in `received` with the right size counts; after a failed request it
 * stats again to learn what arrived, then sends the remainder.
 *
 * Failures are per blob: the caller turns them into per-file outcomes. Only auth and
 * cancellation end the whole call.
 */
export class BlobSender {
  readonly #target: BlobTarget
  readonly #retry: RetryPolicy
  /** Refs the server is known to hold (this session): never sent twice. */
  readonly #onServer = new Set<string>()
  /** Buffers of finished requests, for the next ones (reuseBuffers). */
  readonly #pool = new PiecePool()

  constructor(target: BlobTarget, retry: RetryPolicy) {
    this.#target = target
    this.#retry = retry
  }

  /** Lets go of the buffers kept for the next requests (reuseBuffers), when none are due. */
  idle(): void {
    this.#pool.clear()
  }

  /** Sends what is missing; returns the refs that could not be stored, with why. */
  async send(
    blobs: readonly OutgoingBlob[],
    options: SendOptions = {},
  ): Promise<Map<string, FerryError>> {
    const failed = new Map<string, FerryError>()
    const unique = dedupe(blobs).filter((blob) => !this.#onServer.has(blob.ref))
    try {
      await this.#statInto(unique, options.signal)
    } catch (error) {
      const typed = fatalOr(error, options.signal)
      for (const blob of unique) failed.set(blob.ref, typed)
      return failed
    }
    const missing = (schema: boolean): OutgoingBlob[] =>
      unique.filter((b) => b.schema === schema && !this.#onServer.has(b.ref) && !failed.has(b.ref))
    await this.#sendAll(() => missing(false), failed, options, options.parallel ?? 4)
    await this.#sendAll(() => missing(true), failed, options, 1)
    return failed
  }

  async #sendAll(
    pending: () => OutgoingBlob[],
    failed: Map<string, FerryError>,
    options: SendOptions,
    parallel: number,
  ): Promise<void> {
    let lastError: FerryError | undefined
    for (let round = 0; ; round++) {
      if (lastError) {
        await sleep(backoffDelay(this.#retry, round, lastError.retryAfterMs), options.signal)
        // What made it before the failure is on the server already: ask instead of resending.
        await this.#statInto(pending(), options.signal).catch(() => undefined)
      }
      const todo = pending()
      if (todo.length === 0) return
      if (round > this.#retry.retries) {
        // Out of rounds: say why (an outage stays retryable; silence from the server is not).
        const error =
          lastError ?? new PermanentError('Perkeep did not store every part of the file')
        for (const blob of todo) failed.set(blob.ref, error)
        return
      }
      lastError = undefined
      const queue = [...todo]
      const worker = async (): Promise<void> => {
        while (queue.length > 0 && !lastError) {
          const batch = this.#nextBatch(queue, failed, options.requestBytes)
          if (batch.length === 0) continue
          try {
            await this.#post(batch, failed, options)
          } catch (error) {
            const typed = fatalOr(error, options.signal)
            if (typed.kind === 'retryable' || typed.kind === 'integrity') lastError = typed
            // A refusal of the whole request (400, 413…): those blobs, and their files, fail.
            else for (const blob of batch) failed.set(blob.ref, typed)
          }
        }
      }
      await Promise.all(Array.from({ length: Math.max(1, parallel) }, worker))
    }
  }

  async #statInto(blobs: readonly OutgoingBlob[], signal?: AbortSignal): Promise<void> {
    for (let i = 0; i < blobs.length; i += MAX_STAT_REFS) {
      const batch = blobs.slice(i, i + MAX_STAT_REFS)
      const sizes = new Map(batch.map((b) => [b.ref, b.size]))
      const known = await this.#target.stat(
        batch.map((b) => b.ref),
        signal,
      )
      for (const { blobRef, size } of known) {
        if (sizes.get(blobRef) === size) this.#onServer.add(blobRef)
      }
    }
  }

  /** Takes the next request's worth of blobs off `queue`, under the server's current limit. */
  #nextBatch(
    queue: OutgoingBlob[],
    failed: Map<string, FerryError>,
    requestBytes = Number.POSITIVE_INFINITY,
  ): OutgoingBlob[] {
    const limit = this.#target.maxRequestBytes()
    const wanted = Math.min(limit, requestBytes)
    const batch: OutgoingBlob[] = []
    let bytes = 0
    while (queue.length > 0) {
      const blob = queue[0] as OutgoingBlob
      if (blob.size > limit) {
        queue.shift()
        failed.set(
          blob.ref,
          new PermanentError(
            `A ${blob.size}-byte piece is over this Perkeep server's ${limit}-byte upload limit`,
          ),
        )
        continue
      }
      if (batch.length > 0 && bytes + blob.size > wanted) break
      batch.push(queue.shift() as OutgoingBlob)
      bytes += blob.size
    }
    return batch
  }

  async #post(
    batch: readonly OutgoingBlob[],
    failed: Map<string, FerryError>,
    options: SendOptions,
  ): Promise<void> {
    const body = blobsBody(
      batch.map((blob) => ({ ref: blob.ref, source: blob.source })),
      {
        onPartProgress: (i, sent) => {
          const blob = batch[i] as OutgoingBlob
          options.progress?.reach(blob.ref, sent, blob.owner)
        },
        ...(options.reuseBuffers ? { pool: this.#pool } : {}),
      },
    )
    // Answered or failed, the request is over: its buffers may serve the next one.
    const { answer } = await this.#target
      .upload(body, {}, options.signal)
      .finally(() => body.release())
    const received = new Map(answer.received.map((r) => [r.blobRef, r.size]))
    for (const blob of batch) {
      const size = received.get(blob.ref)
      if (size === undefined) continue
      if (size === blob.size) this.#onServer.add(blob.ref)
      else {
        failed.set(
          blob.ref,
          new IntegrityError(
            `Perkeep stored ${blob.ref} with ${size} bytes instead of ${blob.size}`,
          ),
        )
      }
    }
    if (answer.errorText) {
      // The first part not received is the one the server stopped at; the rest of the request
      // was never looked at and goes again in the next round.
      const culprit = batch.find((b) => !received.has(b.ref))
      if (culprit) {
        failed.set(
          culprit.ref,
          new PermanentError(`Perkeep refused ${culprit.ref}: ${answer.errorText}`, {
            serverMessage: answer.errorText,
          }),
        )
      }
    }
  }
}

/** Auth and cancellation end the whole call; anything else is a per-blob failure. */
function fatalOr(error: unknown, signal?: AbortSignal): FerryError {
  const typed = toFerryError(error, signal)
  if (typed.kind === 'auth' || typed.kind === 'cancelled') throw typed
  return typed
}

function dedupe(blobs: readonly OutgoingBlob[]): OutgoingBlob[] {
  const seen = new Set<string>()
  return blobs.filter((blob) => (seen.has(blob.ref) ? false : (seen.add(blob.ref), true)))
}
