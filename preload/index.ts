import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron'
import { createFerryApi } from './bridge.ts'
import type { IpcResult } from './contract.ts'

// Sandboxed preload: only the allow-listed API crosses into the page, never ipcRenderer itself.
contextBridge.exposeInMainWorld(
  'ferry',
  createFerryApi({
    invoke: (channel, args) => ipcRenderer.invoke(channel, ...args) as Promise<IpcResult<unknown>>,
    subscribe: (event, listener) => {
      const forward = (_event: IpcRendererEvent, payload: unknown): void => listener(payload)
      ipcRenderer.on(event, forward)
      return () => void ipcRenderer.removeListener(event, forward)
    },
  }),
)
