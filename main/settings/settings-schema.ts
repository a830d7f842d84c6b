import type { AccountConfig } from '../backends/account.ts'

/** A storage account: everything but its secret, which lives only in the keychain. */
export type AccountSettings = AccountConfig & { readonly id: string }

/** A local folder kept uploaded to an account. */
export interface FolderSettings {
  readonly id: string
  /** Absolute local path. */
  readonly path: string
  readonly accountId: string
  readonly remotePath: string
  /** Extra exclude patterns, .gitignore syntax (negation allowed). */
  readonly excludes: readonly string[]
  readonly paused: boolean
}

/** Everything Ferry keeps in its settings file (config.json, shared by the CLI and the app). */
export interface Settings {
  readonly accounts: readonly AccountSettings[]
  readonly folders: readonly FolderSettings[]
  /** Everything paused (the tray's "Pause all"). */
  readonly paused: boolean
  /** Upload limit in bytes per second; 0 = unlimited. */
  readonly bandwidthLimit: number
  readonly launchAtLogin: boolean
  readonly notifications: boolean
}

export const DEFAULT_SETTINGS: Settings = {
  accounts: [],
  folders: [],
  paused: false,
  bandwidthLimit: 0,
  launchAtLogin: false,
  notifications: true,
}

/** Bumped with each change of shape; `migrations` brings older files up to date. */
export const SETTINGS_VERSION = '1.0.0'

const account = {
  type: 'object',
  required: ['id', 'backend', 'server', 'auth'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', minLength: 1 },
    backend: { enum: ['dstor', 'kala', 'perkeep'] },
    server: { type: 'string', pattern: '^https?://' },
    auth: { enum: ['api-key', 'login', 'userpass', 'token'] },
    user: { type: 'string' },
    allowInsecureHttp: { type: 'boolean' },
    singleFilePath: { type: 'string', pattern: '^/' },
    apiKeyHeader: { type: 'string', minLength: 1 },
    vivify: { type: 'boolean' },
  },
} as const

const folder = {
  type: 'object',
  required: ['id', 'path', 'accountId', 'remotePath', 'excludes', 'paused'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', minLength: 1 },
    path: { type: 'string', minLength: 1 },
    accountId: { type: 'string', minLength: 1 },
    remotePath: { type: 'string' },
    excludes: { type: 'array', items: { type: 'string' } },
    paused: { type: 'boolean' },
  },
} as const

/**
 * JSON schema of each top-level key, in the form conf and electron-store take: the file is
 * validated on every read and write, so a hand-edited mistake is caught, never half-applied.
 */
export const SETTINGS_SCHEMA = {
  accounts: { type: 'array', items: account, default: [] },
  folders: { type: 'array', items: folder, default: [] },
  paused: { type: 'boolean', default: false },
  bandwidthLimit: { type: 'number', minimum: 0, default: 0 },
  launchAtLogin: { type: 'boolean', default: false },
  notifications: { type: 'boolean', default: true },
} as const

/**
 * Migrations by version, as conf/electron-store run them. 1.0.0 is the first shape; a future
 * change adds an entry here that rewrites older files.
 */
export const SETTINGS_MIGRATIONS: Readonly<Record<string, (store: MigrationStore) => void>> = {
  '1.0.0': (store) => {
    // Files written before folders had exclude lists or a paused flag get both.
    const folders = (store.get('folders') as Partial<FolderSettings>[] | undefined) ?? []
    store.set(
      'folders',
      folders.map((f) => ({ excludes: [], paused: false, remotePath: '/', ...f })),
    )
  },
}

/** The part of a conf/electron-store instance a migration uses. */
export interface MigrationStore {
  get(key: string): unknown
  set(key: string, value: unknown): void
}
