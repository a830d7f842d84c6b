import { homedir } from 'node:os'
import { join } from 'node:path'

export const APP_NAME = 'Ferry'

/**
 * The state folder (index, settings): env FERRY_HOME, else the folder Electron's
 * `app.getPath('userData')` gives, so the CLI and the app share one state.
 */
export function stateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env['FERRY_HOME']) return env['FERRY_HOME']
  const home = homedir()
  if (process.platform === 'darwin') return join(home, 'Library', 'Application Support', APP_NAME)
  if (process.platform === 'win32') {
    return join(env['APPDATA'] ?? join(home, 'AppData', 'Roaming'), APP_NAME)
  }
  return join(env['XDG_CONFIG_HOME'] ?? join(home, '.config'), APP_NAME)
}
