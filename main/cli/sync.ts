import { renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { SecretStore } from '../platform/secret-store.ts'
import type { SettingsStore } from '../settings/settings-store.ts'
import { BackendWiring } from '../sync/backend-wiring.ts'
import { EngineLock, EngineLockedError } from '../sync/engine-lock.ts'
import { SyncEngine } from '../sync/sync-engine.ts'
import type { SyncStatus } from '../sync/sync-status.ts'
import { CliError, EXIT, type ExitCode } from './exit-codes.ts'
import type { CliIo } from './io.ts'
import { resolveSecret } from './secret.ts'
import { LogLines, renderStatus, statusJson } from './status-view.ts'

export interface SyncCommand {
  readonly once: boolean
  readonly json: boolean
  readonly stateDir: string
}

export interface SyncDeps {
  readonly settings: SettingsStore
  readonly secrets: SecretStore
  readonly signal?: AbortSignal
}

/** The index of the engine (shared with `ferry status`). */
export function syncIndexPath(stateDir: string): string {
  return join(stateDir, 'sync.sqlite')
}

/** Where a running `ferry sync` leaves its latest status for `ferry status`. */
export function statusFilePath(stateDir: string): string {
  return join(stateDir, 'status.json')
}

/**
 * `ferry sync`: the engine in the foreground until Ctrl-C/SIGTERM (live view on a terminal,
 * log lines otherwise); `--once` syncs every folder and exits with push's exit codes.
 */
export async function sync(command: SyncCommand, io: CliIo, deps: SyncDeps): Promise<ExitCode> {
  const settings = deps.settings.read()
  if (settings.folders.length === 0) {
    throw new CliError(
      EXIT.usage,
      'No folders to sync yet: add an account with `ferry account add`, then a folder with ' +
        '`ferry folder add <folder> --account <id>`',
    )
  }
  const lock = new EngineLock(command.stateDir)
  try {
    lock.acquire()
  } catch (error) {
    if (error instanceof EngineLockedError) throw new CliError(EXIT.someFailed, error.message)
    throw error
  }
  const wiring = new BackendWiring(settings.bandwidthLimit)
  const log = (line: string): void => void io.stderr.write(`${line}\n`)
  const engine = new SyncEngine({
    settings: deps.settings,
    secretFor: (account) =>
      resolveSecret(account, io.env, deps.secrets, {
        accountId: account.id,
        accountCount: deps.settings.read().accounts.length,
      }),
    makeBackend: wiring.makeBackend,
    indexPath: syncIndexPath(command.stateDir),
    watch: !command.once,
    onBandwidthLimit: (limit) => wiring.bandwidth.setLimit(limit),
    log: command.json ? undefined : log,
  })
  const view = command.json ? undefined : liveView(io)
  const statusFile = statusFilePath(command.stateDir)
  let lastWrite = 0
  const unsubscribe = engine.status.onDidChange((status) => {
    view?.(status)
    const now = Date.now()
    // `ferry status` reads this; once a second is plenty and keeps the disk quiet.
    if (now - lastWrite >= 1000 || status.state !== 'syncing') {
      lastWrite = now
      writeStatusFile(statusFile, status)
    }
  })
  const stopped = new Promise<void>((resolve) => {
    if (deps.signal?.aborted) resolve()
    deps.signal?.addEventListener('abort', () => resolve(), { once: true })
  })
  try {
    if (command.once) {
      const result = await Promise.race([engine.syncOnce(), stopped.then(() => undefined)])
      await engine.stop()
      const final = engine.status.snapshot()
      view?.(final)
      if (command.json) io.stdout.write(`${statusJson(final)}\n`)
      if (!result) return EXIT.someFailed
      if (result.needsSignIn) return EXIT.auth
      return result.failed > 0 ? EXIT.someFailed : EXIT.ok
    }
    await engine.start()
    await stopped
    log('[sync] stopping…')
    await engine.stop()
    return EXIT.ok
  } finally {
    unsubscribe()
    writeStatusFile(statusFile, { ...engine.status.snapshot(), stopped: true })
    await wiring.close()
    lock.release()
  }
}

/** A redrawn block on a terminal; log lines (activity and state changes) otherwise. */
function liveView(io: CliIo): (status: SyncStatus) => void {
  if (io.stdout.isTTY) {
    let drawn = 0
    return (status) => {
      const text = renderStatus(status, { width: io.stdout.columns ?? 80, color: true })
      // Move up over the last frame and clear it, so the view stays in place.
      const clear = drawn > 0 ? `\x1b[${drawn}F\x1b[J` : ''
      io.stdout.write(`${clear}${text}\n`)
      drawn = text.split('\n').length
    }
  }
  const lines = new LogLines()
  return (status) => {
    for (const line of lines.lines(status)) io.stdout.write(`${line}\n`)
  }
}

function writeStatusFile(path: string, status: SyncStatus & { stopped?: boolean }): void {
  try {
    writeFileSync(`${path}.tmp`, JSON.stringify({ ...status, pid: process.pid }))
    renameSync(`${path}.tmp`, path)
  } catch {
    // The status file is a convenience for `ferry status`; syncing goes on without it.
  }
}
