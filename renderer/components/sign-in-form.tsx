import { useEffect, useId, useRef, useState } from 'preact/hooks'
import type { AccountView, ConnectionVerdict } from '../../preload/contract.ts'
import { call } from '../ferry.ts'
import { secretLabel } from './account-form.tsx'

export interface SignInFormProps {
  readonly account: AccountView
  /** Called with the verdict's message once the server accepted the new secret. */
  readonly onSignedIn: (message: string) => void
  readonly onCancel: () => void
}

/** "Sign in again": a new key or password for an account, tested before it replaces the old one. */
export function SignInForm({ account, onSignedIn, onCancel }: SignInFormProps) {
  const id = useId()
  const field = useRef<HTMLInputElement>(null)
  const [secret, setSecret] = useState('')
  const [verdict, setVerdict] = useState<ConnectionVerdict>()
  const [busy, setBusy] = useState(false)

  useEffect(() => field.current?.focus(), [])

  const label =
    account.auth === 'api-key' || account.auth === 'token'
      ? `New ${secretLabel(account.auth).toLowerCase()}`
      : `Password for ${account.user ?? 'your account'}`

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault()
    if (busy) return
    if (!secret) return setVerdict({ ok: false, message: `Enter the ${label.toLowerCase()}.` })
    setBusy(true)
    setVerdict(undefined)
    const result = await call('account:sign-in', account.id, secret)
    setBusy(false)
    const outcome = result.ok ? result.value : { ok: false, message: result.message }
    if (outcome.ok) onSignedIn(outcome.message)
    else setVerdict(outcome)
  }

  return (
    <form class="sign-in-form" onSubmit={submit} noValidate>
      <div class="field">
        <label for={`${id}-secret`}>{label}</label>
        <input
          ref={field}
          id={`${id}-secret`}
          type="password"
          autocomplete="off"
          spellcheck={false}
          value={secret}
          onInput={(e) => {
            setSecret(e.currentTarget.value)
            setVerdict(undefined)
          }}
        />
      </div>
      <p class={`message ${verdict ? 'bad' : ''}`} role="status" aria-live="polite">
        {busy ? 'Checking…' : verdict?.message}
      </p>
      <div class="actions">
        {/* aria-disabled, not disabled: a disabled button would lose the focus. */}
        <button type="submit" class="button primary" aria-disabled={busy || undefined}>
          Sign in
        </button>
        <button type="button" class="button quiet" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  )
}
