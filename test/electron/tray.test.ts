import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { FerryTray, trayAvailable } from '../../main/electron/tray.ts'
import { TRAY_ICON_NAMES, type TrayCommand } from '../../main/electron/tray-state.ts'
import { StatusModel, type SyncStatus } from '../../main/sync/sync-status.ts'
import { FakeTray, resetFakeElectron, type MenuTemplateItem } from './fake-electron.ts'

vi.mock('electron', async () => (await import('./fake-electron.ts')).fakeElectronModule())

// The real icons, as the other parts of the app ship them.
const ASSETS = join(import.meta.dirname, '..', '..', 'main', 'electron', 'assets')

function status(
  folders: { id: string; path: string }[],
  change: (m: StatusModel) => void = () => undefined,
): SyncStatus {
  const model = new StatusModel(() => 0)
  model.setFolders(folders.map((f) => ({ ...f, accountId: 'a' })))
  change(model)
  const snapshot = model.snapshot()
  model.dispose()
  return snapshot
}

const PHOTOS = { id: 'folder-1', path: '/home/me/Photos & Scans' }

describe('FerryTray (electron mocked)', () => {
  let commands: TrayCommand[]
  let tray: FerryTray | undefined
  const make = (initial: SyncStatus, platform: NodeJS.Platform = 'linux'): FakeTray => {
    tray = FerryTray.create(
      { assetsDir: ASSETS, onCommand: (c) => void commands.push(c), platform, throttleMs: 1000 },
      initial,
      { paused: false },
    )
    const fake = FakeTray.instances.at(-1)
    if (!fake) throw new Error('no tray made')
    return fake
  }
  const menu = (fake: FakeTray): readonly MenuTemplateItem[] => fake.menu?.template ?? []

  beforeEach(() => {
    resetFakeElectron()
    commands = []
  })
  afterEach(() => {
    tray?.dispose()
    vi.useRealTimers()
  })

  it('every state has its icon file (and the macOS template variant)', () => {
    for (const name of TRAY_ICON_NAMES) {
      expect(existsSync(join(ASSETS, 'tray', `tray-${name}.png`)), name).toBe(true)
      expect(existsSync(join(ASSETS, 'tray', `tray-${name}@2x.png`)), name).toBe(true)
      expect(existsSync(join(ASSETS, 'tray', `tray-${name}Template.png`)), name).toBe(true)
    }
  })

  it('shows the status: icon, tooltip and a native menu whose items run commands', () => {
    const fake = make(status([PHOTOS]))
    expect(fake.image.path).toBe(join(ASSETS, 'tray', 'tray-idle.png'))
    expect(fake.image.isEmpty()).toBe(false)
    expect(fake.tooltip).toBe('Ferry — Everything is stored')
    const items = menu(fake)
    expect(items.map((i) => i.label ?? i.type)).toEqual([
      'Everything is stored',
      'separator',
      'Open Ferry',
      'Pause all',
      'Open a synced folder',
      'separator',
      'Quit Ferry',
    ])
    expect(items[0]?.enabled).toBe(false)
    expect(items[0]?.click).toBeUndefined()
    // Linux menus read `&` as a mnemonic: doubled, it shows as is.
    expect(items[4]?.submenu?.map((i) => i.label)).toEqual(['Photos && Scans'])

    items[2]?.click?.()
    items[3]?.click?.()
    items[4]?.submenu?.[0]?.click?.()
    items[6]?.click?.()
    fake.emit('click')
    expect(commands).toEqual([
      { kind: 'open-window' },
      { kind: 'pause-all', paused: true },
      { kind: 'open-folder', folderId: 'folder-1' },
      { kind: 'quit' },
      { kind: 'open-window' },
    ])
  })

  it('uses template images and plain labels on macOS', () => {
    const fake = make(status([PHOTOS]), 'darwin')
    expect(fake.image.path).toBe(join(ASSETS, 'tray', 'tray-idleTemplate.png'))
    expect(menu(fake)[4]?.submenu?.[0]?.label).toBe('Photos & Scans')
  })

  it('rebuilds from the status, throttled, the latest status winning', () => {
    vi.useFakeTimers()
    const fake = make(status([PHOTOS]))
    expect(fake.menusSet).toBe(1)
    const syncing = (n: number): SyncStatus =>
      status([PHOTOS], (m) => {
        m.setFolderState('folder-1', 'syncing')
        m.setQueue('folder-1', { filesRemaining: n, bytesRemaining: n * 1000 })
      })

    tray?.update(syncing(10), { paused: false })
    // The first change after a quiet spell shows at once…
    expect(fake.image.path).toContain('tray-syncing.png')
    expect(menu(fake)[0]?.label).toBe('Uploading 10 files')
    // …later ones within the throttle window coalesce into one rebuild with the latest.
    for (let n = 9; n >= 5; n--) tray?.update(syncing(n), { paused: false })
    expect(fake.menusSet).toBe(2)
    vi.advanceTimersByTime(1000)
    expect(fake.menusSet).toBe(3)
    expect(menu(fake)[0]?.label).toBe('Uploading 5 files')

    // Nothing changed: nothing is handed to the system again.
    vi.advanceTimersByTime(1000)
    tray?.update(syncing(5), { paused: false })
    expect(fake.menusSet).toBe(3)
    expect(fake.images).toHaveLength(2)

    vi.advanceTimersByTime(1000)
    tray?.update(syncing(5), { paused: true })
    expect(menu(fake)[3]).toMatchObject({ label: 'Resume all' })
  })

  it('each state shows its own icon', () => {
    const fake = make(status([PHOTOS]))
    const shown: string[] = []
    for (const state of ['offline', 'error', 'needs-sign-in', 'paused', 'idle'] as const) {
      vi.useFakeTimers()
      tray?.update(
        status([PHOTOS], (m) => m.setFolderState('folder-1', state)),
        { paused: false },
      )
      vi.advanceTimersByTime(1000)
      shown.push(fake.image.path.split('/').at(-1) as string)
    }
    expect(shown).toEqual([
      'tray-offline.png',
      'tray-error.png',
      'tray-needs-sign-in.png',
      'tray-paused.png',
      'tray-idle.png',
    ])
  })

  it('dispose removes the icon and stops updating', () => {
    const fake = make(status([PHOTOS]))
    tray?.dispose()
    tray?.update(status([]), { paused: false })
    expect(fake.destroyed).toBe(true)
    expect(fake.menusSet).toBe(1)
    tray = undefined
  })
})

describe('trayAvailable', () => {
  const linux = (env: NodeJS.ProcessEnv): boolean => trayAvailable(env, 'linux')

  it('knows macOS and Windows have a tray, and headless Linux none', () => {
    expect(trayAvailable({}, 'darwin')).toBe(true)
    expect(trayAvailable({}, 'win32')).toBe(true)
    expect(linux({})).toBe(false)
  })

  it('treats stock GNOME as trayless, and its patched flavours and other desktops as not', () => {
    expect(linux({ DISPLAY: ':0', XDG_CURRENT_DESKTOP: 'GNOME' })).toBe(false)
    expect(linux({ WAYLAND_DISPLAY: 'wayland-0', XDG_CURRENT_DESKTOP: 'ubuntu:GNOME' })).toBe(true)
    expect(linux({ DISPLAY: ':0', XDG_CURRENT_DESKTOP: 'KDE' })).toBe(true)
    expect(linux({ DISPLAY: ':0', XDG_CURRENT_DESKTOP: 'XFCE' })).toBe(true)
  })

  it('lets FERRY_TRAY decide', () => {
    expect(linux({ DISPLAY: ':0', XDG_CURRENT_DESKTOP: 'GNOME', FERRY_TRAY: '1' })).toBe(true)
    expect(trayAvailable({ FERRY_TRAY: '0' }, 'win32')).toBe(false)
  })
})
