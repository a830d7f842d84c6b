/** The benchmark's data: random bytes on disk, so nothing compresses or deduplicates. */
import { randomFillSync } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { once } from 'node:events'

/** A folder ready to push, and what it holds. */
export interface Workload {
  readonly folder: string
  readonly files: number
  readonly bytes: number
}

/** Size of each file of workload B. */
export const SMALL_FILE_BYTES = 4096

/** Workload A: one file of `size` random bytes, written in 1 MiB pieces. */
export async function createBigFile(folder: string, size: number): Promise<Workload> {
  await mkdir(folder, { recursive: true })
  const out = createWriteStream(join(folder, 'random.bin'))
  for (let written = 0; written < size;) {
    const length = Math.min(1024 * 1024, size - written)
    // A fresh buffer per write: the stream may still hold the previous one.
    const chunk = randomFillSync(Buffer.allocUnsafe(length))
    written += length
    if (!out.write(chunk)) await once(out, 'drain')
  }
  out.end()
  await once(out, 'close')
  return { folder, files: 1, bytes: size }
}

/** Workload B: `count` files of 4 KiB random bytes spread over `folders` sub-folders. */
export async function createSmallFiles(
  folder: string,
  count: number,
  folders = 100,
): Promise<Workload> {
  const dirs = Array.from({ length: Math.min(folders, count) }, (_, i) =>
    join(folder, `d${String(i).padStart(3, '0')}`),
  )
  for (const dir of dirs) await mkdir(dir, { recursive: true })
  const random = randomFillSync(Buffer.allocUnsafe(count * SMALL_FILE_BYTES))
  let next = 0
  const writer = async (): Promise<void> => {
    for (let i = next++; i < count; i = next++) {
      const dir = dirs[i % dirs.length] as string
      const bytes = random.subarray(i * SMALL_FILE_BYTES, (i + 1) * SMALL_FILE_BYTES)
      await writeFile(join(dir, `f${String(i).padStart(6, '0')}.bin`), bytes)
    }
  }
  await Promise.all(Array.from({ length: 16 }, writer))
  return { folder, files: count, bytes: count * SMALL_FILE_BYTES }
}
