import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { EngineLock } from '../../main/sync/engine-lock.ts'
import { tempDir } from '../helpers/tree.ts'
import {
  app,
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
 * main/index.ts as a packaged app on a Linux desktop without a tray (stock GNOME): no sandbox
 * offer, no dev server, and a window that stays reachable because nothing else would be.
 */
describe('the composition root, packaged, without a tray (electron mocked)', () => {
  let work: Awaited<ReturnType<typeof tempDir>>
  let stateDir: string
  const ENV = ['FERRY_HOME', 'XDG_CONFIG_HOME', 'FERRY_TRAY', 'ELECTRON_RENDERER_URL'] as const
  const saved = ENV.map((name) => [name, process.env[name]] as const)
  const savedResources = (process as { resourcesPath?: string }).resourcesPath

  beforeAll(async () => {
    resetFakeElectron()
    app.isPackaged = true
    work = await tempDir()
    stateDir = join(work.path, 'state')
    ;(process as { resourcesPath?: string }).resourcesPath = join(work.path, 'resources')
    process.env['FERRY_HOME'] = stateDir
    process.env['XDG_CONFIG_HOME'] = join(work.path, 'config')
    process.env['FERRY_TRAY'] = '0'
    // A packaged app must not load a page from wherever this points.
    process.env['ELECTRON_RENDERER_URL'] = 'http://127.0.0.1:5173/'
    vi.spyOn(console, 'log').mockImplementation(() => undefined)
    await import('../../main/index.ts')
  })
  afterAll(async () => {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
    }
    ;(process as { resourcesPath?: string }).resourcesPath = savedResources
    vi.restoreAllMocks()
    await work.dispose()
  })

  const logText = (): Promise<string> =>
    readFile(join(stateDir, 'logs', 'ferry.log'), 'utf8').catch(() => '')

  it('starts without a tray, shows its window, loads only the built page, offers no sandbox', async () => {
    await waitFor(async () => (await logText()).includes('[app] syncing'))
    expect(errorBoxes).toEqual([])
    expect(FakeTray.instances).toHaveLength(0)
    const [window] = FakeBrowserWindow.instances
    const page = pathToFileURL(join(ROOT, 'renderer', 'index.html')).href
    expect(window?.loaded).toEqual([page])
    expect(window?.options['icon']).toBe(join(work.path, 'resources', 'icon.png'))
    window?.emit('ready-to-show')
    expect(window?.visible).toBe(true)
    expect(await ipcMain.invoke(page, 'app:state')).toMatchObject({
      ok: true,
      value: { sandboxAvailable: false },
    })
    expect(await ipcMain.invoke('http://127.0.0.1:5173/', 'app:state')).toMatchObject({
      ok: false,
      error: { kind: 'forbidden' },
    })
  })

  it('closing the window minimizes it: with no tray, hiding would lose the app', () => {
    const [window] = FakeBrowserWindow.instances
    window?.close()
    expect(window?.isDestroyed()).toBe(false)
    expect(window?.visible).toBe(true)
    expect(window?.isMinimized()).toBe(true)
  })

  it('quits cleanly', async () => {
    expect(app.quit()).toBe(false)
    await waitFor(() => app.exits.length > 0)
    expect(app.exits).toEqual([0])
    expect(new EngineLock(stateDir).owner()).toBeUndefined()
  })
})
