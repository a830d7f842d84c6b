import { lstat, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { CancelledError } from '../backends/errors.ts'
import { fsErrorReason } from '../backends/local-file.ts'
import type { ExcludeMatcher } from './excludes.ts'
import type { SeenFile } from './sync-index.ts'

/** What a scan found under a synced folder. */
export interface FolderScan {
  readonly files: SeenFile[]
  /** Symlinks and special files (never followed, never read). */
  readonly special: { relPath: string; kind: 'symlink' | 'other' }[]
  /** Folders or files that could not be read: their index rows must not be taken as deleted. */
  readonly unreadable: { relPath: string; reason: string }[]
  /** Relative paths of every folder listed, '' for the root. */
  readonly folders: string[]
}

/**
 * Why a synced folder that is not there cannot be synced. Not "deleted": a drive that is not
 * plugged in looks the same, and its files are not taken as deleted.
 */
export const FOLDER_MISSING =
  'the folder is missing (moved, deleted, or on a drive that is not connected)'

/** How many lstat calls run at once: the walk is I/O bound, and the thread pool has 4. */
const STAT_PARALLEL = 16

/**
 * Lists the folder as the index needs it: every regular file with size, mtime and inode, minus
 * excluded paths (an excluded folder is not even entered). Never follows a symlink; an unreadable
 * subfolder is reported, and the scan goes on. Rejects with CancelledError soon after `signal`
 * aborts (a big tree takes a while, and stopping must not wait for it).
 */
export async function scanFolder(
  root: string,
  excludes: ExcludeMatcher,
  signal?: AbortSignal,
): Promise<FolderScan> {
  const scan: FolderScan = { files: [], special: [], unreadable: [], folders: [] }
  const queue: string[] = ['']
  while (queue.length > 0) {
    if (signal?.aborted) throw new CancelledError()
    const rel = queue.pop() as string
    let entries
    try {
      entries = await readdir(join(root, rel), { withFileTypes: true })
    } catch (error) {
      const missing = rel === '' && (error as { code?: string }).code === 'ENOENT'
      scan.unreadable.push({
        relPath: rel,
        reason: missing ? FOLDER_MISSING : fsErrorReason(error),
      })
      continue
    }
    scan.folders.push(rel)
    const toStat: string[] = []
    for (const entry of entries) {
      const relPath = rel ? `${rel}/${entry.name}` : entry.name
      if (entry.isDirectory()) {
        if (!excludes.excludes(relPath, true)) queue.push(relPath)
      } else if (excludes.excludes(relPath)) continue
      else if (entry.isFile()) toStat.push(relPath)
      else if (entry.isSymbolicLink()) scan.special.push({ relPath, kind: 'symlink' })
      else scan.special.push({ relPath, kind: 'other' })
    }
    for (let i = 0; i < toStat.length; i += STAT_PARALLEL) {
      if (signal?.aborted) throw new CancelledError()
      await Promise.all(
        toStat.slice(i, i + STAT_PARALLEL).map(async (relPath) => {
          try {
            const stats = await lstat(join(root, relPath))
            if (stats.isFile()) {
              scan.files.push({ relPath, size: stats.size, mtimeMs: stats.mtimeMs, ino: stats.ino })
            }
            // Replaced by something else between readdir and lstat: the watcher reports it.
          } catch (error) {
            if ((error as { code?: string }).code !== 'ENOENT') {
              scan.unreadable.push({ relPath, reason: fsErrorReason(error) })
            }
          }
        }),
      )
    }
  }
  return scan
}

/** True when `relPath` is `prefix` itself or lies under it ('' covers everything). */
export function isUnder(relPath: string, prefix: string): boolean {
  return prefix === '' || relPath === prefix || relPath.startsWith(`${prefix}/`)
}
