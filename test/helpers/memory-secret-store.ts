import type { SecretStore } from '../../main/platform/secret-store.ts'

/**
 * A SecretStore kept in memory, for tests of code that stores secrets (the keychain itself is
 * tested against a real gnome-keyring in test/cli/keychain.test.ts).
 */
export class MemorySecretStore implements SecretStore {
  readonly entries = new Map<string, string>()

  async get(account: string): Promise<string | undefined> {
    return this.entries.get(account)
  }

  async set(account: string, secret: string): Promise<void> {
    this.entries.set(account, secret)
  }

  async delete(account: string): Promise<boolean> {
    return this.entries.delete(account)
  }
}
