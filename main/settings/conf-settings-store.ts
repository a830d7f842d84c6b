import Conf from 'conf'
import {
  DEFAULT_SETTINGS,
  SETTINGS_MIGRATIONS,
  SETTINGS_SCHEMA,
  SETTINGS_VERSION,
  type Settings,
} from './settings-schema.ts'
import type { SettingsStore } from './settings-store.ts'

const KEYS = Object.keys(DEFAULT_SETTINGS) as (keyof Settings)[]

/**
 * Settings in `<state>/config.json` through conf — the same file, name and format that
 * electron-store (built on conf) uses in the app's userData folder.
 */
export class ConfSettingsStore implements SettingsStore {
  readonly #conf: Conf<Settings>

  /** `watch`: also report changes other processes make (`ferry folder pause` during a sync). */
  constructor(stateDir: string, options: { watch?: boolean } = {}) {
    this.#conf = new Conf<Settings>({
      cwd: stateDir,
      configName: 'config',
      projectName: 'Ferry',
      projectVersion: SETTINGS_VERSION,
      schema: SETTINGS_SCHEMA as never,
      migrations: SETTINGS_MIGRATIONS as never,
      clearInvalidConfig: false,
      watch: options.watch ?? false,
    })
  }

  /** Where the file is (for messages). */
  get path(): string {
    return this.#conf.path
  }

  read(): Settings {
    const out: Record<string, unknown> = {}
    for (const key of KEYS) out[key] = this.#conf.get(key)
    return out as unknown as Settings
  }

  update(change: (current: Settings) => Settings): Settings {
    const next = change(this.read())
    this.#conf.set(next as unknown as Record<string, unknown>)
    return this.read()
  }

  /** Stops watching the file (a watching store keeps the process alive otherwise). */
  close(): void {
    this.#conf._closeWatcher()
  }

  onDidChange(listener: (settings: Settings) => void): () => void {
    return this.#conf.onDidAnyChange(() => listener(this.read()))
  }
}
