import { folderName, type SyncState, type SyncStatus } from '../sync/sync-status.ts'

/**
 * The tray icons, one per state people tell apart: `assets/tray/tray-<name>.png` (and `@2x`;
 * `…Template.png` on macOS). `idle` is "everything is stored".
 */
export type TrayIconName = 'idle' | 'syncing' | 'paused' | 'offline' | 'error' | 'needs-sign-in'

export const TRAY_ICON_NAMES: readonly TrayIconName[] = [
  'idle',
  'syncing',
  'paused',
  'offline',
  'error',
  'needs-sign-in',
]

/** What a tray menu item does when clicked. */
export type TrayCommand =
  | { readonly kind: 'open-window' }
  | { readonly kind: 'pause-all'; readonly paused: boolean }
  | { readonly kind: 'open-folder'; readonly folderId: string }
  | { readonly kind: 'quit' }

/** A menu item, independent of Electron (tray.ts turns these into a native menu). */
export type TrayMenuItem =
  | { readonly type: 'separator' }
  | {
      readonly type: 'normal'
      readonly label: string
      readonly enabled: boolean
      readonly command?: TrayCommand
    }
  | {
      readonly type: 'submenu'
      readonly label: string
      readonly enabled: boolean
      readonly submenu: readonly TrayMenuItem[]
    }

/** Everything the tray shows, derived from the status alone (plus the "Pause all" setting). */
export interface TrayView {
  readonly icon: TrayIconName
  readonly tooltip: string
  readonly menu: readonly TrayMenuItem[]
}

/** The part of the app's state the tray needs besides the status. */
export interface TrayAppState {
  /** Everything paused by the user ("Pause all"). */
  readonly paused: boolean
}

const ICONS: Readonly<Record<SyncState, TrayIconName>> = {
  idle: 'idle',
  scanning: 'syncing',
  syncing: 'syncing',
  paused: 'paused',
  offline: 'offline',
  error: 'error',
  'needs-sign-in': 'needs-sign-in',
}

/**
 * The icon tells the truth at a glance: "up to date" (idle) only when every folder's files are
 * stored. Files that could not be uploaded show the error icon even while the rest is idle,
 * and with no folders at all there is nothing up to date: the paused icon.
 */
export function trayIcon(status: SyncStatus, app: TrayAppState): TrayIconName {
  if (status.state === 'idle') {
    if (status.failed.length > 0) return 'error'
    if (status.folders.length === 0 || app.paused) return 'paused'
  }
  return ICONS[status.state]
}

const FOLDER_NOTES: Partial<Record<SyncState, string>> = {
  paused: 'paused',
  offline: 'offline',
  error: 'needs attention',
  'needs-sign-in': 'sign in again',
}

/** The tray's icon, tooltip and menu for this status. */
export function trayView(status: SyncStatus, app: TrayAppState): TrayView {
  const hasFolders = status.folders.length > 0
  const names = status.folders.map((f) => folderName(f.path))
  const folders: TrayMenuItem[] = status.folders.map((folder, i) => {
    const name = names[i] as string
    // Two folders with one name ("Documents" on two disks): say where each one is.
    const label = names.filter((n) => n === name).length > 1 ? folder.path : name
    const note = FOLDER_NOTES[folder.state]
    return {
      type: 'normal',
      label: note ? `${label} (${note})` : label,
      enabled: true,
      command: { kind: 'open-folder', folderId: folder.id },
    }
  })
  return {
    icon: trayIcon(status, app),
    tooltip: `Ferry — ${status.message}`,
    menu: [
      { type: 'normal', label: status.message, enabled: false },
      { type: 'separator' },
      { type: 'normal', label: 'Open Ferry', enabled: true, command: { kind: 'open-window' } },
      {
        type: 'normal',
        label: app.paused ? 'Resume all' : 'Pause all',
        enabled: hasFolders || app.paused,
        command: { kind: 'pause-all', paused: !app.paused },
      },
      { type: 'submenu', label: 'Open a synced folder', enabled: hasFolders, submenu: folders },
      { type: 'separator' },
      { type: 'normal', label: 'Quit Ferry', enabled: true, command: { kind: 'quit' } },
    ],
  }
}
