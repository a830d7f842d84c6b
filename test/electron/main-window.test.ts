import { beforeEach, describe, expect, it, vi } from 'vitest'
import {
  closeAction,
  createMainWindow,
  hardenSession,
  showWindow,
  type CloseAction,
} from '../../main/electron/main-window.ts'
import { rendererLocation } from '../../main/electron/renderer-location.ts'
import { installAppMenu } from '../../main/electron/app-menu.ts'
import {
  appMenus,
  FakeBrowserWindow,
  FakeEvent,
  FakeSession,
  resetFakeElectron,
  type MenuTemplateItem,
} from './fake-electron.ts'

vi.mock('electron', async () => (await import('./fake-electron.ts')).fakeElectronModule())

const RENDERER_DIR = '/opt/Ferry/resources/app.asar/out/renderer'
const PAGE = `file://${RENDERER_DIR}/index.html`
const production = rendererLocation({ rendererDir: RENDERER_DIR, isPackaged: true })

describe('the main window (electron mocked)', () => {
  let action: CloseAction
  const open = (): FakeBrowserWindow => {
    createMainWindow({
      preload: '/opt/Ferry/resources/app.asar/out/preload/index.cjs',
      renderer: production,
      devTools: false,
      onClose: () => action,
    })
    const window = FakeBrowserWindow.instances.at(-1)
    if (!window) throw new Error('no window made')
    return window
  }

  beforeEach(() => {
    resetFakeElectron()
    action = 'hide'
  })

  it('gives the page no privileges: sandboxed, isolated, no Node, web security on', () => {
    const window = open()
    expect(window.options['show']).toBe(false)
    expect(window.options['webPreferences']).toMatchObject({
      preload: '/opt/Ferry/resources/app.asar/out/preload/index.cjs',
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      experimentalFeatures: false,
      disableBlinkFeatures: 'Auxclick',
      devTools: false,
    })
    expect(window.loaded).toEqual([PAGE])
  })

  it('blocks navigation away from the app page, redirects and webviews', () => {
    const contents = open().webContents
    const navigate = (url: string): boolean => {
      const event = new FakeEvent(url)
      contents.emit('will-navigate', event)
      return event.defaultPrevented
    }
    expect(navigate('https://evil.example/')).toBe(true)
    expect(navigate('file:///etc/passwd')).toBe(true)
    expect(navigate(`file://${RENDERER_DIR}/other.html`)).toBe(true)
    expect(navigate(PAGE)).toBe(false)
    expect(navigate(`${PAGE}#/settings`)).toBe(false)

    const redirect = new FakeEvent('https://evil.example/')
    contents.emit('will-redirect', redirect)
    expect(redirect.defaultPrevented).toBe(true)
    const webview = new FakeEvent()
    contents.emit('will-attach-webview', webview)
    expect(webview.defaultPrevented).toBe(true)
  })

  it('denies window.open and target=_blank links', () => {
    const handler = open().webContents.windowOpenHandler
    expect(handler?.({ url: 'https://example.com/' })).toEqual({ action: 'deny' })
    expect(handler?.({ url: PAGE })).toEqual({ action: 'deny' })
  })

  it('closing hides, minimizes or closes as the close action says', () => {
    const window = open()
    window.show()
    window.close()
    expect(window.visible).toBe(false)
    expect(window.isDestroyed()).toBe(false)

    showWindow(window as never)
    action = 'minimize'
    window.close()
    expect(window.minimized).toBe(true)
    expect(window.isDestroyed()).toBe(false)
    showWindow(window as never)
    expect(window).toMatchObject({ minimized: false, visible: true, focused: true })

    action = 'close'
    window.close()
    expect(window.isDestroyed()).toBe(true)
  })

  it('close action: hide to the tray, stay reachable without one, close when quitting', () => {
    const act = (quitting: boolean, trayAvailable: boolean, platform: NodeJS.Platform) =>
      closeAction({ quitting, trayAvailable, platform })
    expect(act(true, true, 'linux')).toBe('close')
    expect(act(true, false, 'darwin')).toBe('close')
    expect(act(false, true, 'linux')).toBe('hide')
    expect(act(false, true, 'win32')).toBe('hide')
    expect(act(false, false, 'darwin')).toBe('hide')
    expect(act(false, false, 'linux')).toBe('minimize')
    expect(act(false, false, 'win32')).toBe('minimize')
  })
})

describe('the session (electron mocked)', () => {
  it('denies every permission request and check', () => {
    const session = new FakeSession()
    hardenSession(session as never, production)
    for (const permission of [
      'media',
      'geolocation',
      'notifications',
      'openExternal',
      'clipboard-read',
    ]) {
      let granted: boolean | undefined
      session.permissionRequest?.({}, permission, (g) => (granted = g))
      expect(granted, permission).toBe(false)
      expect(session.permissionCheck?.({}, permission), permission).toBe(false)
    }
  })

  it('sends the CSP with every response, replacing any other', () => {
    const session = new FakeSession()
    hardenSession(session as never, production)
    let headers: Record<string, string[]> | undefined
    session.webRequest.headersReceived?.(
      {
        responseHeaders: {
          'content-security-policy': ["default-src *; script-src 'unsafe-eval'"],
          'Content-Type': ['text/html'],
        },
      },
      (response) => (headers = response.responseHeaders),
    )
    expect(headers).toEqual({
      'Content-Type': ['text/html'],
      'Content-Security-Policy': [production.csp],
    })
    expect(production.csp).toContain("script-src 'self'")
    expect(production.csp).toContain("connect-src 'none'")
    expect(production.csp).toContain("object-src 'none'")
  })

  it('lets no request leave for the network (the dev server only, in development)', () => {
    const cancelled = (location: typeof production, url: string): boolean | undefined => {
      const session = new FakeSession()
      hardenSession(session as never, location)
      let cancel: boolean | undefined
      session.webRequest.beforeRequest?.listener({ url }, (r) => (cancel = r.cancel))
      return cancel
    }
    expect(cancelled(production, 'https://example.com/pixel.gif')).toBe(true)
    expect(cancelled(production, 'http://127.0.0.1:3179/')).toBe(true)
    expect(cancelled(production, 'wss://example.com/')).toBe(true)
    const dev = rendererLocation({
      rendererDir: RENDERER_DIR,
      devUrl: 'http://localhost:5173/',
      isPackaged: false,
    })
    expect(cancelled(dev, 'http://localhost:5173/src/main.tsx')).toBe(false)
    expect(cancelled(dev, 'ws://localhost:5173/')).toBe(false)
    expect(cancelled(dev, 'https://cdn.example.com/lib.js')).toBe(true)
  })
})

describe('the application menu (electron mocked)', () => {
  const items = (): MenuTemplateItem[] => [...(appMenus.at(-1)?.template ?? [])]

  it('Linux and Windows: Ctrl+Q quits (the way out when no tray exists); no dev tools', () => {
    resetFakeElectron()
    installAppMenu({ platform: 'linux', development: false })
    const [ferry, edit, ...rest] = items()
    expect(ferry?.submenu?.map((i) => i.role ?? i.type)).toEqual(['close', 'separator', 'quit'])
    expect(ferry?.submenu?.[2]).toMatchObject({ role: 'quit', accelerator: 'CmdOrCtrl+Q' })
    expect(edit?.role).toBe('editMenu')
    expect(rest).toEqual([])
  })

  it('development builds add reload and the developer tools; macOS uses its standard menus', () => {
    resetFakeElectron()
    installAppMenu({ platform: 'darwin', development: true })
    expect(items().map((i) => i.role ?? i.label)).toEqual([
      'appMenu',
      'editMenu',
      'windowMenu',
      'Develop',
    ])
  })
})
