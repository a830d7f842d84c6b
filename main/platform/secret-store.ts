/** Where account secrets live: the OS keychain in practice. Secrets never go anywhere else. */
export interface SecretStore {
  get(account: string): Promise<string | undefined>
  set(account: string, secret: string): Promise<void>
  /** True if something was deleted. */
  delete(account: string): Promise<boolean>
}
