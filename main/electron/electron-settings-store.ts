import ElectronStore from 'electron-store'
import { ConfSettingsStore } from '../settings/conf-settings-store.ts'
import { SETTINGS_FILE_NAME } from '../settings/settings-file.ts'
import type { Settings } from '../settings/settings-schema.ts'

/**
 * The app's settings: electron-store over the very file the CLI uses (`<state>/config.json`,
 * same schema, migrations and version — the options come from one place), watched so that a
 * change from the CLI (`ferry folder pause`) reaches the app while it runs.
 */
export class ElectronSettingsStore extends ConfSettingsStore {
  constructor(stateDir: string) {
    super(
      stateDir,
      { watch: true },
      (options) => new ElectronStore<Settings>({ ...options, name: SETTINGS_FILE_NAME }),
    )
  }
}
