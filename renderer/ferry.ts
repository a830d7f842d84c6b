import type { Channel, Channels, FerryApi } from '../preload/contract.ts'

declare global {
  interface Window {
    /** Set by the preload (or the end-to-end harness); the renderer's only way to reach main. */
    readonly ferry?: FerryApi
  }
}

/** The outcome of a call as views use it: the value, or a message to show. */
export type CallResult<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly message: string }

/** The preload's API; throws when the page runs without one (opened outside Ferry). */
export function ferry(): FerryApi {
  const api = window.ferry
  if (!api) throw new Error('Ferry’s connection to the app is missing. Restart Ferry.')
  return api
}

/** Calls main and turns a failure into a plain message, so views never deal with exceptions. */
export async function call<C extends Channel>(
  channel: C,
  ...args: Channels[C]['args']
): Promise<CallResult<Channels[C]['result']>> {
  try {
    return { ok: true, value: await ferry().invoke(channel, ...args) }
  } catch (error) {
    return { ok: false, message: error instanceof Error ? error.message : String(error) }
  }
}
