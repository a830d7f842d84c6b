import { basename, join, resolve } from 'node:path'
import type {
  AccountInput,
  AccountView,
  AppState,
  ConnectionVerdict,
  FolderInput,
  FolderView,
  Preferences,
  QueuePage,
  SyncStatus as StatusView,
} from '../../preload/contract.ts'
import { validateAccount, type AccountConfig } from '../backends/account.ts'
import { ConfigError, toFerryError, type FerryError } from '../backends/errors.ts'
import { SecretRedactor } from '../platform/log-file.ts'
import { accountSecretKey, type SecretStore } from '../platform/secret-store.ts'
import {
  addAccount,
  addFolder,
  newAccountId,
  removeAccount,
  removeFolder,
  setFolderPaused,
} from '../settings/edit-settings.ts'
import type { AccountSettings, FolderSettings, Settings } from '../settings/settings-schema.ts'
import type { SettingsStore } from '../settings/settings-store.ts'
import { BackendWiring } from '../sync/backend-wiring.ts'
import { EngineLock } from '../sync/engine-lock.ts'
import { previewExcludes } from '../sync/exclude-preview.ts'
import { SyncEngine } from '../sync/sync-engine.ts'
import { StatusModel, type SyncStatus } from '../sync/sync-status.ts'
import { writeDiagnosticsBundle } from './diagnostics-bundle.ts'
import { plainFailure, plainText } from './failure-wording.ts'

/** A demo account on the local reference servers (development builds only). */
export interface SandboxAccount {
  readonly backend: AccountInput['backend']
  readonly server: string
  readonly auth: AccountInput['auth']
  readonly user?: string
  readonly secret: string
}

/** What the app service needs from its host: Electron in the app, plain Node in tests. */
export interface AppServiceOptions {
  readonly settings: SettingsStore
  readonly secrets: SecretStore
  /** Where the index, the lock and the logs live. */
  readonly stateDir: string
  readonly version: string
  readonly chooseFolder: () => Promise<string | null>
  /** Asks where to write the diagnostics bundle (a folder); null when cancelled. */
  readonly chooseDiagnosticsFolder: () => Promise<string | null>
  readonly openPath: (path: string) => Promise<void>
  readonly setLaunchAtLogin: (enabled: boolean) => void
  /** Development builds: starts the reference servers and returns a demo account. */
  readonly startSandbox?: () => Promise<SandboxAccount>
  /** Log files to put in a diagnostics bundle (already redacted). */
  readonly logFiles?: () => readonly string[]
  /**
   * Removes secrets from a diagnostics bundle (the app's SecretRedactor, which knows every key
   * seen); by default only what looks like a secret is removed.
   */
  readonly redact?: (text: string) => string
  readonly log?: (line: string) => void
  /** Engine tuning (tests use short settle times). */
  readonly engine?: { readonly settleMs?: number; readonly capMs?: number }
}

/** A failure with a message meant for the person using Ferry. */
export class UserError extends Error {
  readonly kind: 'invalid' | 'auth' | 'network' | 'failed'
  constructor(message: string, kind: UserError['kind'] = 'invalid') {
    super(message)
    this.name = 'UserError'
    this.kind = kind
  }
}

const NAMES = { dstor: 'dStor', kala: 'Kala', perkeep: 'Perkeep' } as const

/**
 * Everything the app does, without Electron: owns the sync engine, edits settings, keeps secrets
 * in the keychain, and answers the renderer's calls (main/ipc/ipc-handlers.ts maps channels onto
 * these methods). The app's main process and the end-to-end test harness both build one.
 */
export class AppService {
  readonly #options: AppServiceOptions
  readonly #wiring: BackendWiring
  readonly #lock: EngineLock
  readonly #appListeners = new Set<(state: AppState) => void>()
  readonly #statusListeners = new Set<(status: StatusView) => void>()
  /** Folders the user picked with the system's picker in this session (see addChosenFolder). */
  readonly #chosen = new Set<string>()
  #engine: SyncEngine | undefined
  #unsubscribe: (() => void)[] = []
  #lastAccounts = ''

  constructor(options: AppServiceOptions) {
    this.#options = options
    this.#wiring = new BackendWiring(options.settings.read().bandwidthLimit)
    this.#lock = new EngineLock(options.stateDir)
  }

  /** Takes the engine lock (one engine per state folder) and starts syncing. */
  async start(): Promise<void> {
    this.#lock.acquire()
    const status = new StatusModel()
    this.#unsubscribe.push(
      status.onDidChange((snapshot) => {
        const view = presentStatus(snapshot)
        for (const listener of this.#statusListeners) listener(view)
        // Account states (offline, needs sign-in) come from the status: tell the app view.
        const accounts = JSON.stringify(this.appState().accounts)
        if (accounts !== this.#lastAccounts) {
          this.#lastAccounts = accounts
          this.#emitApp()
        }
      }),
      this.#options.settings.onDidChange(() => this.#emitApp()),
    )
    this.#engine = new SyncEngine({
      settings: this.#options.settings,
      secretFor: (account) => this.#secretFor(account),
      makeBackend: this.#wiring.makeBackend,
      indexPath: join(this.#options.stateDir, 'sync.sqlite'),
      status,
      log: this.#options.log,
      onBandwidthLimit: (limit) => this.#wiring.bandwidth.setLimit(limit),
      ...this.#options.engine,
    })
    await this.#engine.start()
  }

  /** Stops syncing, bounded in time: in-flight uploads finish or are cancelled. */
  async stop(): Promise<void> {
    for (const off of this.#unsubscribe.splice(0)) off()
    await this.#engine?.stop()
    await this.#wiring.close()
    this.#lock.release()
  }

  /** The status as the window shows it: failure reasons in plain words (technical in `detail`). */
  status(): StatusView {
    return presentStatus(this.#engine?.status.snapshot() ?? new StatusModel().snapshot())
  }

  onDidChangeStatus(listener: (status: StatusView) => void): () => void {
    this.#statusListeners.add(listener)
    return () => this.#statusListeners.delete(listener)
  }

  onDidChangeApp(listener: (state: AppState) => void): () => void {
    this.#appListeners.add(listener)
    return () => this.#appListeners.delete(listener)
  }

  appState(): AppState {
    const settings = this.#options.settings.read()
    const status = this.status()
    return {
      version: this.#options.version,
      accounts: settings.accounts.map((account) => accountView(account, status)),
      folders: settings.folders.map(folderView),
      preferences: {
        bandwidthLimit: settings.bandwidthLimit,
        launchAtLogin: settings.launchAtLogin,
        notifications: settings.notifications,
      },
      paused: settings.paused,
      sandboxAvailable: this.#options.startSandbox !== undefined,
    }
  }

  async testConnection(input: AccountInput): Promise<ConnectionVerdict> {
    const config = this.#config(input)
    const backend = this.#wiring.makeBackend({ ...config, id: 'test' }, input.secret, {
      id: 'test',
      path: '/',
      accountId: 'test',
      remotePath: '/',
      excludes: [],
      paused: false,
    })
    try {
      await backend.checkAuth(AbortSignal.timeout(20_000))
      return { ok: true, message: `Connected to ${describe(config)}.` }
    } catch (error) {
      return { ok: false, message: verdictFor(toFerryError(error), config) }
    } finally {
      await backend.close().catch(() => undefined)
    }
  }

  /**
   * Tests the connection and saves the account. The keychain is written only once the account
   * is accepted (a duplicate must not overwrite the existing account's secret), and put back as
   * it was if saving the settings then fails.
   */
  async addAccount(input: AccountInput): Promise<AccountView> {
    const config = this.#config(input)
    this.#acceptable(config)
    const verdict = await this.testConnection(input)
    if (!verdict.ok) throw new UserError(verdict.message, 'auth')
    // Settings may have changed while the server answered (another window, the CLI).
    const account = this.#acceptable(config)
    const key = accountSecretKey(account)
    const previous = await this.#options.secrets.get(key)
    await this.#options.secrets.set(key, input.secret)
    let next: Settings
    try {
      next = this.#edit((s) => addAccount(s, account))
    } catch (error) {
      await (
        previous === undefined
          ? this.#options.secrets.delete(key)
          : this.#options.secrets.set(key, previous)
      ).catch((undo: unknown) =>
        this.#options.log?.(`[app] keychain not restored: ${String(undo)}`),
      )
      throw error
    }
    return accountView(this.#account(next, account.id), this.status())
  }

  async signIn(accountId: string, secret: string): Promise<ConnectionVerdict> {
    const account = this.#account(this.#options.settings.read(), accountId)
    const verdict = await this.testConnection({ ...account, secret })
    if (!verdict.ok) return verdict
    await this.#options.secrets.set(accountSecretKey(account), secret)
    await this.#engine?.recheckAccount(accountId)
    this.#emitApp()
    return verdict
  }

  /**
   * Removes the account's folders (nothing local or remote is touched), its secret, the account.
   * The secret goes first: if the keychain refuses, nothing is removed and the user is told, so
   * a secret never stays behind an account that looks gone.
   */
  async removeAccount(accountId: string): Promise<void> {
    const account = this.#account(this.#options.settings.read(), accountId)
    const without = (s: Settings): Settings =>
      removeAccount(
        { ...s, folders: s.folders.filter((f) => f.accountId !== accountId) },
        accountId,
      )
    const key = accountSecretKey(account)
    let secret: string | undefined
    try {
      secret = await this.#options.secrets.get(key)
      await this.#options.secrets.delete(key)
    } catch (error) {
      this.#options.log?.(`[app] keychain delete failed for ${account.id}: ${String(error)}`)
      throw new UserError(
        `Ferry could not delete the saved ${secretName(account)} for ${describe(account)} from ` +
          'this computer’s keychain, so the account was not removed. Unlock the keychain (or ' +
          'check that it is running) and try again.',
        'failed',
      )
    }
    try {
      this.#edit(without)
    } catch (error) {
      if (secret !== undefined) {
        await this.#options.secrets.set(key, secret).catch(() => undefined)
      }
      throw error
    }
  }

  /**
   * Adds a folder. Trusted callers only (tests, benchmarks): the window's "folder:add" goes
   * through {@link addChosenFolder}.
   */
  addFolder(input: FolderInput): FolderView {
    this.#account(this.#options.settings.read(), input.accountId)
    const next = this.#edit((s) => addFolder(s, input))
    return folderView(next.folders[next.folders.length - 1] as FolderSettings)
  }

  /**
   * The window's "add folder": only a folder the user picked with the system's folder picker in
   * this session. A compromised page could otherwise have Ferry upload any folder (the home
   * folder, say) to a server of its choice.
   */
  addChosenFolder(input: FolderInput): FolderView {
    const path = resolve(input.path)
    if (!this.#chosen.has(path)) {
      throw new UserError('Choose the folder with “Choose folder…” first, then add it.')
    }
    const folder = this.addFolder({ ...input, path })
    this.#chosen.delete(path)
    return folder
  }

  removeFolder(folderId: string): void {
    this.#edit((s) => removeFolder(s, this.#folder(s, folderId).id))
  }

  pauseFolder(folderId: string, paused: boolean): void {
    this.#edit((s) => setFolderPaused(s, this.#folder(s, folderId).id, paused))
  }

  pauseAll(paused: boolean): void {
    this.#edit((s) => ({ ...s, paused }))
  }

  setExcludes(folderId: string, excludes: readonly string[]): void {
    this.#edit((s) => {
      const folder = this.#folder(s, folderId)
      return {
        ...s,
        folders: s.folders.map((f) => (f.id === folder.id ? { ...f, excludes: [...excludes] } : f)),
      }
    })
  }

  /** What the patterns would leave out of a synced folder (by id: the page names no paths). */
  previewExcludes(folderId: string, excludes: readonly string[]) {
    return previewExcludes(this.#folder(this.#options.settings.read(), folderId).path, excludes)
  }

  async openFolder(folderId: string): Promise<void> {
    await this.#options.openPath(this.#folder(this.#options.settings.read(), folderId).path)
  }

  /** The system's folder picker; what it returns may then be added (see addChosenFolder). */
  async chooseFolder(): Promise<string | null> {
    const path = await this.#options.chooseFolder()
    if (path !== null) this.#chosen.add(resolve(path))
    return path
  }

  queuePage(offset: number, limit: number): QueuePage {
    if (!this.#engine) return { total: 0, offset, items: [] }
    const page = this.#engine.index.queue(offset, limit)
    return {
      total: page.total,
      offset,
      items: page.items.map((row) => ({
        folderId: row.folderId,
        relPath: row.relPath,
        size: row.size,
        state: row.state as 'pending' | 'uploading' | 'failed',
        attempts: row.attempts,
        ...(row.lastError ? { lastError: plainText(row.lastError) } : {}),
      })),
    }
  }

  async retry(folderId: string, relPath?: string): Promise<void> {
    const folder = this.#folder(this.#options.settings.read(), folderId)
    if (relPath !== undefined && this.#engine && !this.#engine.index.get(folderId, relPath)) {
      throw new UserError(`Ferry knows no file ${relPath} in ${basename(folder.path)}.`)
    }
    await this.#engine?.retry(folderId, relPath)
  }

  setPreferences(changes: Partial<Preferences>): Preferences {
    const next = this.#edit((s) => ({ ...s, ...changes }))
    if (changes.launchAtLogin !== undefined) this.#options.setLaunchAtLogin(changes.launchAtLogin)
    return {
      bandwidthLimit: next.bandwidthLimit,
      launchAtLogin: next.launchAtLogin,
      notifications: next.notifications,
    }
  }

  async startSandbox(): Promise<AccountView> {
    if (!this.#options.startSandbox) {
      throw new UserError('The local sandbox is only available in development builds')
    }
    const demo = await this.#options.startSandbox()
    const existing = this.#options.settings
      .read()
      .accounts.find((a) => a.backend === demo.backend && a.server === demo.server)
    if (existing) return accountView(existing, this.status())
    return this.addAccount(demo)
  }

  /** A folder with the logs, the settings (no secrets) and the status, all redacted. */
  async exportDiagnostics(): Promise<string | null> {
    const parent = await this.#options.chooseDiagnosticsFolder()
    if (!parent) return null
    const redactor = this.#options.redact ? undefined : new SecretRedactor()
    return writeDiagnosticsBundle(parent, {
      version: this.#options.version,
      settings: this.#options.settings.read(),
      status: this.status(),
      logFiles: this.#options.logFiles?.() ?? [],
      redact: this.#options.redact ?? ((text) => (redactor as SecretRedactor).redact(text)),
    })
  }

  async #secretFor(account: AccountSettings): Promise<string> {
    const secret = await this.#options.secrets.get(accountSecretKey(account))
    if (!secret) throw new Error(`Sign in again to ${describe(account)}: no saved key`)
    return secret
  }

  #config(input: AccountInput): AccountConfig {
    let url: URL
    try {
      url = new URL(input.server.trim())
    } catch {
      throw new UserError(`"${input.server}" is not a server address (try https://…)`)
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new UserError('The server address must start with https://')
    }
    if (url.username || url.password) {
      throw new UserError('Put the user name in its own field, not in the server address')
    }
    const config: AccountConfig = {
      backend: input.backend,
      server: url.href.replace(/\/$/, ''),
      auth: input.auth,
      ...(input.user ? { user: input.user.trim() } : {}),
      ...(input.allowInsecureHttp ? { allowInsecureHttp: true } : {}),
    }
    try {
      validateAccount(config)
    } catch (error) {
      throw new UserError((error as Error).message)
    }
    return config
  }

  /**
   * The account ready to be added, or a UserError saying why not (already connected, or any
   * rule of the settings), checked against the settings as they are now without changing them.
   */
  #acceptable(config: AccountConfig): AccountSettings {
    const settings = this.#options.settings.read()
    const same = settings.accounts.find(
      (a) =>
        a.backend === config.backend &&
        a.server === config.server &&
        (a.user ?? '') === (config.user ?? ''),
    )
    if (same) {
      throw new UserError(
        `${describe(same)} is already connected${same.user ? ` as ${same.user}` : ''}. To use a ` +
          'new key or password for it, choose “Sign in again” in Settings.',
      )
    }
    const account: AccountSettings = { ...config, id: newAccountId(settings, config) }
    plainly(() => addAccount(settings, account))
    return account
  }

  #account(settings: Settings, accountId: string): AccountSettings {
    const account = settings.accounts.find((a) => a.id === accountId)
    if (!account) throw new UserError('That storage account is no longer connected.')
    return account
  }

  #folder(settings: Settings, folderId: string): FolderSettings {
    const folder = settings.folders.find((f) => f.id === folderId)
    if (!folder) throw new UserError('That folder is no longer synced.')
    return folder
  }

  #edit(change: (settings: Settings) => Settings): Settings {
    const next = plainly(() => this.#options.settings.update(change))
    this.#emitApp()
    return next
  }

  #emitApp(): void {
    const state = this.appState()
    for (const listener of this.#appListeners) listener(state)
  }
}

/** Runs a settings edit; its rule violations (ConfigError) become messages for the user. */
function plainly<T>(edit: () => T): T {
  try {
    return edit()
  } catch (error) {
    if (error instanceof ConfigError) throw new UserError(error.message)
    throw error
  }
}

/**
 * The engine's status with failure reasons in plain words (the technical message stays in a
 * failed file's `detail`, for "Details").
 */
function presentStatus(status: SyncStatus): StatusView {
  return {
    ...status,
    folders: status.folders.map((folder) =>
      folder.message === undefined ? folder : { ...folder, message: plainText(folder.message) },
    ),
    activity: status.activity.map((entry) =>
      entry.kind === 'failed' ? { ...entry, message: plainText(entry.message) } : entry,
    ),
    failed: status.failed.map((file) => {
      const plain = plainFailure(file.reason)
      return { ...file, reason: plain.text, ...(plain.detail ? { detail: plain.detail } : {}) }
    }),
  }
}

function secretName(account: AccountConfig): string {
  if (account.auth === 'api-key') return 'API key'
  if (account.auth === 'token') return 'access token'
  return 'password'
}

function describe(account: AccountConfig): string {
  return `${NAMES[account.backend]} at ${new URL(account.server).host}`
}

function accountView(account: AccountSettings, status: SyncStatus): AccountView {
  const states = status.folders.filter((f) => f.accountId === account.id)
  const signIn = states.find((f) => f.state === 'needs-sign-in')
  const offline = states.find((f) => f.state === 'offline')
  const problem = signIn ?? offline
  return {
    id: account.id,
    backend: account.backend,
    server: account.server,
    auth: account.auth,
    ...(account.user ? { user: account.user } : {}),
    label: describe(account),
    state: signIn ? 'needs-sign-in' : offline ? 'offline' : 'ok',
    ...(problem?.message ? { message: problem.message } : {}),
  }
}

function folderView(folder: FolderSettings): FolderView {
  return {
    id: folder.id,
    path: folder.path,
    accountId: folder.accountId,
    remotePath: folder.remotePath,
    excludes: folder.excludes,
    paused: folder.paused,
  }
}

function verdictFor(error: FerryError, account: AccountConfig): string {
  const where = describe(account)
  const said = error.serverMessage
    ? ` It says: “${error.serverMessage.replace(/[.!]+$/, '')}”.`
    : ''
  switch (error.kind) {
    case 'auth':
      return `${where} did not accept this ${account.auth === 'api-key' ? 'key' : 'sign-in'}. Check it and try again.`
    case 'retryable':
      // No status: nothing answered at all (refused, unreachable, timed out).
      if (error.status === undefined) {
        return `Ferry could not reach ${new URL(account.server).host}. Check the address and that the server is running.`
      }
      return `${where} cannot take new connections right now.${said} Try again in a few minutes.`
    case 'config':
      return error.message
    default:
      return error.serverMessage
        ? `${where} refused the connection test.${said} Check the address and your ${secretName(account)}.`
        : `${where} answered in a way Ferry does not understand. Check that the address is that of a ${NAMES[account.backend]} server.`
  }
}
