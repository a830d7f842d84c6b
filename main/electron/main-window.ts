import { BrowserWindow, type Session, type WebContents } from 'electron'
import type { RendererLocation } from './renderer-location.ts'

/** What closing the window does: really close, hide to the tray, or minimize. */
export type CloseAction = 'close' | 'hide' | 'minimize'

/**
 * Closing the window must not stop syncing, and the window must stay reachable:
 * - quitting: close for real;
 * - a tray exists: hide (the tray icon brings it back);
 * - macOS without a tray: hide (the Dock icon brings it back, `activate`);
 * - Linux/Windows without a tray: minimize, so it stays in the taskbar — hiding would leave
 *   no way back, and quitting would silently stop syncing. Quit is in the window's menu
 *   (Ctrl+Q).
 */
export function closeAction(state: {
  readonly quitting: boolean
  readonly trayAvailable: boolean
  readonly platform: NodeJS.Platform
}): CloseAction {
  if (state.quitting) return 'close'
  if (state.trayAvailable || state.platform === 'darwin') return 'hide'
  return 'minimize'
}

export interface MainWindowOptions {
  /** The built preload (`out/preload/index.cjs`: sandboxed preloads must be CommonJS). */
  readonly preload: string
  readonly renderer: RendererLocation
  /** The window icon (Linux and Windows). */
  readonly icon?: string
  readonly devTools: boolean
  /** Asked on every close: see {@link closeAction}. */
  readonly onClose: () => CloseAction
  readonly log?: (line: string) => void
}

/** Creates the app's window (hidden until its page is ready) and loads the renderer. */
export function createMainWindow(options: MainWindowOptions): BrowserWindow {
  const window = new BrowserWindow({
    width: 960,
    height: 680,
    minWidth: 640,
    minHeight: 480,
    show: false,
    title: 'Ferry',
    autoHideMenuBar: true,
    ...(options.icon ? { icon: options.icon } : {}),
    // The renderer's privileges: none beyond the allow-listed bridge the preload exposes.
    // Written out here (not built elsewhere) so electronegativity can check them.
    webPreferences: {
      preload: options.preload, // eng-disable PRELOAD_JS_CHECK (reviewed: exposes an allow-listed API only)
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      webviewTag: false,
      navigateOnDragDrop: false,
      safeDialogs: true,
      spellcheck: false,
      // Middle-click would open links through a path window.open's handler does not see.
      disableBlinkFeatures: 'Auxclick',
      devTools: options.devTools,
    },
  })
  guardWebContents(window.webContents, options.renderer, options.log)
  window.on('close', (event) => {
    const action = options.onClose()
    if (action === 'close') return
    event.preventDefault()
    if (action === 'hide') window.hide()
    else window.minimize()
  })
  window.webContents.on('render-process-gone', (_event, details) => {
    options.log?.(`[window] renderer gone: ${details.reason}`)
  })
  void window.loadURL(options.renderer.url).catch((error: unknown) => {
    options.log?.(`[window] could not load the renderer: ${String(error)}`)
  })
  return window
}

/** Brings the window to the front, whatever state it is in. */
export function showWindow(window: BrowserWindow): void {
  if (window.isMinimized()) window.restore()
  window.show()
  window.focus()
}

/**
 * The page can go nowhere else: navigation away from the app's page is cancelled,
 * `window.open` and target=_blank are denied, and no <webview> can be attached.
 */
export function guardWebContents(
  contents: WebContents,
  renderer: RendererLocation,
  log?: (line: string) => void,
): void {
  contents.on('will-navigate', (event) => {
    if (sameDocument(event.url, renderer.url)) return
    event.preventDefault()
    log?.('[window] blocked a navigation away from the app')
  })
  contents.on('will-redirect', (event) => {
    if (sameDocument(event.url, renderer.url)) return
    event.preventDefault()
  })
  contents.on('will-attach-webview', (event) => event.preventDefault())
  contents.setWindowOpenHandler(() => {
    log?.('[window] blocked a new window')
    return { action: 'deny' }
  })
}

/**
 * Session-wide rules: every permission request and check is refused (Ferry's page needs none),
 * every response carries the CSP, and no request leaves for the network (only the dev server
 * in development). The page's meta tag carries the same CSP for file:// loads, which have no
 * response headers to rewrite.
 */
export function hardenSession(session: Session, renderer: RendererLocation): void {
  session.setPermissionRequestHandler((_contents, _permission, callback) => callback(false))
  session.setPermissionCheckHandler(() => false)
  session.webRequest.onHeadersReceived((details, callback) => {
    const headers = { ...details.responseHeaders }
    for (const name of Object.keys(headers)) {
      if (name.toLowerCase() === 'content-security-policy') delete headers[name]
    }
    callback({ responseHeaders: { ...headers, 'Content-Security-Policy': [renderer.csp] } })
  })
  session.webRequest.onBeforeRequest(
    { urls: ['http://*/*', 'https://*/*', 'ws://*/*', 'wss://*/*'] },
    (details, callback) => callback({ cancel: !renderer.mayRequest(details.url) }),
  )
}

function sameDocument(target: string, page: string): boolean {
  try {
    const a = new URL(target)
    const b = new URL(page)
    a.hash = ''
    b.hash = ''
    return a.href === b.href
  } catch {
    return false
  }
}
