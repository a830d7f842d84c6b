import { createRequire } from 'node:module'
import type { SecretStore } from './secret-store.ts'

const SERVICE = 'Ferry'

interface Keytar {
  getPassword(service: string, account: string): Promise<string | null>
  setPassword(service: string, account: string, password: string): Promise<void>
  deletePassword(service: string, account: string): Promise<boolean>
}

/** Thrown when no keychain can be reached (no Secret Service on this Linux session, say). */
export class KeychainUnavailableError extends Error {
  constructor(reason: string) {
    super(`The system keychain is not available: ${reason}`)
    this.name = 'KeychainUnavailableError'
  }
}

/** The OS keychain through keytar (libsecret on Linux, Keychain on macOS, Credential Vault). */
export class KeychainSecretStore implements SecretStore {
  #keytar: Keytar | undefined
  readonly #timeoutMs: number

  /** A locked keychain may wait forever for an unlock prompt nobody sees: give up after this. */
  constructor(options: { timeoutMs?: number } = {}) {
    this.#timeoutMs = options.timeoutMs ?? 15_000
  }

  async get(account: string): Promise<string | undefined> {
    return (await this.#call((k) => k.getPassword(SERVICE, account))) ?? undefined
  }

  async set(account: string, secret: string): Promise<void> {
    await this.#call((k) => k.setPassword(SERVICE, account, secret))
  }

  async delete(account: string): Promise<boolean> {
    return this.#call((k) => k.deletePassword(SERVICE, account))
  }

  async #call<T>(use: (keytar: Keytar) => Promise<T>): Promise<T> {
    try {
      // keytar is a native CommonJS module; loading it lazily keeps a missing libsecret from
      // breaking commands that never touch the keychain.
      this.#keytar ??= createRequire(import.meta.url)('keytar') as Keytar
      return await withTimeout(use(this.#keytar), this.#timeoutMs)
    } catch (error) {
      throw new KeychainUnavailableError((error as Error).message)
    }
  }
}

/** The keychain entry name of an account: the secret's owner, never the secret. */
export function keychainAccount(backend: string, server: string, user: string): string {
  return `${backend}:${user}@${server}`
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('it did not answer (is it locked?)')), ms)
    timer.unref()
  })
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer))
}
