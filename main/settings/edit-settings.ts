import { resolve, relative, isAbsolute } from 'node:path'
import type { AccountConfig } from '../backends/account.ts'
import { ConfigError } from '../backends/errors.ts'
import type { AccountSettings, FolderSettings, Settings } from './settings-schema.ts'

/**
 * Pure edits of the settings: each returns new settings or throws a ConfigError saying what
 * is wrong, so the CLI and the app apply the same rules.
 */

/** A readable id for a new account: `kala-files.example.com`, `-2` if taken. */
export function newAccountId(settings: Settings, account: AccountConfig): string {
  const host = new URL(account.server).hostname || 'server'
  const base = `${account.backend}-${host}`.replace(/[^a-zA-Z0-9._-]/g, '-')
  const taken = new Set(settings.accounts.map((a) => a.id))
  if (!taken.has(base)) return base
  for (let n = 2; ; n++) if (!taken.has(`${base}-${n}`)) return `${base}-${n}`
}

export function addAccount(settings: Settings, account: AccountSettings): Settings {
  if (settings.accounts.some((a) => a.id === account.id)) {
    throw new ConfigError(`There is already an account named ${account.id}`)
  }
  const same = settings.accounts.find(
    (a) =>
      a.backend === account.backend &&
      a.server === account.server &&
      (a.user ?? '') === (account.user ?? ''),
  )
  if (same) throw new ConfigError(`This account is already set up as ${same.id}`)
  return { ...settings, accounts: [...settings.accounts, account] }
}

export function findAccount(settings: Settings, id: string): AccountSettings {
  const account = settings.accounts.find((a) => a.id === id)
  if (!account) {
    const known = settings.accounts.map((a) => a.id).join(', ') || 'none yet'
    throw new ConfigError(`No account named ${id} (accounts: ${known})`)
  }
  return account
}

/** Removing an account that folders still use would orphan them: say which, change nothing. */
export function removeAccount(settings: Settings, id: string): Settings {
  findAccount(settings, id)
  const users = settings.folders.filter((f) => f.accountId === id)
  if (users.length > 0) {
    throw new ConfigError(
      `Account ${id} is used by ${users.map((f) => f.path).join(', ')}; remove those folders first`,
    )
  }
  return { ...settings, accounts: settings.accounts.filter((a) => a.id !== id) }
}

export interface NewFolder {
  readonly path: string
  readonly accountId: string
  readonly remotePath?: string
  readonly excludes?: readonly string[]
}

/**
 * Adds a synced folder. Folders may not overlap (one inside another would upload the same
 * files twice, and a change would race between them).
 */
export function addFolder(settings: Settings, input: NewFolder): Settings {
  findAccount(settings, input.accountId)
  const path = resolve(input.path)
  for (const other of settings.folders) {
    if (contains(other.path, path) || contains(path, other.path)) {
      throw new ConfigError(
        other.path === path
          ? `${path} is already synced`
          : `${path} overlaps ${other.path}, which is already synced`,
      )
    }
  }
  const folder: FolderSettings = {
    id: newFolderId(settings),
    path,
    accountId: input.accountId,
    remotePath: input.remotePath ?? '/',
    excludes: [...(input.excludes ?? [])],
    paused: false,
  }
  return { ...settings, folders: [...settings.folders, folder] }
}

/** A folder by id or by path. */
export function findFolder(settings: Settings, idOrPath: string): FolderSettings {
  const path = resolve(idOrPath)
  const folder = settings.folders.find((f) => f.id === idOrPath || f.path === path)
  if (!folder) throw new ConfigError(`${idOrPath} is not a synced folder`)
  return folder
}

export function removeFolder(settings: Settings, idOrPath: string): Settings {
  const folder = findFolder(settings, idOrPath)
  return { ...settings, folders: settings.folders.filter((f) => f.id !== folder.id) }
}

export function setFolderPaused(settings: Settings, idOrPath: string, paused: boolean): Settings {
  const folder = findFolder(settings, idOrPath)
  return {
    ...settings,
    folders: settings.folders.map((f) => (f.id === folder.id ? { ...f, paused } : f)),
  }
}

function newFolderId(settings: Settings): string {
  const taken = new Set(settings.folders.map((f) => f.id))
  for (let n = 1; ; n++) if (!taken.has(`folder-${n}`)) return `folder-${n}`
}

function contains(parent: string, child: string): boolean {
  const rel = relative(parent, child)
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel))
}
