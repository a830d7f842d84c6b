/** Where account secrets live: the OS keychain in practice. Secrets never go anywhere else. */
export interface SecretStore {
  get(account: string): Promise<string | undefined>
  set(account: string, secret: string): Promise<void>
  /** True if something was deleted. */
  delete(account: string): Promise<boolean>
}

/** The keychain entry name of an account: who the secret belongs to, never the secret. */
export function accountSecretKey(account: {
  readonly backend: string
  readonly server: string
  readonly auth: string
  readonly user?: string
}): string {
  return `${account.backend}:${account.user ?? account.auth}@${account.server}`
}
