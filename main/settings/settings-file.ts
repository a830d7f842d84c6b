import type { Options } from 'conf'
import {
  SETTINGS_MIGRATIONS,
  SETTINGS_SCHEMA,
  SETTINGS_VERSION,
  type Settings,
} from './settings-schema.ts'

/** The settings file's name without `.json`: electron-store's default, so both open one file. */
export const SETTINGS_FILE_NAME = 'config'

/**
 * The options conf and electron-store share, so the CLI and the app read and write
 * `<state>/config.json` with one schema, one set of migrations and one version. Each store adds
 * only how it names the file (conf: `configName`, electron-store: `name`).
 */
export function settingsFileOptions(
  stateDir: string,
  options: { readonly watch?: boolean } = {},
): Options<Settings> {
  return {
    cwd: stateDir,
    projectVersion: SETTINGS_VERSION,
    schema: SETTINGS_SCHEMA as never,
    migrations: SETTINGS_MIGRATIONS as never,
    clearInvalidConfig: false,
    watch: options.watch ?? false,
  }
}
