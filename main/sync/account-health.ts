/** Whether an account can take uploads right now. */
export type AccountState = 'ok' | 'offline' | 'needs-sign-in'

export interface AccountHealthOptions {
  /** Asks the server (with the current secret) whether the account works again. */
  readonly probe: () => Promise<{ state: AccountState; message?: string }>
  readonly onChange: (state: AccountState, message: string | undefined) => void
  /** Longest wait between offline probes (they start at 1 s and double). */
  readonly offlineMaxDelayMs?: number
  /** How often a "needs sign-in" account checks whether a new secret was saved. */
  readonly signInRecheckMs?: number
}

/**
 * One account's availability. Offline recovers by itself: probes back off from 1 s to 30 s and
 * the account resumes as soon as the server answers. "Needs sign-in" waits for the user, but
 * rechecks now and then, because a new key saved by `ferry login` or the app fixes it.
 */
export class AccountHealth {
  #state: AccountState = 'ok'
  #message: string | undefined
  #timer: NodeJS.Timeout | undefined
  #delay = 1000
  #disposed = false
  readonly #options: AccountHealthOptions

  constructor(options: AccountHealthOptions) {
    this.#options = options
  }

  get state(): AccountState {
    return this.#state
  }

  get message(): string | undefined {
    return this.#message
  }

  offline(message: string): void {
    if (this.#state === 'needs-sign-in') return
    if (this.#state !== 'offline') {
      this.#delay = 1000
      this.#set('offline', message)
      this.#schedule()
    }
  }

  needsSignIn(message: string): void {
    if (this.#state !== 'needs-sign-in' || this.#message !== message) {
      this.#set('needs-sign-in', message)
    }
    this.#schedule()
  }

  ok(): void {
    if (this.#state === 'ok') return
    clearTimeout(this.#timer)
    this.#set('ok', undefined)
  }

  /** Probe now (the user pressed "Retry" or signed in again). */
  async check(): Promise<AccountState> {
    clearTimeout(this.#timer)
    const { state, message } = await this.#options
      .probe()
      .catch((error: unknown) => ({ state: 'offline' as const, message: String(error) }))
    if (this.#disposed) return state
    if (state === 'ok') this.ok()
    else if (state === 'needs-sign-in') this.needsSignIn(message ?? 'Sign in again')
    else if (this.#state === 'ok') this.offline(message ?? 'The server does not answer')
    else this.#schedule()
    return state
  }

  dispose(): void {
    this.#disposed = true
    clearTimeout(this.#timer)
  }

  #set(state: AccountState, message: string | undefined): void {
    this.#state = state
    this.#message = message
    this.#options.onChange(state, message)
  }

  #schedule(): void {
    clearTimeout(this.#timer)
    if (this.#disposed) return
    const delay =
      this.#state === 'needs-sign-in' ? (this.#options.signInRecheckMs ?? 60_000) : this.#delay
    this.#delay = Math.min(this.#delay * 2, this.#options.offlineMaxDelayMs ?? 30_000)
    this.#timer = setTimeout(() => void this.check(), delay)
    this.#timer.unref()
  }
}
