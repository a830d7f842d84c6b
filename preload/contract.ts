/**
 * The IPC contract shared by main, preload and renderer — types only, nothing at run time.
 * Adding a call takes three edits: a channel here, its argument schema in main/ipc/ipc-schemas.ts,
 * its handler in main/ipc/ipc-handlers.ts (the compiler flags a missing one in each). The
 * preload's allow-list is derived from the same names.
 */
import type {
  ActivityEntry,
  FailedFile as EngineFailedFile,
  FolderStatus,
  SyncState,
  SyncStatus as EngineSyncStatus,
  TransferStatus,
} from '../main/sync/sync-status.ts'

export type { ActivityEntry, FolderStatus, SyncState, TransferStatus }

/** A file that could not be uploaded: `reason` in plain words. */
export interface FailedFile extends EngineFailedFile {
  /** The technical message (status code, request) when `reason` leaves it out: for support. */
  readonly detail?: string
}

/** The engine's status as the window gets it (failure reasons in plain words). */
export interface SyncStatus extends Omit<EngineSyncStatus, 'failed'> {
  readonly failed: readonly FailedFile[]
}

export type BackendKind = 'dstor' | 'kala' | 'perkeep'
export type AuthMethod = 'api-key' | 'login' | 'userpass' | 'token'

/** An account as the UI sees it: never its secret. */
export interface AccountView {
  readonly id: string
  readonly backend: BackendKind
  readonly server: string
  readonly auth: AuthMethod
  readonly user?: string
  /** "Perkeep at 127.0.0.1:3179". */
  readonly label: string
  readonly state: 'ok' | 'offline' | 'needs-sign-in'
  readonly message?: string
}

export interface FolderView {
  readonly id: string
  readonly path: string
  readonly accountId: string
  readonly remotePath: string
  readonly excludes: readonly string[]
  readonly paused: boolean
}

export interface Preferences {
  /** Upload limit in bytes per second, 0 = unlimited. */
  readonly bandwidthLimit: number
  readonly launchAtLogin: boolean
  readonly notifications: boolean
}

/** Everything the renderer needs besides the live status. */
export interface AppState {
  readonly version: string
  readonly accounts: readonly AccountView[]
  readonly folders: readonly FolderView[]
  readonly preferences: Preferences
  /** Everything paused (tray and Home's "Pause all"). */
  readonly paused: boolean
  /** Development builds offer "Try it with the local sandbox". */
  readonly sandboxAvailable: boolean
}

/** What the user typed to connect a storage; the secret goes to the keychain only. */
export interface AccountInput {
  readonly backend: BackendKind
  readonly server: string
  readonly auth: AuthMethod
  readonly user?: string
  readonly secret: string
  readonly allowInsecureHttp?: boolean
}

/** "Test connection": a verdict in plain words. */
export interface ConnectionVerdict {
  readonly ok: boolean
  readonly message: string
}

export interface FolderInput {
  readonly path: string
  readonly accountId: string
  readonly remotePath?: string
  readonly excludes?: readonly string[]
}

/** A file waiting for, or in, upload. */
export interface QueueItem {
  readonly folderId: string
  readonly relPath: string
  readonly size: number
  readonly state: 'pending' | 'uploading' | 'failed'
  readonly attempts: number
  readonly lastError?: string
}

/** A window of the queue (the list can hold 10 000s of files; the UI asks for what it shows). */
export interface QueuePage {
  readonly total: number
  readonly offset: number
  readonly items: readonly QueueItem[]
}

/** What a set of exclude patterns would leave out of a folder, before saving them. */
export interface ExcludePreview {
  readonly scanned: number
  readonly excludedCount: number
  /** The first excluded paths (at most 50). */
  readonly excluded: readonly string[]
}

/** Every invoke channel: its arguments and its result. */
export interface Channels {
  'app:state': { args: []; result: AppState }
  'status:get': { args: []; result: SyncStatus }
  'account:test': { args: [input: AccountInput]; result: ConnectionVerdict }
  /** Tests the connection, then saves the account (secret to the keychain). */
  'account:add': { args: [input: AccountInput]; result: AccountView }
  /** "Sign in again": a new secret for an account, tested first. */
  'account:sign-in': { args: [accountId: string, secret: string]; result: ConnectionVerdict }
  /** Removes the account, its folders, and its keychain entry. */
  'account:remove': { args: [accountId: string]; result: void }
  /** The system's folder picker; null when cancelled. */
  'folder:choose': { args: []; result: string | null }
  /** Only a folder that folder:choose returned in this session (main refuses any other path). */
  'folder:add': { args: [input: FolderInput]; result: FolderView }
  'folder:remove': { args: [folderId: string]; result: void }
  'folder:pause': { args: [folderId: string, paused: boolean]; result: void }
  'folder:set-excludes': { args: [folderId: string, excludes: string[]]; result: void }
  /** What the patterns would leave out of a synced folder. */
  'folder:preview-excludes': {
    args: [folderId: string, excludes: string[]]
    result: ExcludePreview
  }
  /** Opens the folder in the system's file manager. */
  'folder:open': { args: [folderId: string]; result: void }
  'sync:pause-all': { args: [paused: boolean]; result: void }
  'queue:page': { args: [offset: number, limit: number]; result: QueuePage }
  /** Retries failed files now: one, or all of a folder. */
  'queue:retry': { args: [folderId: string, relPath?: string]; result: void }
  'preferences:set': { args: [changes: Partial<Preferences>]; result: Preferences }
  /** Development only: starts the reference servers and connects a demo account. */
  'sandbox:start': { args: []; result: AccountView }
  /** Writes a redacted diagnostics bundle; returns where, or null when cancelled. */
  'diagnostics:export': { args: []; result: string | null }
}

export type Channel = keyof Channels

/** Events main pushes to the renderer. */
export interface Events {
  'status:changed': SyncStatus
  'app:changed': AppState
}

export type EventName = keyof Events

/** How a call's outcome crosses the bridge (errors as plain data, never stack traces). */
export type IpcResult<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: IpcError }

export interface IpcError {
  /** Plain words for the person using Ferry. */
  readonly message: string
  readonly kind: 'invalid' | 'forbidden' | 'auth' | 'network' | 'failed'
}

/** The API the preload exposes as `window.ferry`. */
export interface FerryApi {
  invoke<C extends Channel>(
    channel: C,
    ...args: Channels[C]['args']
  ): Promise<Channels[C]['result']>
  /** Subscribes to an event; returns the unsubscribe function. */
  on<E extends EventName>(event: E, listener: (payload: Events[E]) => void): () => void
}

/** Typed so that a channel missing from the preload's allow-list fails to compile. */
export type ChannelList = { readonly [C in Channel]: true }
export type EventList = { readonly [E in EventName]: true }
