import { useEffect, useState } from 'preact/hooks'
import type { AppState, SyncStatus } from '../preload/contract.ts'
import { ferry } from './ferry.ts'

/** What the screens show: the app's settings and the live sync status, kept up to date. */
export type LiveState =
  | { readonly kind: 'loading' }
  | { readonly kind: 'failed'; readonly message: string }
  | { readonly kind: 'ready'; readonly app: AppState; readonly status: SyncStatus }

/**
 * Loads the app state and the status once, then follows `app:changed` and `status:changed`.
 * Events are subscribed to before the first load, so nothing that happens in between is lost;
 * a pushed value always wins over a loaded one that arrives after it.
 */
export function useLiveState(): LiveState {
  const [app, setApp] = useState<AppState>()
  const [status, setStatus] = useState<SyncStatus>()
  const [failure, setFailure] = useState<string>()

  useEffect(() => {
    let offs: (() => void)[] = []
    try {
      const api = ferry()
      offs = [api.on('app:changed', setApp), api.on('status:changed', setStatus)]
      Promise.all([api.invoke('app:state'), api.invoke('status:get')]).then(
        ([loadedApp, loadedStatus]) => {
          setApp((pushed) => pushed ?? loadedApp)
          setStatus((pushed) =>
            pushed && pushed.updatedAt >= loadedStatus.updatedAt ? pushed : loadedStatus,
          )
        },
        (error: unknown) => setFailure(error instanceof Error ? error.message : String(error)),
      )
    } catch (error) {
      setFailure(error instanceof Error ? error.message : String(error))
    }
    return () => {
      for (const off of offs) off()
    }
  }, [])

  if (failure !== undefined) return { kind: 'failed', message: failure }
  if (!app || !status) return { kind: 'loading' }
  return { kind: 'ready', app, status }
}
