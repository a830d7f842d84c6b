import { readFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { autostartFile, launchedAtLogin, setLaunchAtLogin } from '../../main/electron/login-item.ts'
import { tempDir } from '../helpers/tree.ts'
import { app, resetFakeElectron } from './fake-electron.ts'

vi.mock('electron', async () => (await import('./fake-electron.ts')).fakeElectronModule())

describe('launch at login (electron mocked)', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  beforeEach(async () => {
    resetFakeElectron()
    dir = await tempDir()
  })
  afterEach(async () => {
    await dir.dispose()
  })

  it('macOS and Windows: Electron login items, launched hidden', () => {
    setLaunchAtLogin(true, { platform: 'darwin' })
    setLaunchAtLogin(false, { platform: 'win32' })
    expect(app.loginItems).toEqual([
      { openAtLogin: true, args: ['--hidden'] },
      { openAtLogin: false, args: ['--hidden'] },
    ])
  })

  it('Linux: an XDG autostart entry of its own, written and removed', async () => {
    const env = { XDG_CONFIG_HOME: dir.path }
    const file = autostartFile(env)
    expect(file).toBe(join(dir.path, 'autostart', 'ferry.desktop'))
    setLaunchAtLogin(true, { platform: 'linux', env, exec: '/opt/My Apps/Ferry 100%.AppImage' })
    const entry = await readFile(file, 'utf8')
    expect(entry).toContain('[Desktop Entry]\nType=Application\nName=Ferry\n')
    expect(entry).toContain('Exec="/opt/My Apps/Ferry 100%%.AppImage" --hidden\n')
    expect(app.loginItems).toEqual([])

    setLaunchAtLogin(false, { platform: 'linux', env })
    expect(existsSync(file)).toBe(false)
    // Turning it off twice is fine.
    setLaunchAtLogin(false, { platform: 'linux', env })
  })

  it('prefers the AppImage over the executable inside it', async () => {
    const env = { XDG_CONFIG_HOME: dir.path, APPIMAGE: '/home/me/Ferry.AppImage' }
    setLaunchAtLogin(true, { platform: 'linux', env })
    expect(await readFile(autostartFile(env), 'utf8')).toContain(
      'Exec="/home/me/Ferry.AppImage" --hidden',
    )
  })

  it('knows a login launch', () => {
    expect(launchedAtLogin(['/opt/Ferry/ferry', '--hidden'], 'linux')).toBe(true)
    expect(launchedAtLogin(['/opt/Ferry/ferry'], 'linux')).toBe(false)
    expect(launchedAtLogin(['/Applications/Ferry.app'], 'darwin')).toBe(false)
  })
})
