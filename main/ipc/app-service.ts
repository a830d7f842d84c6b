import { mkdir, copyFile, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import type {
  AccountInput,
  AccountView,
  AppState,
  ConnectionVerdict,
  FolderInput,
  FolderView,
  Preferences,
  QueuePage,
} from '../../preload/contract.ts'
import { validateAccount, type AccountConfig } from '../backends/account.ts'
import { toFerryError } from '../backends/errors.ts'
import { accountSecretKey, type SecretStore } from '../platform/secret-store.ts'
import {
  addAccount,
  addFolder,
  findAccount,
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
  readonly #statusListeners = new Set<(status: SyncStatus) => void>()
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
        for (const listener of this.#statusListeners) listener(snapshot)
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

  status(): SyncStatus {
    return this.#engine?.status.snapshot() ?? new StatusModel().snapshot()
  }

  onDidChangeStatus(listener: (status: SyncStatus) => void): () => void {
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

  async addAccount(input: AccountInput): Promise<AccountView> {
    const verdict = await this.testConnection(input)
    if (!verdict.ok) throw new UserError(verdict.message, 'auth')
    const config = this.#config(input)
    const settings = this.#options.settings.read()
    const account: AccountSettings = { ...config, id: newAccountId(settings, config) }
    // The secret first: an account without its secret would only fail later.
    await this.#options.secrets.set(accountSecretKey(account), input.secret)
    const next = this.#edit((s) => addAccount(s, account))
    return accountView(findAccount(next, account.id), this.status())
  }

  async signIn(accountId: string, secret: string): Promise<ConnectionVerdict> {
    const account = findAccount(this.#options.settings.read(), accountId)
    const verdict = await this.testConnection({ ...account, secret })
    if (!verdict.ok) return verdict
    await this.#options.secrets.set(accountSecretKey(account), secret)
    await this.#engine?.recheckAccount(accountId)
    this.#emitApp()
    return verdict
  }

  /** Removes the account's folders (nothing local or remote is touched), the account, its secret. */
  async removeAccount(accountId: string): Promise<void> {
    const account = findAccount(this.#options.settings.read(), accountId)
    this.#edit((s) =>
      removeAccount(
        { ...s, folders: s.folders.filter((f) => f.accountId !== accountId) },
        accountId,
      ),
    )
    await this.#options.secrets.delete(accountSecretKey(account))
  }

  addFolder(input: FolderInput): FolderView {
    const next = this.#edit((s) => addFolder(s, input))
    return folderView(next.folders[next.folders.length - 1] as FolderSettings)
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
    this.#edit((s) => ({
      ...s,
      folders: s.folders.map((f) => (f.id === folderId ? { ...f, excludes: [...excludes] } : f)),
    }))
  }

  previewExcludes(path: string, excludes: readonly string[]) {
    return previewExcludes(path, excludes)
  }

  async openFolder(folderId: string): Promise<void> {
    await this.#options.openPath(this.#folder(this.#options.settings.read(), folderId).path)
  }

  chooseFolder(): Promise<string | null> {
    return this.#options.chooseFolder()
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
        ...(row.lastError ? { lastError: row.lastError } : {}),
      })),
    }
  }

  async retry(folderId: string, relPath?: string): Promise<void> {
    this.#folder(this.#options.settings.read(), folderId)
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

  /** A folder with the logs (redacted as written), the settings (no secrets) and the status. */
  async exportDiagnostics(): Promise<string | null> {
    const parent = await this.#options.chooseDiagnosticsFolder()
    if (!parent) return null
    const stamp = new Date().toISOString().replace(/[:.]/g, '-')
    const dir = join(parent, `ferry-diagnostics-${stamp}`)
    await mkdir(dir, { recursive: true })
    const settings = this.#options.settings.read()
    await writeFile(join(dir, 'settings.json'), JSON.stringify(settings, null, 2))
    await writeFile(join(dir, 'status.json'), JSON.stringify(this.status(), null, 2))
    await writeFile(
      join(dir, 'about.txt'),
      `Ferry ${this.#options.version}\n${process.platform} ${process.arch}\n` +
        `Node ${process.versions.node}${process.versions['electron'] ? `, Electron ${process.versions['electron']}` : ''}\n`,
    )
    for (const file of this.#options.logFiles?.() ?? []) {
      await copyFile(file, join(dir, basename(file))).catch(() => undefined)
    }
    return dir
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

  #folder(settings: Settings, folderId: string): FolderSettings {
    const folder = settings.folders.find((f) => f.id === folderId)
    if (!folder) throw new UserError('That folder is no longer synced')
    return folder
  }

  #edit(change: (settings: Settings) => Settings): Settings {
    let next: Settings
    try {
      next = this.#options.settings.update(change)
    } catch (error) {
      if (error instanceof Error && error.name === 'FerryError') throw new UserError(error.message)
      throw error
    }
    this.#emitApp()
    return next
  }

  #emitApp(): void {
    const state = this.appState()
    for (const listener of this.#appListeners) listener(state)
  }
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

function verdictFor(error: ReturnType<typeof toFerryError>, account: AccountConfig): string {
  const where = describe(account)
  switch (error.kind) {
    case 'auth':
      return `${where} did not accept this ${account.auth === 'api-key' ? 'key' : 'sign-in'}. Check it and try again.`
    case 'retryable':
      return `Could not reach ${where}. Check the address and your connection. (${error.message})`
    case 'config':
      return error.message
    default:
      return `${where} answered, but not as expected: ${error.message}`
  }
}
