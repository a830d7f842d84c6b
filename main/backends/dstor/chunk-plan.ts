/** Limits for grouping files into dStor folder processes (PROTOCOLS.md §1.2). */
export interface ChunkLimits {
  /** Files per multipart request. */
  readonly maxFilesPerChunk: number
  /** File bytes per multipart request; the reference server refuses bodies over 512 MiB. */
  readonly maxBytesPerChunk: number
  /** Requests per process (the server allows 10 000); smaller processes lose less on a failure. */
  readonly maxChunksPerProcess: number
}

export const DEFAULT_CHUNK_LIMITS: ChunkLimits = {
  maxFilesPerChunk: 500,
  maxBytesPerChunk: 256 * 1024 * 1024,
  maxChunksPerProcess: 40,
}

export interface ChunkPlan<T> {
  /** Files sent alone through the single-file upload: a lone file, or one too big for a chunk. */
  readonly singles: readonly T[]
  /** Processes, each a list of chunks, each a list of files. */
  readonly processes: readonly (readonly (readonly T[])[])[]
}

/**
 * Groups files, in the order given, into chunks under both limits, and chunks into processes.
 * A file larger than a chunk may hold goes alone through the single-file upload, as does a
 * batch of exactly one file (one request instead of three).
 */
export function planChunks<T extends { readonly file: { readonly size: number } }>(
  items: readonly T[],
  limits: Partial<ChunkLimits> = {},
): ChunkPlan<T> {
  const { maxFilesPerChunk, maxBytesPerChunk, maxChunksPerProcess } = {
    ...DEFAULT_CHUNK_LIMITS,
    ...limits,
  }
  const singles = items.filter((item) => item.file.size > maxBytesPerChunk)
  const batched = items.filter((item) => item.file.size <= maxBytesPerChunk)
  if (batched.length === 1) return { singles: [...singles, ...batched], processes: [] }
  const chunks: T[][] = []
  let current: T[] = []
  let bytes = 0
  for (const item of batched) {
    if (
      current.length >= maxFilesPerChunk ||
      (current.length > 0 && bytes + item.file.size > maxBytesPerChunk)
    ) {
      chunks.push(current)
      current = []
      bytes = 0
    }
    current.push(item)
    bytes += item.file.size
  }
  if (current.length > 0) chunks.push(current)
  const processes: T[][][] = []
  for (let i = 0; i < chunks.length; i += maxChunksPerProcess) {
    processes.push(chunks.slice(i, i + maxChunksPerProcess))
  }
  return { singles, processes }
}
