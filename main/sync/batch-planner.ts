import type { BackendKind } from '../backends/backend.ts'
import type { IndexedFile } from './sync-index.ts'

/** How much one upload call carries, per backend: its natural unit of work. */
export interface BatchLimits {
  readonly files: number
  readonly bytes: number
}

const MiB = 1024 * 1024

/**
 * dStor sends a batch as folder processes (up to 500 files / 256 MiB per chunk), so bigger
 * batches mean fewer processes; Perkeep stats and sends blobs in batches of up to 32 MB; Kala
 * opens a session per file, so a batch only bounds how long one call runs.
 */
export const BATCH_LIMITS: Readonly<Record<BackendKind, BatchLimits>> = {
  dstor: { files: 2000, bytes: 1024 * MiB },
  perkeep: { files: 1000, bytes: 256 * MiB },
  kala: { files: 200, bytes: 256 * MiB },
}

/** Files from this size on travel alone, in a lane of their own. */
export const BIG_FILE_BYTES = 64 * MiB

/**
 * Takes the next batch from a folder's due files (small first, as the index lists them). A big
 * file goes alone, and only when `bigAllowed`: the scheduler keeps a slot free for small files,
 * so a 10 GiB video never holds up a folder of documents.
 */
export function planBatch(
  due: readonly IndexedFile[],
  limits: BatchLimits,
  bigAllowed: boolean,
): IndexedFile[] {
  const batch: IndexedFile[] = []
  let bytes = 0
  for (const file of due) {
    if (file.size >= BIG_FILE_BYTES) {
      if (batch.length === 0 && bigAllowed) return [file]
      break
    }
    if (batch.length > 0 && (batch.length >= limits.files || bytes + file.size > limits.bytes))
      break
    batch.push(file)
    bytes += file.size
  }
  return batch
}

/** Delay before retry n (1-based) of a failed file: 2 s doubling to 30 min, ±20 % jitter. */
export function retryDelayMs(attempt: number, retryAfterMs?: number, random = Math.random): number {
  const base = Math.min(30 * 60_000, 2000 * 2 ** Math.max(0, attempt - 1))
  const jittered = base * (0.8 + 0.4 * random())
  return Math.max(jittered, retryAfterMs ?? 0)
}
