import { existsSync, readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import type { SettingsStore } from '../settings/settings-store.ts'
import { EngineLock } from '../sync/engine-lock.ts'
import { SyncIndex } from '../sync/sync-index.ts'
import { StatusModel, type SyncStatus } from '../sync/sync-status.ts'
import { EXIT, type ExitCode } from './exit-codes.ts'
import type { CliIo } from './io.ts'
import { renderStatus, statusJson } from './status-view.ts'
import { statusFilePath, syncIndexPath } from './sync.ts'

export interface StatusCommand {
  readonly watch: boolean
  readonly json: boolean
  readonly stateDir: string
}

const NOT_RUNNING = 'Ferry is not syncing right now (start it with `ferry sync`)'

/**
 * `ferry status`: what the running `ferry sync` reports, or, when none runs, what the index
 * says is stored and still to do. `--watch` redraws it until Ctrl-C.
 */
export async function status(
  command: StatusCommand,
  io: CliIo,
  deps: { settings: SettingsStore; signal?: AbortSignal },
): Promise<ExitCode> {
  const color = io.stdout.isTTY === true
  let drawn = 0
  for (;;) {
    const current = readStatus(command.stateDir, deps.settings)
    if (command.json) io.stdout.write(`${statusJson(current)}\n`)
    else {
      const view = renderStatus(current, { width: io.stdout.columns ?? 80, color })
      const text = current.running ? view : `${NOT_RUNNING}\n${view}`
      const clear = drawn > 0 && io.stdout.isTTY ? `\x1b[${drawn}F\x1b[J` : ''
      io.stdout.write(`${clear}${text}\n`)
      drawn = text.split('\n').length
    }
    if (!command.watch || deps.signal?.aborted) return EXIT.ok
    try {
      await sleep(500, undefined, { signal: deps.signal })
    } catch {
      return EXIT.ok
    }
  }
}

/** The live status when `ferry sync` runs, else one built from the settings and the index. */
export function readStatus(
  stateDir: string,
  settings: SettingsStore,
): SyncStatus & { running: boolean } {
  const owner = new EngineLock(stateDir).owner()
  if (owner !== undefined) {
    try {
      const live = JSON.parse(readFileSync(statusFilePath(stateDir), 'utf8')) as SyncStatus & {
        pid?: number
      }
      if (live.pid === owner) return { ...live, running: true }
    } catch {
      // Not written yet: fall back to the index.
    }
  }
  return { ...fromIndex(stateDir, settings), running: false }
}

/**
 * The status as the index records it. Only reads: the index is the engine's, and a status
 * command must neither create one (nothing synced yet) nor change one (tables, journal mode).
 */
function fromIndex(stateDir: string, store: SettingsStore): SyncStatus {
  const settings = store.read()
  const model = new StatusModel()
  const path = syncIndexPath(stateDir)
  const index = existsSync(path) ? new SyncIndex(path, { readonly: true }) : undefined
  try {
    model.setFolders(
      settings.folders.map((f) => ({ id: f.id, path: f.path, accountId: f.accountId })),
    )
    for (const folder of settings.folders) {
      model.setFolderState(folder.id, settings.paused || folder.paused ? 'paused' : 'idle')
      if (!index) continue
      const counts = index.counts(folder.id)
      model.setQueue(folder.id, {
        filesRemaining: counts.pendingFiles,
        bytesRemaining: counts.pendingBytes,
      })
      model.setFailed(
        folder.id,
        index.failures(folder.id, 200).map((f) => ({
          folderId: folder.id,
          relPath: f.relPath,
          reason: f.lastError ?? 'Failed',
          attempts: f.attempts,
          nextAttemptAt: f.nextAttemptAt,
        })),
      )
    }
    return model.snapshot()
  } finally {
    index?.close()
    model.dispose()
  }
}
