import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { AccountInput } from '../../preload/contract.ts'
import { AppService } from '../../main/ipc/app-service.ts'
import { accountSecretKey } from '../../main/platform/secret-store.ts'
import { ConfSettingsStore } from '../../main/settings/conf-settings-store.ts'
import type { Settings } from '../../main/settings/settings-schema.ts'
import type { SettingsStore } from '../../main/settings/settings-store.ts'
import { createKalaServer, type KalaServer } from '../servers/kala-server.ts'
import { MemorySecretStore } from '../helpers/memory-secret-store.ts'
import { tempDir } from '../helpers/tree.ts'

/** The in-memory keychain, made to refuse deletes while `locked` (a locked keychain does). */
class LockableSecretStore extends MemorySecretStore {
  locked = false
  override async delete(account: string): Promise<boolean> {
    if (this.locked) throw new Error('The system keychain is not available: it is locked')
    return super.delete(account)
  }
}

/** The real settings file, whose next write fails while `failWrites` (a full disk, say). */
class FailingSettingsStore implements SettingsStore {
  failWrites = false
  readonly inner: ConfSettingsStore
  constructor(inner: ConfSettingsStore) {
    this.inner = inner
  }
  read(): Settings {
    return this.inner.read()
  }
  update(change: (current: Settings) => Settings): Settings {
    if (this.failWrites) {
      change(this.inner.read())
      throw new Error('ENOSPC: no space left on device, write config.json')
    }
    return this.inner.update(change)
  }
  onDidChange(listener: (settings: Settings) => void): () => void {
    return this.inner.onDidChange(listener)
  }
}

describe('accounts and the keychain: the secret is written and removed in the right order', () => {
  let server: KalaServer
  let work: Awaited<ReturnType<typeof tempDir>>
  let secrets: LockableSecretStore
  let settings: FailingSettingsStore
  let app: AppService

  beforeEach(async () => {
    server = await createKalaServer({ apiKeys: ['first-key', 'second-key'] })
    work = await tempDir()
    const stateDir = join(work.path, 'state')
    secrets = new LockableSecretStore()
    settings = new FailingSettingsStore(new ConfSettingsStore(stateDir))
    app = new AppService({
      settings,
      secrets,
      stateDir,
      version: '0.1.0-test',
      chooseFolder: async () => null,
      chooseDiagnosticsFolder: async () => null,
      openPath: async () => undefined,
      setLaunchAtLogin: () => undefined,
    })
  })

  afterEach(async () => {
    await server.close()
    await work.dispose()
  })

  const kala = (secret: string): AccountInput => ({
    backend: 'kala',
    server: server.url,
    auth: 'api-key',
    secret,
  })
  const key = (): string => accountSecretKey(kala(''))

  it('adding an account that is already connected leaves its saved key alone', async () => {
    const account = await app.addAccount(kala('first-key'))
    expect(secrets.entries.get(key())).toBe('first-key')

    const again = app.addAccount(kala('second-key'))
    await expect(again).rejects.toMatchObject({
      kind: 'invalid',
      message: `Kala at ${new URL(server.url).host} is already connected. To use a new key or password for it, choose “Sign in again” in Settings.`,
    })
    expect(secrets.entries.get(key())).toBe('first-key')
    expect(settings.read().accounts.map((a) => a.id)).toEqual([account.id])
    // Refused before anything was sent: the server never saw the second key.
    expect(server.router.log.count('kala.file')).toBe(1)
  })

  it('a settings file that cannot be written takes the new key back out of the keychain', async () => {
    settings.failWrites = true
    await expect(app.addAccount(kala('first-key'))).rejects.toThrow(/ENOSPC/)
    expect(secrets.entries.size).toBe(0)
    expect(settings.read().accounts).toEqual([])

    // A key left over from before (the CLI's, say) is put back as it was, not deleted.
    secrets.entries.set(key(), 'older-key')
    await expect(app.addAccount(kala('first-key'))).rejects.toThrow(/ENOSPC/)
    expect([...secrets.entries]).toEqual([[key(), 'older-key']])

    settings.failWrites = false
    await app.addAccount(kala('first-key'))
    expect([...secrets.entries]).toEqual([[key(), 'first-key']])
  })

  it('removing: a keychain that refuses the delete keeps the account and says why', async () => {
    const account = await app.addAccount(kala('first-key'))
    secrets.locked = true
    await expect(app.removeAccount(account.id)).rejects.toMatchObject({
      kind: 'failed',
      message: `Ferry could not delete the saved API key for Kala at ${new URL(server.url).host} from this computer’s keychain, so the account was not removed. Unlock the keychain (or check that it is running) and try again.`,
    })
    expect(settings.read().accounts.map((a) => a.id)).toEqual([account.id])
    expect(secrets.entries.get(key())).toBe('first-key')

    secrets.locked = false
    await app.removeAccount(account.id)
    expect(settings.read().accounts).toEqual([])
    expect(secrets.entries.size).toBe(0)
  })

  it('removing: a settings write that fails puts the deleted key back', async () => {
    const account = await app.addAccount(kala('first-key'))
    settings.failWrites = true
    await expect(app.removeAccount(account.id)).rejects.toThrow(/ENOSPC/)
    expect(settings.read().accounts.map((a) => a.id)).toEqual([account.id])
    expect(secrets.entries.get(key())).toBe('first-key')
  })
})
