import type { Channel, IpcError, IpcResult } from '../../preload/contract.ts'
import { CHANNEL_ARGS, isPlainMessage } from './ipc-schemas.ts'
import type { Handlers } from './ipc-handlers.ts'
import { redactDeep } from './redact-deep.ts'

/** The part of Electron's IpcMainInvokeEvent the router looks at. */
export interface InvokeEventLike {
  readonly senderFrame: { readonly url: string } | null
}

/** The part of Electron's ipcMain the router uses (a plain object in tests). */
export interface IpcMainLike {
  handle(
    channel: string,
    listener: (event: InvokeEventLike, ...args: unknown[]) => Promise<unknown>,
  ): void
  removeHandler(channel: string): void
}

export interface RouterOptions {
  /** True for frames allowed to call main: the app's own renderer, nothing else. */
  readonly isTrustedSender: (frameUrl: string) => boolean
  /**
   * Removes secrets (main/platform/log-file.ts's SecretRedactor) from everything that goes back
   * to the page: a server may echo a key inside its error message.
   */
  readonly redact: (text: string) => string
  /** Where failures are logged (messages only, never arguments: they may hold secrets). */
  readonly log?: (line: string) => void
}

/** What a refused request says when no plain message fits (the channel goes to the log only). */
export const REFUSED_MESSAGE =
  'Ferry could not do that: the window asked for something Ferry does not accept. ' +
  'If this keeps happening, quit Ferry and open it again.'

/**
 * Registers every channel: checks the sender frame, validates the arguments against the
 * channel's schema, runs the handler, and returns an IpcResult (errors as plain messages), all
 * of it redacted.
 * Returns a function that removes the handlers.
 */
export function registerIpc(
  ipcMain: IpcMainLike,
  handlers: Handlers,
  options: RouterOptions,
): () => void {
  const channels = Object.keys(CHANNEL_ARGS) as Channel[]
  for (const channel of channels) {
    ipcMain.handle(channel, (event, ...args) => dispatch(channel, event, args, handlers, options))
  }
  return () => {
    for (const channel of channels) ipcMain.removeHandler(channel)
  }
}

/** Runs one call through the checks; exported for the end-to-end harness and tests. */
export async function dispatch(
  channel: Channel,
  event: InvokeEventLike,
  args: unknown[],
  handlers: Handlers,
  options: RouterOptions,
): Promise<IpcResult<unknown>> {
  const { redact } = options
  const url = event.senderFrame?.url
  if (!url || !options.isTrustedSender(url)) {
    options.log?.(`[ipc] refused ${channel} from an untrusted frame`)
    return failure('forbidden', 'This window may not control Ferry', redact)
  }
  const parsed = CHANNEL_ARGS[channel].safeParse(args)
  if (!parsed.success) {
    const said = parsed.error.issues.find((issue) => isPlainMessage(issue.message))?.message
    options.log?.(
      `[ipc] refused ${channel}: invalid arguments (${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')})`,
    )
    return failure('invalid', said ?? REFUSED_MESSAGE, redact)
  }
  try {
    const handler = handlers[channel] as (...a: unknown[]) => unknown
    return { ok: true, value: redactDeep(await handler(...parsed.data), redact) }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    const kind = (error as { kind?: string }).kind
    options.log?.(`[ipc] ${channel} failed: ${message}`)
    return failure(
      kind === 'auth' || kind === 'network' || kind === 'invalid' ? kind : 'failed',
      message,
      redact,
    )
  }
}

function failure(
  kind: IpcError['kind'],
  message: string,
  redact: (text: string) => string,
): IpcResult<never> {
  return { ok: false, error: { kind, message: redact(message) } }
}
