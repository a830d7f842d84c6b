import type { Channel, Channels } from '../../preload/contract.ts'
import type { AppService } from './app-service.ts'

/** One handler per channel, typed by the contract: a missing or mistyped one does not compile. */
export type Handlers = {
  readonly [C in Channel]: (
    ...args: Channels[C]['args']
  ) => Promise<Channels[C]['result']> | Channels[C]['result']
}

/** Maps every channel onto the app service. */
export function createHandlers(app: AppService): Handlers {
  return {
    'app:state': () => app.appState(),
    'status:get': () => app.status(),
    'account:test': (input) => app.testConnection(input),
    'account:add': (input) => app.addAccount(input),
    'account:sign-in': (accountId, secret) => app.signIn(accountId, secret),
    'account:remove': (accountId) => app.removeAccount(accountId),
    'folder:choose': () => app.chooseFolder(),
    'folder:add': (input) => app.addChosenFolder(input),
    'folder:remove': (folderId) => app.removeFolder(folderId),
    'folder:pause': (folderId, paused) => app.pauseFolder(folderId, paused),
    'folder:set-excludes': (folderId, excludes) => app.setExcludes(folderId, excludes),
    'folder:preview-excludes': (folderId, excludes) => app.previewExcludes(folderId, excludes),
    'folder:open': (folderId) => app.openFolder(folderId),
    'sync:pause-all': (paused) => app.pauseAll(paused),
    'queue:page': (offset, limit) => app.queuePage(offset, limit),
    'queue:retry': (folderId, relPath) => app.retry(folderId, relPath),
    'preferences:set': (changes) => app.setPreferences(changes),
    'sandbox:start': () => app.startSandbox(),
    'diagnostics:export': () => app.exportDiagnostics(),
  }
}
