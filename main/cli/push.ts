import { stat } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { Backend, LocalFile, RemoteRef, UploadOutcome } from '../backends/backend.ts'
import { toFerryError, type FerryError } from '../backends/errors.ts'
import { FileIndex, type SyncTarget } from '../sync/file-index.ts'
import { walkFolder } from '../sync/walk.ts'
import { CliError, EXIT, exitCodeFor, type ExitCode } from './exit-codes.ts'
import type { CliIo } from './io.ts'
import { formatBytes, ProgressBar } from './progress.ts'

export interface PushRequest {
  readonly folder: string
  readonly backend: Backend
  readonly server: string
  readonly remotePath: string
  readonly indexPath: string
  readonly json: boolean
}

interface FileReport {
  readonly path: string
  readonly size: number
  readonly sha256: string
  readonly remote: RemoteRef
}

/**
 * `ferry push`: uploads every regular file under the folder that is not already recorded as
 * synced (same size, mtime and content) and records each one the server confirms.
 */
export async function push(
  request: PushRequest,
  io: CliIo,
  signal?: AbortSignal,
): Promise<ExitCode> {
  const folder = resolve(request.folder)
  const info = await stat(folder).catch(() => undefined)
  if (!info?.isDirectory()) throw new CliError(EXIT.usage, `${request.folder} is not a folder`)
  const { backend } = request
  const log = (line: string): void => void (request.json ? io.stderr : io.stdout).write(`${line}\n`)

  // Credentials first: wrong ones must fail before a single byte is sent.
  try {
    await backend.checkAuth(signal)
  } catch (error) {
    const typed = toFerryError(error, signal)
    throw new CliError(exitCodeFor(typed), typed.message)
  }

  const index = new FileIndex(request.indexPath)
  try {
    const target: SyncTarget = {
      folder,
      backend: backend.kind,
      server: request.server,
      remotePath: request.remotePath,
    }
    const walk = await walkFolder(folder)
    const known = index.list(target)
    const confirmed = new Map<string, FileReport>()
    const failed: { path: string; error: string }[] = walk.skipped
      .filter(
        (entry) =>
          !entry.reason.startsWith('symbolic link') && !entry.reason.startsWith('not a regular'),
      )
      .map((entry) => ({
        path: entry.relPath,
        error: `Cannot read ${entry.relPath}: ${entry.reason}`,
      }))
    for (const entry of walk.skipped) {
      if (!failed.some((f) => f.path === entry.relPath))
        log(`skipped ${entry.relPath}: ${entry.reason}`)
    }

    const pending: LocalFile[] = []
    for (const file of walk.files) {
      const record = known.get(file.relPath)
      // Same size and mtime as when the server confirmed it: taken as the same content (the
      // engine's scans hash what may have changed; push trusts the file system).
      if (record && record.size === file.size && record.mtimeMs === file.mtimeMs) {
        confirmed.set(file.relPath, report(file.relPath, record))
      } else pending.push(file)
    }
    const skipped = confirmed.size

    const totalBytes = pending.reduce((sum, file) => sum + file.size, 0)
    const bar =
      !request.json && io.stdout.isTTY && pending.length > 0
        ? new ProgressBar(io.stdout, pending.length, totalBytes)
        : undefined
    if (!bar && pending.length > 0) {
      log(`Uploading ${pending.length} files (${formatBytes(totalBytes)}) to ${request.server}`)
    }
    let uploaded = 0
    const onOutcome = (outcome: UploadOutcome): void => {
      bar?.fileDone()
      if (outcome.ok) {
        index.record(target, {
          relPath: outcome.file.relPath,
          size: outcome.file.size,
          mtimeMs: outcome.file.mtimeMs,
          sha256: outcome.sha256,
          remote: outcome.remote,
        })
        confirmed.set(outcome.file.relPath, {
          path: outcome.file.relPath,
          size: outcome.file.size,
          sha256: outcome.sha256,
          remote: outcome.remote,
        })
        uploaded++
      } else {
        failed.push({ path: outcome.file.relPath, error: outcome.error.message })
        if (!bar) log(`failed ${outcome.file.relPath}: ${outcome.error.message}`)
      }
    }
    let fatal: FerryError | undefined
    try {
      if (pending.length > 0) {
        await backend.upload(pending, {
          signal,
          onOutcome,
          onProgress: bar ? (event) => bar.addBytes(event.bytes) : undefined,
        })
      }
    } catch (error) {
      fatal = toFerryError(error, signal)
    }
    bar?.finish()

    let root: string | undefined
    if (!fatal && backend.storeTree) {
      try {
        root = await backend.storeTree(
          {
            root: folder,
            folders: walk.folders,
            files: [...confirmed.values()].map((f) => ({ relPath: f.path, remote: f.remote })),
          },
          { signal },
        )
      } catch (error) {
        fatal = toFerryError(error, signal)
      }
    }

    if (fatal) {
      // Every file the failure cut short is reported, not silently left out.
      const settled = new Set([...confirmed.keys(), ...failed.map((f) => f.path)])
      const cut = pending.filter((file) => !settled.has(file.relPath))
      for (const file of cut) failed.push({ path: file.relPath, error: fatal.message })
      if (cut.length === 0) failed.push({ path: '', error: fatal.message })
    }
    const files = [...confirmed.values()].sort((a, b) => (a.path < b.path ? -1 : 1))
    const summary = `${uploaded} uploaded, ${skipped} already synced, ${failed.length} failed`
    if (request.json) {
      log(summary)
      io.stdout.write(
        `${JSON.stringify({ uploaded, skipped, failed, files, ...(root ? { root } : {}) })}\n`,
      )
    } else {
      for (const failure of failed) if (bar) log(`failed ${failure.path}: ${failure.error}`)
      log(summary + (root ? ` — root ${root}` : ''))
    }
    if (fatal?.kind === 'auth') {
      io.stderr.write(`ferry: ${fatal.message}\n`)
      return EXIT.auth
    }
    return failed.length > 0 ? EXIT.someFailed : EXIT.ok
  } finally {
    index.close()
  }
}

function report(
  path: string,
  record: { size: number; sha256: string; remote: RemoteRef },
): FileReport {
  return { path, size: record.size, sha256: record.sha256, remote: record.remote }
}
