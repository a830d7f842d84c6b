import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { EngineLock } from '../../main/sync/engine-lock.ts'
import { tempDir } from '../helpers/tree.ts'
import {
  app,
  appMenus,
  defaultSession,
  errorBoxes,
  FakeBrowserWindow,
  FakeTray,
  ipcMain,
  resetFakeElectron,
} from './fake-electron.ts'

vi.mock('electron', async () => (await import('./fake-electron.ts')).fakeElectronModule())

// electron-store, outside Electron: see electron-settings-store.test.ts.
process.env['ELECTRON_OVERRIDE_DIST_PATH'] ??= '/nonexistent-electron-dist'

const ROOT = join(import.meta.dirname, '..', '..')

async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 25))
  }
}

/**
 * main/index.ts itself, run against the Electron fake: the wiring of the real app service,
 * settings, log, IPC, window, tray and quit — everything short of a real Electron.
 */
describe('the composition root (electron mocked)', () => {
  let work: Awaited<ReturnType<typeof tempDir>>
  let stateDir: string
  const ENV = ['FERRY_HOME', 'XDG_CONFIG_HOME', 'FERRY_TRAY', 'ELECTRON_RENDERER_URL'] as const
  const saved = ENV.map((name) => [name, process.env[name]] as const)

  beforeAll(async () => {
    resetFakeElectron()
    work = await tempDir()
    stateDir = join(work.path, 'state')
    process.env['FERRY_HOME'] = stateDir
    process.env['XDG_CONFIG_HOME'] = join(work.path, 'config')
    process.env['FERRY_TRAY'] = '1'
    delete process.env['ELECTRON_RENDERER_URL']
    vi.spyOn(console, 'log').mockImplementation(() => undefined)
    await import('../../main/index.ts')
  })
  afterAll(async () => {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
    }
    vi.restoreAllMocks()
    await work.dispose()
  })

  const logText = (): Promise<string> =>
    readFile(join(stateDir, 'logs', 'ferry.log'), 'utf8').catch(() => '')

  it('starts: state folder, IPC, hardened session, window, tray, engine', async () => {
    await waitFor(async () => (await logText()).includes('[app] syncing'))
    expect(errorBoxes).toEqual([])
    expect(app.getPath('userData')).toBe(stateDir)
    expect(ipcMain.handlers.size).toBe(19)
    expect(defaultSession.permissionRequest).toBeDefined()
    expect(defaultSession.webRequest.headersReceived).toBeDefined()
    expect(appMenus).toHaveLength(1)
    expect(new EngineLock(stateDir).owner()).toBe(process.pid)

    const [window] = FakeBrowserWindow.instances
    expect(FakeBrowserWindow.instances).toHaveLength(1)
    expect(window?.options['webPreferences']).toMatchObject({
      preload: join(ROOT, 'preload', 'index.cjs'),
      sandbox: true,
      contextIsolation: true,
      nodeIntegration: false,
    })
    expect(window?.loaded).toEqual([pathToFileURL(join(ROOT, 'renderer', 'index.html')).href])
    expect(window?.visible).toBe(false)
    window?.emit('ready-to-show')
    expect(window?.visible).toBe(true)

    const [tray] = FakeTray.instances
    expect(tray?.image.path).toMatch(/assets[/\\]tray[/\\]tray-paused\.png$/)
    expect(tray?.menu?.template[0]).toMatchObject({
      label: 'No folders chosen yet',
      enabled: false,
    })
  })

  it('answers the page, refuses strangers, and pushes changes to the window and tray', async () => {
    const [window] = FakeBrowserWindow.instances
    const page = window?.loaded[0] as string
    expect(await ipcMain.invoke(page, 'app:state')).toMatchObject({
      ok: true,
      value: { version: '0.1.0-test', sandboxAvailable: true, paused: false },
    })
    expect(await ipcMain.invoke('https://evil.example/', 'app:state')).toMatchObject({
      ok: false,
      error: { kind: 'forbidden' },
    })
    expect(await ipcMain.invoke(page, 'sync:pause-all', true)).toEqual({
      ok: true,
      value: undefined,
    })
    await waitFor(() =>
      (window?.webContents.sent ?? []).some(
        (m) => m.channel === 'app:changed' && (m.payload as { paused: boolean }).paused,
      ),
    )
    const tray = FakeTray.instances[0]
    await waitFor(() => tray?.menu?.template[3]?.label === 'Resume all', 5000)
  })

  it('a second launch brings the window back; closing hides it to the tray', () => {
    const [window] = FakeBrowserWindow.instances
    window?.close()
    expect(window?.visible).toBe(false)
    expect(window?.isDestroyed()).toBe(false)
    app.emit('second-instance', {}, [], '/')
    expect(window).toMatchObject({ visible: true, focused: true })
  })

  it('quit stops the engine first, then exits, with the log flushed and the lock free', async () => {
    expect(app.quit()).toBe(false)
    await waitFor(() => app.exits.length > 0)
    expect(app.exits).toEqual([0])
    expect(FakeTray.instances[0]?.destroyed).toBe(true)
    expect(new EngineLock(stateDir).owner()).toBeUndefined()
    expect(await logText()).toMatch(/\[app\] stopped in \d+ ms/)
  })
})
