import Conf, { type Options } from 'conf'
import { SETTINGS_FILE_NAME, settingsFileOptions } from './settings-file.ts'
import { DEFAULT_SETTINGS, type Settings } from './settings-schema.ts'
import type { SettingsStore } from './settings-store.ts'

const KEYS = Object.keys(DEFAULT_SETTINGS) as (keyof Settings)[]

/** Opens the settings file with the shared options (conf here, electron-store in the app). */
export type OpenSettingsFile = (options: Options<Settings>) => Conf<Settings>

const openWithConf: OpenSettingsFile = (options) =>
  new Conf<Settings>({ ...options, configName: SETTINGS_FILE_NAME, projectName: 'Ferry' })

/**
 * Settings in `<state>/config.json` through conf — the same file, name and format that
 * electron-store (built on conf) uses in the app's userData folder.
 */
export class ConfSettingsStore implements SettingsStore {
  readonly #conf: Conf<Settings>

  /**
   * `watch`: also report changes other processes make (`ferry folder pause` during a sync).
   * `open`: how the file is opened (the app passes electron-store; the options stay shared).
   */
  constructor(
    stateDir: string,
    options: { watch?: boolean } = {},
    open: OpenSettingsFile = openWithConf,
  ) {
    this.#conf = open(settingsFileOptions(stateDir, options))
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
