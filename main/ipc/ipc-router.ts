import type { Channel, IpcError, IpcResult } from '../../preload/contract.ts'
import { CHANNEL_ARGS } from './ipc-schemas.ts'
import type { Handlers } from './ipc-handlers.ts'

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
  /** Where failures are logged (messages only, never arguments: they may hold secrets). */
  readonly log?: (line: string) => void
}

/**
 * Registers every channel: checks the sender frame, validates the arguments against the
 * channel's schema, runs the handler, and returns an IpcResult (errors as plain messages).
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
  const url = event.senderFrame?.url
  if (!url || !options.isTrustedSender(url)) {
    options.log?.(`[ipc] refused ${channel} from an untrusted frame`)
    return failure('forbidden', 'This window may not control Ferry')
  }
  const parsed = CHANNEL_ARGS[channel].safeParse(args)
  if (!parsed.success) {
    options.log?.(`[ipc] refused ${channel}: invalid arguments`)
    return failure('invalid', `Invalid request (${channel})`)
  }
  try {
    const handler = handlers[channel] as (...a: unknown[]) => unknown
    return { ok: true, value: await handler(...parsed.data) }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    const kind = (error as { kind?: string }).kind
    options.log?.(`[ipc] ${channel} failed: ${message}`)
    return failure(
      kind === 'auth' || kind === 'network' || kind === 'invalid' ? kind : 'failed',
      message,
    )
  }
}

function failure(kind: IpcError['kind'], message: string): IpcResult<never> {
  return { ok: false, error: { kind, message } }
}
