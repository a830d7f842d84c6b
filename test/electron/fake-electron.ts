/**
 * A small fake of the Electron APIs the shell uses, for `vi.mock('electron', …)`: no Electron
 * binary exists here. Each fake records what the code under test did with it and lets a test
 * play the part of Electron (emit `before-quit`, a navigation, a permission request).
 */
import { EventEmitter } from 'node:events'
import { existsSync } from 'node:fs'

/** The event object Electron passes to cancellable events. */
export class FakeEvent {
  defaultPrevented = false
  readonly url: string
  constructor(url = '') {
    this.url = url
  }
  preventDefault(): void {
    this.defaultPrevented = true
  }
}

class FakeApp extends EventEmitter {
  isPackaged = false
  singleInstance = true
  ready = true
  readonly exits: number[] = []
  readonly loginItems: unknown[] = []
  readonly paths = new Map<string, string>()

  async whenReady(): Promise<void> {
    this.ready = true
  }
  getAppPath(): string {
    return process.cwd()
  }
  setAppUserModelId(_id: string): void {}
  requestSingleInstanceLock(): boolean {
    return this.singleInstance
  }
  /** Like Electron: emits a cancellable `before-quit`; says whether it went ahead. */
  quit(): boolean {
    const event = new FakeEvent()
    this.emit('before-quit', event)
    return !event.defaultPrevented
  }
  exit(code = 0): void {
    this.exits.push(code)
  }
  isReady(): boolean {
    return this.ready
  }
  getVersion(): string {
    return '0.1.0-test'
  }
  getPath(name: string): string {
    return this.paths.get(name) ?? `/fake/${name}`
  }
  setPath(name: string, path: string): void {
    this.paths.set(name, path)
  }
  setLoginItemSettings(settings: unknown): void {
    this.loginItems.push(settings)
  }
  getLoginItemSettings(): { openAtLogin: boolean; wasOpenedAtLogin: boolean } {
    return { openAtLogin: false, wasOpenedAtLogin: false }
  }
}

type WindowOpenHandler = (details: { url: string }) => { action: 'allow' | 'deny' }

export class FakeWebRequest {
  headersReceived?: (
    details: { responseHeaders?: Record<string, string[]> },
    callback: (response: { responseHeaders?: Record<string, string[]> }) => void,
  ) => void
  beforeRequest?: {
    filter: { urls: string[] }
    listener: (details: { url: string }, callback: (response: { cancel?: boolean }) => void) => void
  }
  onHeadersReceived(listener: NonNullable<FakeWebRequest['headersReceived']>): void {
    this.headersReceived = listener
  }
  onBeforeRequest(
    filter: { urls: string[] },
    listener: NonNullable<FakeWebRequest['beforeRequest']>['listener'],
  ): void {
    this.beforeRequest = { filter, listener }
  }
}

export class FakeSession {
  permissionRequest?: (
    contents: unknown,
    permission: string,
    callback: (granted: boolean) => void,
  ) => void
  permissionCheck?: (contents: unknown, permission: string) => boolean
  readonly webRequest = new FakeWebRequest()
  setPermissionRequestHandler(handler: NonNullable<FakeSession['permissionRequest']>): void {
    this.permissionRequest = handler
  }
  setPermissionCheckHandler(handler: NonNullable<FakeSession['permissionCheck']>): void {
    this.permissionCheck = handler
  }
}

export class FakeWebContents extends EventEmitter {
  windowOpenHandler?: WindowOpenHandler
  readonly sent: { channel: string; payload: unknown }[] = []
  setWindowOpenHandler(handler: WindowOpenHandler): void {
    this.windowOpenHandler = handler
  }
  send(channel: string, payload: unknown): void {
    this.sent.push({ channel, payload })
  }
}

export class FakeBrowserWindow extends EventEmitter {
  static readonly instances: FakeBrowserWindow[] = []
  readonly options: Record<string, unknown>
  readonly webContents = new FakeWebContents()
  readonly loaded: string[] = []
  visible = false
  minimized = false
  focused = false
  destroyed = false

  constructor(options: Record<string, unknown>) {
    super()
    this.options = options
    FakeBrowserWindow.instances.push(this)
  }
  async loadURL(url: string): Promise<void> {
    this.loaded.push(url)
  }
  /** Like Electron: emits a cancellable `close`; closes unless prevented. */
  close(): void {
    const event = new FakeEvent()
    this.emit('close', event)
    if (!event.defaultPrevented) {
      this.visible = false
      this.destroyed = true
    }
  }
  hide(): void {
    this.visible = false
  }
  show(): void {
    this.visible = true
  }
  minimize(): void {
    this.minimized = true
  }
  restore(): void {
    this.minimized = false
  }
  isMinimized(): boolean {
    return this.minimized
  }
  focus(): void {
    this.focused = true
  }
  isDestroyed(): boolean {
    return this.destroyed
  }
}

/** What Menu.buildFromTemplate returns here: the template itself, to inspect. */
export interface FakeMenu {
  readonly template: readonly MenuTemplateItem[]
}

export interface MenuTemplateItem {
  readonly label?: string
  readonly type?: string
  readonly role?: string
  readonly accelerator?: string
  readonly enabled?: boolean
  readonly click?: () => void
  readonly submenu?: readonly MenuTemplateItem[]
}

export class FakeTray extends EventEmitter {
  static readonly instances: FakeTray[] = []
  image: FakeImage
  tooltip = ''
  menu: FakeMenu | undefined
  readonly images: FakeImage[] = []
  menusSet = 0
  destroyed = false

  constructor(image: FakeImage) {
    super()
    this.image = image
    this.images.push(image)
    FakeTray.instances.push(this)
  }
  setImage(image: FakeImage): void {
    this.image = image
    this.images.push(image)
  }
  setToolTip(tooltip: string): void {
    this.tooltip = tooltip
  }
  setContextMenu(menu: FakeMenu): void {
    this.menu = menu
    this.menusSet++
  }
  destroy(): void {
    this.destroyed = true
  }
}

export interface FakeImage {
  readonly path: string
  isEmpty(): boolean
}

export class FakeNotification extends EventEmitter {
  static readonly shown: { title: string; body: string }[] = []
  readonly options: { title: string; body: string }
  constructor(options: { title: string; body: string }) {
    super()
    this.options = options
  }
  static isSupported(): boolean {
    return true
  }
  show(): void {
    FakeNotification.shown.push(this.options)
  }
}

type InvokeListener = (
  event: { senderFrame: { url: string } | null },
  ...args: unknown[]
) => Promise<unknown>

class FakeIpcMain extends EventEmitter {
  readonly handlers = new Map<string, InvokeListener>()
  handle(channel: string, listener: InvokeListener): void {
    this.handlers.set(channel, listener)
  }
  removeHandler(channel: string): void {
    this.handlers.delete(channel)
  }
  /** Plays a renderer frame at `url` calling `channel`. */
  invoke(url: string, channel: string, ...args: unknown[]): Promise<unknown> {
    const listener = this.handlers.get(channel)
    if (!listener) throw new Error(`no handler for ${channel}`)
    return listener({ senderFrame: { url } }, ...args)
  }
}

export const app = new FakeApp()
export const ipcMain = new FakeIpcMain()
export const errorBoxes: { title: string; content: string }[] = []
export const defaultSession = new FakeSession()
export const appMenus: FakeMenu[] = []

/** The module `vi.mock('electron', …)` returns. */
export function fakeElectronModule(): Record<string, unknown> {
  const module = {
    app,
    BrowserWindow: FakeBrowserWindow,
    Tray: FakeTray,
    Notification: FakeNotification,
    Menu: {
      buildFromTemplate: (template: MenuTemplateItem[]): FakeMenu => ({ template }),
      setApplicationMenu: (menu: FakeMenu) => void appMenus.push(menu),
    },
    nativeImage: {
      createFromPath: (path: string): FakeImage => ({ path, isEmpty: () => !existsSync(path) }),
    },
    session: { defaultSession },
    ipcMain,
    dialog: {
      showOpenDialog: async () => ({ canceled: true, filePaths: [] }),
      showErrorBox: (title: string, content: string) => void errorBoxes.push({ title, content }),
    },
    shell: { openPath: async () => '' },
  }
  return { ...module, default: module }
}

/** Clears what the fakes recorded (between tests). */
export function resetFakeElectron(): void {
  app.removeAllListeners()
  app.isPackaged = false
  app.singleInstance = true
  app.ready = true
  app.exits.length = 0
  app.loginItems.length = 0
  FakeBrowserWindow.instances.length = 0
  FakeTray.instances.length = 0
  FakeNotification.shown.length = 0
  appMenus.length = 0
  errorBoxes.length = 0
  ipcMain.handlers.clear()
  ipcMain.removeAllListeners()
}
