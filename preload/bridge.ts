/**
 * The renderer's `window.ferry`, built over a transport: Electron's ipcRenderer in the preload,
 * a test harness's binding in the end-to-end tests. No Electron import here, so both share it.
 */
import type {
  Channel,
  ChannelList,
  EventList,
  EventName,
  Events,
  FerryApi,
  IpcResult,
} from './contract.ts'

export interface BridgeTransport {
  invoke(channel: Channel, args: unknown[]): Promise<IpcResult<unknown>>
  subscribe(event: EventName, listener: (payload: unknown) => void): () => void
}

/** Every channel the renderer may call: anything else is refused before it reaches main. */
export const CHANNELS: ChannelList = {
  'app:state': true,
  'status:get': true,
  'account:test': true,
  'account:add': true,
  'account:sign-in': true,
  'account:remove': true,
  'folder:choose': true,
  'folder:add': true,
  'folder:remove': true,
  'folder:pause': true,
  'folder:set-excludes': true,
  'folder:preview-excludes': true,
  'folder:open': true,
  'sync:pause-all': true,
  'queue:page': true,
  'queue:retry': true,
  'preferences:set': true,
  'sandbox:start': true,
  'diagnostics:export': true,
}

export const EVENTS: EventList = { 'status:changed': true, 'app:changed': true }

export function createFerryApi(transport: BridgeTransport): FerryApi {
  return {
    async invoke(channel, ...args) {
      if (!Object.hasOwn(CHANNELS, channel)) throw new Error(`Unknown call: ${String(channel)}`)
      const result = await transport.invoke(channel, args)
      if (result.ok) return result.value as never
      // Only the message crosses the bridge (Error subclasses do not survive contextBridge).
      throw new Error(result.error.message)
    },
    on(event, listener) {
      if (!Object.hasOwn(EVENTS, event)) throw new Error(`Unknown event: ${String(event)}`)
      return transport.subscribe(event, (payload) => listener(payload as Events[typeof event]))
    },
  }
}
