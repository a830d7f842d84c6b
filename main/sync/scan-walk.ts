/**
 * The walk behind a folder scan, in two drivers over one set of rules: `walkSync` for the scan
 * thread (scan-worker.ts), where blocking calls cost nothing and run about three times faster
 * than promise-based ones, and `walkAsync` for when no worker can start.
 */
import { lstatSync, readdirSync, type Dirent, type Stats } from 'node:fs'
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

/** How many lstat calls the async walk keeps in flight (the thread pool has 4). */
const STAT_PARALLEL = 16

function emptyScan(): FolderScan {
  return { files: [], special: [], unreadable: [], folders: [] }
}

function unreadableFolder(scan: FolderScan, rel: string, error: unknown): void {
  const missing = rel === '' && (error as { code?: string }).code === 'ENOENT'
  scan.unreadable.push({ relPath: rel, reason: missing ? FOLDER_MISSING : fsErrorReason(error) })
}

/**
 * Sorts one folder's entries: subfolders to walk (an excluded one is not entered), files to
 * stat, symlinks and special files noted (never followed). Returns the files to stat.
 */
function sortEntries(
  scan: FolderScan,
  rel: string,
  entries: readonly Dirent[],
  excludes: ExcludeMatcher,
  queue: string[],
): string[] {
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
  return toStat
}

function recordStat(scan: FolderScan, relPath: string, stats: Stats | undefined): void {
  // Gone, or replaced by something else, between readdir and lstat: the watcher reports it.
  if (stats?.isFile()) {
    scan.files.push({ relPath, size: stats.size, mtimeMs: stats.mtimeMs, ino: stats.ino })
  }
}

function recordStatError(scan: FolderScan, relPath: string, error: unknown): void {
  if ((error as { code?: string }).code !== 'ENOENT') {
    scan.unreadable.push({ relPath, reason: fsErrorReason(error) })
  }
}

export function walkSync(root: string, excludes: ExcludeMatcher): FolderScan {
  const scan = emptyScan()
  const queue: string[] = ['']
  while (queue.length > 0) {
    const rel = queue.pop() as string
    let entries: Dirent[]
    try {
      entries = readdirSync(join(root, rel), { withFileTypes: true })
    } catch (error) {
      unreadableFolder(scan, rel, error)
      continue
    }
    for (const relPath of sortEntries(scan, rel, entries, excludes, queue)) {
      try {
        recordStat(scan, relPath, lstatSync(join(root, relPath), { throwIfNoEntry: false }))
      } catch (error) {
        recordStatError(scan, relPath, error)
      }
    }
  }
  return scan
}

export async function walkAsync(
  root: string,
  excludes: ExcludeMatcher,
  signal?: AbortSignal,
): Promise<FolderScan> {
  const scan = emptyScan()
  const queue: string[] = ['']
  while (queue.length > 0) {
    if (signal?.aborted) throw new CancelledError()
    const rel = queue.pop() as string
    let entries: Dirent[]
    try {
      entries = await readdir(join(root, rel), { withFileTypes: true })
    } catch (error) {
      unreadableFolder(scan, rel, error)
      continue
    }
    const toStat = sortEntries(scan, rel, entries, excludes, queue)
    for (let i = 0; i < toStat.length; i += STAT_PARALLEL) {
      if (signal?.aborted) throw new CancelledError()
      await Promise.all(
        toStat.slice(i, i + STAT_PARALLEL).map((relPath) =>
          lstat(join(root, relPath)).then(
            (stats) => recordStat(scan, relPath, stats),
            (error: unknown) => recordStatError(scan, relPath, error),
          ),
        ),
      )
    }
  }
  return scan
}
