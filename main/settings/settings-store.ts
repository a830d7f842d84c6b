import type { Settings } from './settings-schema.ts'

/**
 * Where settings live: conf headless, electron-store in the app — one file, one schema.
 * Secrets never go here (the keychain holds them).
 */
export interface SettingsStore {
  read(): Settings
  /** Applies `change` to the current settings and writes the result (validated) at once. */
  update(change: (current: Settings) => Settings): Settings
  /** Called after every change, from this process or another; returns an unsubscribe. */
  onDidChange(listener: (settings: Settings) => void): () => void
}
