import { describe, expect, it } from 'vitest'
import {
  TRAY_ICON_NAMES,
  trayIcon,
  trayView,
  type TrayMenuItem,
} from '../../main/electron/tray-state.ts'
import { StatusModel, type SyncState, type SyncStatus } from '../../main/sync/sync-status.ts'

const FOLDERS = [
  { id: 'folder-1', path: '/home/me/Photos', accountId: 'kala-a', accountLabel: 'Kala at a' },
  { id: 'folder-2', path: '/home/me/Documents', accountId: 'kala-a', accountLabel: 'Kala at a' },
]

/** A status as the real model reports it, with the folders in the given states. */
function statusWith(
  states: readonly SyncState[],
  extra: (model: StatusModel) => void = () => undefined,
): SyncStatus {
  const model = new StatusModel(() => 1_000_000)
  model.setFolders(FOLDERS.slice(0, states.length))
  states.forEach((state, i) => model.setFolderState(FOLDERS[i]?.id as string, state))
  extra(model)
  const status = model.snapshot()
  model.dispose()
  return status
}

const running = { paused: false }
const labels = (menu: readonly TrayMenuItem[]): string[] =>
  menu.map((item) => (item.type === 'separator' ? '---' : item.label))

describe('tray state', () => {
  it('maps every state to a distinct, legible icon', () => {
    const cases: [SyncStatus, string][] = [
      [statusWith(['idle', 'idle']), 'idle'],
      [
        statusWith(['syncing', 'idle'], (m) =>
          m.setQueue('folder-1', { filesRemaining: 12, bytesRemaining: 1e6 }),
        ),
        'syncing',
      ],
      [statusWith(['scanning']), 'syncing'],
      [statusWith(['paused', 'paused']), 'paused'],
      [statusWith(['offline', 'idle']), 'offline'],
      [statusWith(['error', 'syncing']), 'error'],
      [statusWith(['needs-sign-in', 'offline']), 'needs-sign-in'],
    ]
    for (const [status, icon] of cases) expect(trayIcon(status, running)).toBe(icon)
    const shown = new Set(cases.map(([status]) => trayIcon(status, running)))
    expect([...shown].sort()).toEqual([...TRAY_ICON_NAMES].sort())
  })

  it('never claims "up to date" when it is not', () => {
    const failed = statusWith(['idle'], (m) =>
      m.setFailed('folder-1', [
        { folderId: 'folder-1', relPath: 'a.txt', reason: 'Too large', attempts: 3 },
      ]),
    )
    expect(failed.state).toBe('idle')
    expect(trayIcon(failed, running)).toBe('error')
    expect(trayView(failed, running).tooltip).toBe(`Ferry — ${failed.message}`)
    expect(failed.message).toContain('could not be uploaded')

    const none = statusWith([])
    expect(trayIcon(none, running)).toBe('paused')
    expect(trayIcon(statusWith(['idle']), { paused: true })).toBe('paused')
  })

  it('builds the menu from the status: status line, open, pause, folders, quit', () => {
    const status = statusWith(['syncing', 'paused'], (m) =>
      m.setQueue('folder-1', { filesRemaining: 3, bytesRemaining: 3000 }),
    )
    const view = trayView(status, running)
    expect(labels(view.menu)).toEqual([
      'Uploading 3 files',
      '---',
      'Open Ferry',
      'Pause all',
      'Open a synced folder',
      '---',
      'Quit Ferry',
    ])
    expect(view.menu[0]).toEqual({ type: 'normal', label: 'Uploading 3 files', enabled: false })
    expect(view.menu[2]).toMatchObject({ enabled: true, command: { kind: 'open-window' } })
    expect(view.menu[3]).toMatchObject({
      enabled: true,
      command: { kind: 'pause-all', paused: true },
    })
    expect(view.menu[6]).toMatchObject({ enabled: true, command: { kind: 'quit' } })
    const folders = view.menu[4]
    expect(folders).toMatchObject({ type: 'submenu', enabled: true })
    expect(folders?.type === 'submenu' && folders.submenu).toEqual([
      {
        type: 'normal',
        label: 'Photos',
        enabled: true,
        command: { kind: 'open-folder', folderId: 'folder-1' },
      },
      {
        type: 'normal',
        label: 'Documents (paused)',
        enabled: true,
        command: { kind: 'open-folder', folderId: 'folder-2' },
      },
    ])
  })

  it('offers "Resume all" when everything is paused', () => {
    const view = trayView(statusWith(['paused', 'paused']), { paused: true })
    expect(view.menu[0]).toMatchObject({ label: 'Paused', enabled: false })
    expect(view.menu[3]).toMatchObject({
      label: 'Resume all',
      enabled: true,
      command: { kind: 'pause-all', paused: false },
    })
  })

  it('disables what needs folders when there are none', () => {
    const view = trayView(statusWith([]), running)
    expect(view.menu[0]).toMatchObject({ label: 'No folders chosen yet', enabled: false })
    expect(view.menu[3]).toMatchObject({ label: 'Pause all', enabled: false })
    expect(view.menu[4]).toMatchObject({ type: 'submenu', enabled: false, submenu: [] })
  })

  it('tells folders of the same name apart by their path, and says which need a sign-in', () => {
    const model = new StatusModel(() => 0)
    model.setFolders([
      { id: 'f1', path: '/home/me/Documents', accountId: 'a', accountLabel: 'Kala at a' },
      { id: 'f2', path: '/mnt/usb/Documents', accountId: 'b', accountLabel: 'dStor at b' },
    ])
    model.setFolderState('f2', 'needs-sign-in')
    const status = model.snapshot()
    model.dispose()
    const view = trayView(status, running)
    expect(view.icon).toBe('needs-sign-in')
    expect(view.menu[0]).toMatchObject({ label: 'Sign in again to dStor at b' })
    const folders = view.menu[4]
    expect(folders?.type === 'submenu' && labels(folders.submenu)).toEqual([
      '/home/me/Documents',
      '/mnt/usb/Documents (sign in again)',
    ])
  })
})
