import { join } from 'node:path'
import {
  Menu,
  nativeImage,
  Tray,
  type MenuItemConstructorOptions,
  type NativeImage,
} from 'electron'
import type { SyncStatus } from '../sync/sync-status.ts'
import {
  trayView,
  type TrayAppState,
  type TrayCommand,
  type TrayIconName,
  type TrayMenuItem,
  type TrayView,
} from './tray-state.ts'

export interface FerryTrayOptions {
  /** The folder holding `tray/tray-<state>.png` (and `@2x`, `Template` variants). */
  readonly assetsDir: string
  readonly onCommand: (command: TrayCommand) => void
  /** Least time between two rebuilds (default 1 s): the status changes ten times a second. */
  readonly throttleMs?: number
  readonly platform?: NodeJS.Platform
  readonly log?: (line: string) => void
}

/**
 * The tray icon: a view of the status model and nothing more. Each update recomputes the
 * whole view from the status (tray-state.ts); rebuilds are throttled, and only what changed
 * (icon, tooltip, menu) is handed to the system.
 */
export class FerryTray {
  readonly #tray: Tray
  readonly #options: FerryTrayOptions
  readonly #throttleMs: number
  readonly #icons = new Map<TrayIconName, NativeImage>()
  #shown: { icon?: TrayIconName; tooltip?: string; menu?: string } = {}
  #pending: { status: SyncStatus; app: TrayAppState } | undefined
  #cooldown: NodeJS.Timeout | undefined
  #disposed = false

  get #platform(): NodeJS.Platform {
    return this.#options.platform ?? process.platform
  }

  /** Returns undefined when this desktop offers no tray (the window then stays reachable). */
  static create(
    options: FerryTrayOptions,
    status: SyncStatus,
    app: TrayAppState,
  ): FerryTray | undefined {
    try {
      return new FerryTray(options, status, app)
    } catch (error) {
      options.log?.(`[tray] no tray on this desktop: ${String(error)}`)
      return undefined
    }
  }

  private constructor(options: FerryTrayOptions, status: SyncStatus, app: TrayAppState) {
    this.#options = options
    this.#throttleMs = options.throttleMs ?? 1000
    const view = trayView(status, app)
    this.#tray = new Tray(this.#icon(view.icon))
    this.#shown.icon = view.icon
    this.#tray.on('click', () => options.onCommand({ kind: 'open-window' }))
    this.#render(view)
  }

  /** Shows this status; coalesced with others that come within the throttle window. */
  update(status: SyncStatus, app: TrayAppState): void {
    if (this.#disposed) return
    this.#pending = { status, app }
    if (this.#cooldown) return
    this.#flush()
  }

  dispose(): void {
    this.#disposed = true
    clearTimeout(this.#cooldown)
    this.#cooldown = undefined
    this.#tray.destroy()
  }

  readonly #flush = (): void => {
    this.#cooldown = undefined
    const pending = this.#pending
    if (this.#disposed || !pending) return
    this.#pending = undefined
    this.#render(trayView(pending.status, pending.app))
    this.#cooldown = setTimeout(this.#flush, this.#throttleMs)
    this.#cooldown.unref()
  }

  #render(view: TrayView): void {
    if (view.icon !== this.#shown.icon) {
      this.#tray.setImage(this.#icon(view.icon))
      this.#shown.icon = view.icon
    }
    if (view.tooltip !== this.#shown.tooltip) {
      this.#tray.setToolTip(view.tooltip)
      this.#shown.tooltip = view.tooltip
    }
    const menu = JSON.stringify(view.menu)
    if (menu !== this.#shown.menu) {
      this.#tray.setContextMenu(Menu.buildFromTemplate(view.menu.map((item) => this.#item(item))))
      this.#shown.menu = menu
    }
  }

  #item(item: TrayMenuItem): MenuItemConstructorOptions {
    if (item.type === 'separator') return { type: 'separator' }
    const label = this.#label(item.label)
    if (item.type === 'submenu') {
      return {
        label,
        enabled: item.enabled,
        submenu: item.submenu.map((child) => this.#item(child)),
      }
    }
    const command = item.command
    return {
      label,
      enabled: item.enabled,
      ...(command ? { click: () => this.#options.onCommand(command) } : {}),
    }
  }

  // Windows and Linux menus read `&` as a mnemonic marker: a folder named "a & b" must show as is.
  #label(text: string): string {
    return this.#platform === 'darwin' ? text : text.replaceAll('&', '&&')
  }

  #icon(name: TrayIconName): NativeImage {
    let icon = this.#icons.get(name)
    if (!icon) {
      // macOS menu bar icons are template images (drawn in the bar's own colour).
      const file = `tray-${name}${this.#platform === 'darwin' ? 'Template' : ''}.png`
      icon = nativeImage.createFromPath(join(this.#options.assetsDir, 'tray', file))
      if (icon.isEmpty()) this.#options.log?.(`[tray] missing icon ${file}`)
      this.#icons.set(name, icon)
    }
    return icon
  }
}

/**
 * Whether this desktop shows tray icons. Electron cannot tell (on Linux a tray icon with no
 * StatusNotifier host is created fine and never seen), so: FERRY_TRAY=0/1 decides if set;
 * macOS and Windows always have one; on Linux, stock GNOME has none (Ubuntu's and Pop!_OS's
 * GNOME ship the AppIndicator extension), and a session without a display has none.
 */
export function trayAvailable(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
): boolean {
  const forced = env['FERRY_TRAY']?.toLowerCase()
  if (forced === '0' || forced === 'off' || forced === 'false') return false
  if (forced === '1' || forced === 'on' || forced === 'true') return true
  if (platform !== 'linux') return true
  if (!env['DISPLAY'] && !env['WAYLAND_DISPLAY']) return false
  const desktops = (env['XDG_CURRENT_DESKTOP'] ?? '').toLowerCase().split(':')
  const patched = ['ubuntu', 'unity', 'pop', 'budgie']
  return !(desktops.includes('gnome') && !desktops.some((d) => patched.includes(d)))
}
