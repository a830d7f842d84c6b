import { lstat, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { LocalFile } from '../backends/backend.ts'
import { fsErrorReason } from '../backends/local-file.ts'

/** Something under a synced folder that will not be uploaded, and why (shown to the user). */
export interface SkippedEntry {
  readonly relPath: string
  readonly reason: string
}

export interface WalkResult {
  readonly files: LocalFile[]
  /** Folders seen (relative paths, '' for the root), for backends that store folders. */
  readonly folders: string[]
  readonly skipped: SkippedEntry[]
}

/**
 * Lists every regular file under `root`, recursively, without following symlinks. Symlinks,
 * FIFOs, sockets and devices are skipped with a reason; an unreadable folder is reported and
 * the walk goes on.
 */
export async function walkFolder(root: string): Promise<WalkResult> {
  const result: WalkResult = { files: [], folders: [], skipped: [] }
  const visit = async (rel: string): Promise<void> => {
    let entries
    try {
      entries = await readdir(join(root, rel), { withFileTypes: true })
    } catch (error) {
      // Not listed as a folder: stored empty, it would look as if its content was deleted.
      result.skipped.push({ relPath: rel || '.', reason: fsErrorReason(error) })
      return
    }
    result.folders.push(rel)
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    for (const entry of entries) {
      const relPath = rel ? `${rel}/${entry.name}` : entry.name
      if (entry.isDirectory()) await visit(relPath)
      else if (entry.isFile()) {
        const absPath = join(root, relPath)
        try {
          const stats = await lstat(absPath)
          result.files.push({ relPath, absPath, size: stats.size, mtimeMs: stats.mtimeMs })
        } catch (error) {
          result.skipped.push({ relPath, reason: fsErrorReason(error) })
        }
      } else if (entry.isSymbolicLink()) {
        result.skipped.push({ relPath, reason: 'symbolic link (not followed)' })
      } else {
        result.skipped.push({ relPath, reason: 'not a regular file (FIFO, socket or device)' })
      }
    }
  }
  await visit('')
  return result
}
