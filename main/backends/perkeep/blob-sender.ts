import type { FerryError } from '../errors.ts'
import { IntegrityError, PermanentError, toFerryError } from '../errors.ts'
import { multipartBody, type PartSource } from '../http/multipart.ts'
import { backoffDelay, sleep, type RetryPolicy } from '../http/retry.ts'
import { MAX_STAT_REFS, type BlobTarget } from './blob-target.ts'

/** A blob to get onto the server, and whose progress its bytes count towards. */
export interface OutgoingBlob {
  readonly ref: string
  readonly size: number
  readonly source: PartSource
  readonly owner: string
}

export interface SendOptions {
  readonly signal?: AbortSignal
  readonly onProgress?: (owner: string, bytes: number) => void
  readonly headers?: Readonly<Record<string, string>>
}

/**
 * Gets blobs onto a Perkeep server the way its own client does: stat first (in batches of at
 * most 1000) and send only what is missing, in order, in multipart requests of at most 32 MB
 * (or the legacy server's limit). Only a ref listed in `received` with the right size counts;
 * after a dropped request it stats again to learn what arrived, then sends the remainder.
 */
export class BlobSender {
  readonly #target: BlobTarget
  readonly #retry: RetryPolicy
  /** Refs the server is known to hold (this session): never sent twice. */
  readonly #onServer = new Set<string>()

  constructor(target: BlobTarget, retry: RetryPolicy) {
    this.#target = target
    this.#retry = retry
  }

  /** Sends what is missing; returns the refs that could not be stored, with why. */
  async send(
    blobs: readonly OutgoingBlob[],
    options: SendOptions = {},
  ): Promise<Map<string, FerryError>> {
    const failed = new Map<string, FerryError>()
    const unique = dedupe(blobs).filter((blob) => !this.#onServer.has(blob.ref))
    await this.#statInto(unique, options.signal)
    for (let round = 0; ; round++) {
      const missing = unique.filter((b) => !this.#onServer.has(b.ref) && !failed.has(b.ref))
      if (missing.length === 0) return failed
      if (round > this.#retry.retries) {
        const error = new PermanentError('Perkeep did not store every part of the file')
        for (const blob of missing) failed.set(blob.ref, error)
        return failed
      }
      let lastError: FerryError | undefined
      for (const batch of this.#batches(missing)) {
        try {
          await this.#post(batch, failed, options)
        } catch (error) {
          const typed = toFerryError(error, options.signal)
          if (typed.kind !== 'retryable' && typed.kind !== 'integrity') throw typed
          lastError = typed
          break
        }
      }
      if (lastError) {
        await sleep(backoffDelay(this.#retry, round + 1, lastError.retryAfterMs), options.signal)
        // What made it before the drop is on the server already: ask instead of resending.
        await this.#statInto(
          unique.filter((b) => !this.#onServer.has(b.ref)),
          options.signal,
        ).catch(() => undefined)
      }
    }
  }

  async #statInto(blobs: readonly OutgoingBlob[], signal?: AbortSignal): Promise<void> {
    for (let i = 0; i < blobs.length; i += MAX_STAT_REFS) {
      const batch = blobs.slice(i, i + MAX_STAT_REFS)
      const sizes = new Map(batch.map((b) => [b.ref, b.size]))
      for (const { blobRef, size } of await this.#target.stat(
        batch.map((b) => b.ref),
        signal,
      )) {
        if (sizes.get(blobRef) === size) this.#onServer.add(blobRef)
      }
    }
  }

  #batches(blobs: readonly OutgoingBlob[]): OutgoingBlob[][] {
    const limit = this.#target.maxRequestBytes()
    const batches: OutgoingBlob[][] = []
    let current: OutgoingBlob[] = []
    let bytes = 0
    for (const blob of blobs) {
      if (current.length > 0 && bytes + blob.size > limit) {
        batches.push(current)
        current = []
        bytes = 0
      }
      current.push(blob)
      bytes += blob.size
    }
    if (current.length > 0) batches.push(current)
    return batches
  }

  async #post(
    batch: readonly OutgoingBlob[],
    failed: Map<string, FerryError>,
    options: SendOptions,
  ): Promise<void> {
    const body = multipartBody(
      batch.map((blob) => ({ name: blob.ref, filename: blob.ref, source: blob.source })),
      {
        onPartBytes: (i, bytes) => options.onProgress?.((batch[i] as OutgoingBlob).owner, bytes),
      },
    )
    const { answer } = await this.#target.upload(body, { ...options.headers }, options.signal)
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

function dedupe(blobs: readonly OutgoingBlob[]): OutgoingBlob[] {
  const seen = new Set<string>()
  return blobs.filter((blob) => (seen.has(blob.ref) ? false : (seen.add(blob.ref), true)))
}
