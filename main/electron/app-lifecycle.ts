import { app } from 'electron'

/**
 * One Ferry per user session: returns false when another instance runs (it has been told and
 * brings its window forward; this one should quit at once). Otherwise calls `onSecondInstance`
 * whenever someone launches Ferry again.
 */
export function claimSingleInstance(onSecondInstance: () => void): boolean {
  if (!app.requestSingleInstanceLock()) return false
  app.on('second-instance', () => onSecondInstance())
  return true
}

export interface QuitGuardOptions {
  /** Stops the work that must end cleanly (the sync engine: in-flight uploads, the index). */
  readonly stop: () => Promise<void>
  /** Longest wait for `stop` before the app exits anyway (default 5 s). */
  readonly timeoutMs?: number
  /** Last things before exit (tray, sandbox, log flush); bounded by the same timeout. */
  readonly cleanUp?: () => Promise<void> | void
  readonly log?: (line: string) => void
}

/** Tells whether the app is on its way out (the window then really closes). */
export interface QuitGuard {
  readonly quitting: boolean
  /** Resolves once the app has called exit (tests). */
  readonly exited: Promise<void>
}

/**
 * Quit waits for in-flight work: the first `before-quit` is held back (preventDefault), the
 * engine is stopped — for at most `timeoutMs`, so a hung upload cannot keep the app alive —
 * then the app exits. Later `before-quit`s while stopping are held back too.
 */
export function guardQuit(options: QuitGuardOptions): QuitGuard {
  const timeoutMs = options.timeoutMs ?? 5000
  let quitting = false
  let markExited: () => void = () => undefined
  const exited = new Promise<void>((resolve) => (markExited = resolve))
  app.on('before-quit', (event) => {
    event.preventDefault()
    if (quitting) return
    quitting = true
    void (async () => {
      const started = performance.now()
      const stopped = await within(options.stop(), timeoutMs, options.log)
      options.log?.(
        stopped
          ? `[app] stopped in ${Math.round(performance.now() - started)} ms`
          : `[app] still stopping after ${timeoutMs} ms: exiting anyway`,
      )
      if (options.cleanUp) await within(Promise.resolve(options.cleanUp()), timeoutMs, options.log)
      app.exit(0)
      markExited()
    })()
  })
  return {
    get quitting() {
      return quitting
    },
    exited,
  }
}

/** True if `work` settled within `ms` (a failure counts as settled, and is logged). */
async function within(
  work: Promise<unknown>,
  ms: number,
  log?: (line: string) => void,
): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms)
  })
  const done = work.then(
    () => true as const,
    (error: unknown) => {
      log?.(`[app] while quitting: ${String(error)}`)
      return true as const
    },
  )
  try {
    return await Promise.race([done, timeout])
  } finally {
    clearTimeout(timer)
  }
}
