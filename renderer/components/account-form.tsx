import { useId, useState } from 'preact/hooks'
import type {
  AccountInput,
  AccountView,
  AuthMethod,
  BackendKind,
  ConnectionVerdict,
} from '../../preload/contract.ts'
import { call } from '../ferry.ts'

/**
 * dStor's public networks (/work/shared/PROTOCOLS.md §1, from dStor's documentation); "Another
 * server" covers anything else.
 */
export const DSTOR_NETWORKS = {
  production: 'https://api.dstor.cloud',
  testnet: 'https://api.testnet.dstor.cloud',
} as const

type Network = keyof typeof DSTOR_NETWORKS | 'custom'

const STORAGES: readonly { kind: BackendKind; name: string; blurb: string }[] = [
  { kind: 'dstor', name: 'dStor', blurb: 'Online storage run by dStor' },
  { kind: 'kala', name: 'Kala', blurb: 'A Kala file server' },
  { kind: 'perkeep', name: 'Perkeep', blurb: 'Your own Perkeep server' },
]

const SIGN_INS: Readonly<Record<BackendKind, readonly { auth: AuthMethod; label: string }[]>> = {
  dstor: [
    { auth: 'api-key', label: 'With an API key' },
    { auth: 'login', label: 'With my e-mail and password' },
  ],
  kala: [
    { auth: 'api-key', label: 'With an API key' },
    { auth: 'login', label: 'With my user name and password' },
  ],
  perkeep: [
    { auth: 'userpass', label: 'With my user name and password' },
    { auth: 'token', label: 'With an access token' },
  ],
}

/** What the secret is called for an auth method ("API key", "Password"…). */
export function secretLabel(auth: AuthMethod): string {
  if (auth === 'api-key') return 'API key'
  if (auth === 'token') return 'Access token'
  return 'Password'
}

const needsUser = (auth: AuthMethod): boolean => auth === 'login' || auth === 'userpass'

// Plain http is fine to this computer; anywhere else the user has to say so knowingly.
function isInsecureRemote(server: string): boolean {
  try {
    const url = new URL(server.trim())
    if (url.protocol !== 'http:') return false
    return !/^(localhost|127(\.\d+){3}|\[::1\])$/.test(url.hostname)
  } catch {
    return false
  }
}

export interface AccountFormProps {
  readonly submitLabel: string
  readonly onSaved: (account: AccountView) => void
  readonly onCancel?: () => void
}

/**
 * Connecting a storage: which one, where, how to sign in; "Test connection" gives a verdict in
 * plain words and saving tests again before anything is kept (the secret goes to the keychain).
 */
export function AccountForm(props: AccountFormProps) {
  const id = useId()
  const [backend, setBackend] = useState<BackendKind>('dstor')
  const [network, setNetwork] = useState<Network>('production')
  const [server, setServer] = useState('')
  const [auth, setAuth] = useState<AuthMethod>('api-key')
  const [user, setUser] = useState('')
  const [secret, setSecret] = useState('')
  const [insecure, setInsecure] = useState(false)
  const [verdict, setVerdict] = useState<ConnectionVerdict>()
  const [busy, setBusy] = useState<'test' | 'save'>()

  const preset = backend === 'dstor' && network !== 'custom'
  const address = preset ? DSTOR_NETWORKS[network] : server
  const insecureRemote = isInsecureRemote(address)

  // Any change makes an earlier verdict stale.
  const edit =
    <T,>(set: (value: T) => void) =>
    (value: T): void => {
      set(value)
      setVerdict(undefined)
    }

  const chooseBackend = (kind: BackendKind): void => {
    edit(setBackend)(kind)
    setAuth(SIGN_INS[kind][0]?.auth ?? 'api-key')
  }

  const input = (): AccountInput | string => {
    if (!address.trim()) return 'Enter the server address.'
    if (needsUser(auth) && !user.trim()) {
      return backend === 'dstor' ? 'Enter your e-mail.' : 'Enter your user name.'
    }
    if (!secret) return `Enter your ${secretLabel(auth).toLowerCase()}.`
    return {
      backend,
      server: address.trim(),
      auth,
      ...(needsUser(auth) ? { user: user.trim() } : {}),
      secret,
      ...(insecureRemote && insecure ? { allowInsecureHttp: true } : {}),
    }
  }

  // While busy the buttons stay focusable (aria-disabled): a disabled button would drop the
  // keyboard user's focus back to the top of the window.
  const test = async (): Promise<void> => {
    if (busy) return
    const request = input()
    if (typeof request === 'string') return setVerdict({ ok: false, message: request })
    setBusy('test')
    setVerdict(undefined)
    const result = await call('account:test', request)
    setBusy(undefined)
    setVerdict(result.ok ? result.value : { ok: false, message: result.message })
  }

  const save = async (event: Event): Promise<void> => {
    event.preventDefault()
    if (busy) return
    const request = input()
    if (typeof request === 'string') return setVerdict({ ok: false, message: request })
    setBusy('save')
    setVerdict(undefined)
    const result = await call('account:add', request)
    setBusy(undefined)
    if (result.ok) props.onSaved(result.value)
    else setVerdict({ ok: false, message: result.message })
  }

  return (
    <form class="account-form" onSubmit={save} noValidate>
      <fieldset class="choices">
        <legend>Where should Ferry store your files?</legend>
        {STORAGES.map((storage) => (
          <label class="choice" key={storage.kind}>
            <input
              type="radio"
              name={`${id}-backend`}
              value={storage.kind}
              checked={backend === storage.kind}
              onChange={() => chooseBackend(storage.kind)}
            />
            <span class="choice-name">{storage.name}</span>
            <span class="choice-blurb">{storage.blurb}</span>
          </label>
        ))}
      </fieldset>

      {backend === 'dstor' && (
        <fieldset class="choices compact">
          <legend>Which dStor network?</legend>
          <label class="choice">
            <input
              type="radio"
              name={`${id}-network`}
              checked={network === 'production'}
              onChange={() => edit(setNetwork)('production')}
            />
            <span class="choice-name">Main network</span>
            <span class="choice-blurb">Where your files are kept for good</span>
          </label>
          <label class="choice">
            <input
              type="radio"
              name={`${id}-network`}
              checked={network === 'testnet'}
              onChange={() => edit(setNetwork)('testnet')}
            />
            <span class="choice-name">Test network</span>
            <span class="choice-blurb">For trying dStor out</span>
          </label>
          <label class="choice">
            <input
              type="radio"
              name={`${id}-network`}
              checked={network === 'custom'}
              onChange={() => edit(setNetwork)('custom')}
            />
            <span class="choice-name">Another server</span>
            <span class="choice-blurb">Type its address below</span>
          </label>
        </fieldset>
      )}

      <div class="field">
        <label for={`${id}-server`}>Server address</label>
        {/* A network's address is shown, not typed: people see where their files go. */}
        <input
          id={`${id}-server`}
          type="url"
          inputMode="url"
          autocomplete="url"
          spellcheck={false}
          placeholder="https://files.example.com"
          readOnly={preset}
          aria-describedby={preset ? `${id}-server-hint` : undefined}
          value={address}
          onInput={(e) => edit(setServer)(e.currentTarget.value)}
        />
        {preset && (
          <p id={`${id}-server-hint`} class="hint">
            Filled in for the network you chose. To type another address, choose “Another server”.
          </p>
        )}
      </div>

      {insecureRemote && (
        <label class="check">
          <input
            type="checkbox"
            checked={insecure}
            onChange={(e) => edit(setInsecure)(e.currentTarget.checked)}
          />
          Connect without encryption (http). Only for a server on your own network: your password or
          key would cross the network unprotected.
        </label>
      )}

      <fieldset class="choices compact">
        <legend>How do you sign in?</legend>
        {SIGN_INS[backend].map((option) => (
          <label class="choice" key={option.auth}>
            <input
              type="radio"
              name={`${id}-auth`}
              checked={auth === option.auth}
              onChange={() => edit(setAuth)(option.auth)}
            />
            <span class="choice-name">{option.label}</span>
          </label>
        ))}
      </fieldset>

      {needsUser(auth) && (
        <div class="field">
          <label for={`${id}-user`}>{backend === 'dstor' ? 'E-mail' : 'User name'}</label>
          <input
            id={`${id}-user`}
            type="text"
            inputMode={backend === 'dstor' ? 'email' : 'text'}
            autocomplete="username"
            spellcheck={false}
            value={user}
            onInput={(e) => edit(setUser)(e.currentTarget.value)}
          />
        </div>
      )}

      <div class="field">
        <label for={`${id}-secret`}>{secretLabel(auth)}</label>
        <input
          id={`${id}-secret`}
          type="password"
          autocomplete="off"
          spellcheck={false}
          value={secret}
          onInput={(e) => edit(setSecret)(e.currentTarget.value)}
        />
        <p class="hint">Kept in this computer’s keychain, never in Ferry’s files.</p>
      </div>

      <p
        class={`message ${verdict ? (verdict.ok ? 'ok' : 'bad') : ''}`}
        role="status"
        aria-live="polite"
      >
        {busy === 'test' ? 'Testing the connection…' : busy === 'save' ? 'Connecting…' : ''}
        {verdict?.message}
      </p>

      <div class="actions">
        <button
          type="button"
          class="button"
          onClick={test}
          aria-disabled={busy !== undefined || undefined}
        >
          Test connection
        </button>
        <button
          type="submit"
          class="button primary"
          aria-disabled={busy !== undefined || undefined}
        >
          {props.submitLabel}
        </button>
        {props.onCancel && (
          <button type="button" class="button quiet" onClick={props.onCancel}>
            Cancel
          </button>
        )}
      </div>
    </form>
  )
}
