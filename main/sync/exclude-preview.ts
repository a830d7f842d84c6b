import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { ExcludeMatcher } from './excludes.ts'

/** What exclude patterns would leave out of a folder (for the settings screen's preview). */
export interface ExcludePreviewResult {
  readonly scanned: number
  readonly excludedCount: number
  readonly excluded: string[]
}

/**
 * Walks the folder (at most `limit` entries, so a huge folder answers quickly) and lists what the
 * patterns, with the defaults and the folder's .ferryignore, would exclude. An excluded folder
 * counts once and is not entered.
 */
export async function previewExcludes(
  root: string,
  patterns: readonly string[],
  limit = 20_000,
): Promise<ExcludePreviewResult> {
  const matcher = await ExcludeMatcher.forFolder(root, patterns)
  const excluded: string[] = []
  let scanned = 0
  let excludedCount = 0
  const queue = ['']
  while (queue.length > 0 && scanned < limit) {
    const rel = queue.shift() as string
    const entries = await readdir(join(root, rel), { withFileTypes: true }).catch(() => [])
    entries.sort((a, b) => (a.name < b.name ? -1 : 1))
    for (const entry of entries) {
      if (++scanned > limit) break
      const relPath = rel ? `${rel}/${entry.name}` : entry.name
      const isFolder = entry.isDirectory()
      if (matcher.excludes(relPath, isFolder)) {
        excludedCount++
        if (excluded.length < 50) excluded.push(isFolder ? `${relPath}/` : relPath)
      } else if (isFolder) queue.push(relPath)
    }
  }
  return { scanned: Math.min(scanned, limit), excludedCount, excluded }
}
