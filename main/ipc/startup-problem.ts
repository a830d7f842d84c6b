import { EngineLockedError } from '../sync/engine-lock.ts'

/** What the error box says when the app cannot start syncing. */
export interface StartupProblem {
  readonly title: string
  readonly message: string
}

/**
 * The error box's words for a start that failed. The usual cause is another Ferry syncing the
 * same folders (the app is single-instance, so in practice `ferry sync` in a terminal); its
 * process id is for the log, not for the person reading the box.
 */
export function startupProblem(error: unknown, logPath?: string): StartupProblem {
  if (error instanceof EngineLockedError) {
    return {
      title: 'Ferry is already running',
      message:
        'Another copy of Ferry is already keeping the same folders stored — probably the ' +
        '“ferry sync” command in a terminal window. Quit it (press Ctrl+C in that window), ' +
        'then open Ferry again.',
    }
  }
  const reason = error instanceof Error ? error.message : String(error)
  return {
    title: 'Ferry cannot start syncing',
    message:
      `${reason}\n\nQuit Ferry and open it again.` +
      (logPath ? ` If this keeps happening, Ferry’s log says more: ${logPath}` : ''),
  }
}
