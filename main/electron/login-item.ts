import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { app } from 'electron'

/** The flag a login launch carries: Ferry then starts in the tray, without its window. */
export const HIDDEN_FLAG = '--hidden'

export interface LoginItemContext {
  readonly platform?: NodeJS.Platform
  readonly env?: NodeJS.ProcessEnv
  /** The program to start (default: the AppImage if any, else this executable). */
  readonly exec?: string
}

/**
 * Launch at login. macOS and Windows: Electron's login items. Linux has no such API: an XDG
 * autostart entry (`~/.config/autostart/ferry.desktop`, Ferry's own file) does it.
 */
export function setLaunchAtLogin(enabled: boolean, context: LoginItemContext = {}): void {
  const platform = context.platform ?? process.platform
  const env = context.env ?? process.env
  if (platform !== 'linux') {
    app.setLoginItemSettings({ openAtLogin: enabled, args: [HIDDEN_FLAG] })
    return
  }
  const file = autostartFile(env)
  if (!enabled) {
    rmSync(file, { force: true })
    return
  }
  const exec = context.exec ?? env['APPIMAGE'] ?? process.execPath
  mkdirSync(join(file, '..'), { recursive: true })
  writeFileSync(
    file,
    [
      '[Desktop Entry]',
      'Type=Application',
      'Name=Ferry',
      'Comment=Keeps your folders safely uploaded',
      `Exec=${desktopExecQuote(exec)} ${HIDDEN_FLAG}`,
      'Terminal=false',
      'X-GNOME-Autostart-enabled=true',
      '',
    ].join('\n'),
  )
}

/** True when this launch came from the login item (start in the tray, window hidden). */
export function launchedAtLogin(
  argv: readonly string[] = process.argv,
  platform: NodeJS.Platform = process.platform,
): boolean {
  if (argv.includes(HIDDEN_FLAG)) return true
  return platform === 'darwin' && app.getLoginItemSettings().wasOpenedAtLogin === true
}

/** Where the Linux autostart entry lives. */
export function autostartFile(env: NodeJS.ProcessEnv = process.env): string {
  const config = env['XDG_CONFIG_HOME'] || join(homedir(), '.config')
  return join(config, 'autostart', 'ferry.desktop')
}

// The desktop entry spec's quoting: double quotes, with `"`, `` ` ``, `$` and `\` escaped, and
// `%` doubled (a lone one starts a field code).
function desktopExecQuote(path: string): string {
  return `"${path.replace(/(["`$\\])/g, '\\$1').replaceAll('%', '%%')}"`
}
