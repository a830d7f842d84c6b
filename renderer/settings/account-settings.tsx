import { useEffect, useRef, useState } from 'preact/hooks'
import type { AccountView, AppState, SyncStatus } from '../../preload/contract.ts'
import { AccountForm } from '../components/account-form.tsx'
import { ConfirmDialog } from '../components/confirm-dialog.tsx'
import { SignInForm } from '../components/sign-in-form.tsx'
import { StateIcon } from '../components/state-icon.tsx'
import { call } from '../ferry.ts'
import { plural } from '../format.ts'

type AccountState = AccountView['state']

/** The account's state now: its folders' live status says more than the last app state. */
function accountState(account: AccountView, status: SyncStatus): AccountState {
  const states = status.folders.filter((f) => f.accountId === account.id).map((f) => f.state)
  if (states.length === 0) return account.state
  if (states.includes('needs-sign-in')) return 'needs-sign-in'
  if (states.includes('offline')) return 'offline'
  return 'ok'
}

const STATE_TEXT: Record<AccountState, string> = {
  ok: 'Connected',
  offline: 'Cannot reach the server right now — Ferry keeps trying',
  'needs-sign-in': 'Needs you to sign in again',
}

/** Settings › Storage accounts: add, sign in again, remove (which clears the saved secret). */
export function AccountSettings({
  app,
  status,
}: {
  readonly app: AppState
  readonly status: SyncStatus
}) {
  const [adding, setAdding] = useState(false)
  const [message, setMessage] = useState<string>()
  const addButton = useRef<HTMLButtonElement>(null)
  const wasAdding = useRef(false)

  // The form goes away once done or cancelled: focus goes back to the button that opened it.
  useEffect(() => {
    if (wasAdding.current && !adding) addButton.current?.focus()
    wasAdding.current = adding
  }, [adding])

  return (
    <section class="settings-section" aria-labelledby="settings-accounts">
      <div class="section-head">
        <h2 id="settings-accounts">Storage accounts</h2>
        {!adding && (
          <button
            ref={addButton}
            type="button"
            class="button"
            onClick={() => {
              setAdding(true)
              setMessage(undefined)
            }}
          >
            Add storage
          </button>
        )}
      </div>
      {adding && (
        <div class="card">
          <h3>Connect a storage</h3>
          <AccountForm
            submitLabel="Save"
            onSaved={(account) => {
              setAdding(false)
              setMessage(`${account.label} is connected.`)
            }}
            onCancel={() => setAdding(false)}
          />
        </div>
      )}
      <p class="message ok" role="status">
        {message}
      </p>
      {app.accounts.length === 0 ? (
        <p class="muted">No storage connected.</p>
      ) : (
        <ul class="settings-list">
          {app.accounts.map((account) => (
            <AccountItem
              key={account.id}
              account={account}
              state={accountState(account, status)}
              folders={app.folders.filter((f) => f.accountId === account.id).length}
            />
          ))}
        </ul>
      )}
    </section>
  )
}

interface AccountItemProps {
  readonly account: AccountView
  readonly state: AccountState
  readonly folders: number
}

function AccountItem({ account, state, folders }: AccountItemProps) {
  const [signingIn, setSigningIn] = useState(false)
  const [confirming, setConfirming] = useState(false)
  const [message, setMessage] = useState<string>()
  const secret =
    account.auth === 'api-key' ? 'API key' : account.auth === 'token' ? 'token' : 'password'
  const tone = state === 'ok' ? 'ok' : state === 'offline' ? 'warn' : 'bad'

  return (
    <li class="card">
      <h3>{account.label}</h3>
      <p class="muted small">
        {account.user
          ? `Signed in as ${account.user}`
          : `Signed in with an ${account.auth === 'token' ? 'access token' : 'API key'}`}
        {' · '}
        {folders === 0 ? 'no folders' : plural(folders, 'folder')}
      </p>
      <p class={`folder-state tone-${tone}`}>
        <StateIcon tone={tone} />
        <span>{STATE_TEXT[state]}</span>
      </p>
      {signingIn ? (
        <SignInForm
          account={account}
          onSignedIn={(verdict) => {
            setSigningIn(false)
            setMessage(verdict)
          }}
          onCancel={() => setSigningIn(false)}
        />
      ) : (
        <div class="actions">
          <button
            type="button"
            class={`button${state === 'needs-sign-in' ? ' primary' : ''}`}
            aria-label={`Sign in again to ${account.label}`}
            onClick={() => {
              setSigningIn(true)
              setMessage(undefined)
            }}
          >
            Sign in again
          </button>
          <button
            type="button"
            class="button danger-quiet"
            aria-label={`Remove ${account.label}`}
            onClick={() => setConfirming(true)}
          >
            Remove
          </button>
        </div>
      )}
      <p class="message ok" role="status">
        {message}
      </p>
      {confirming && (
        <ConfirmDialog
          title={`Remove ${account.label}?`}
          confirmLabel="Remove"
          onClose={() => setConfirming(false)}
          onConfirm={async () => {
            const result = await call('account:remove', account.id)
            return result.ok ? undefined : result.message
          }}
        >
          <p>
            {folders > 0 ? `Ferry stops syncing its ${plural(folders, 'folder')} and ` : 'Ferry '}
            deletes its saved {secret} from this computer’s keychain.
          </p>
          <p>Nothing is deleted from the server or from this computer.</p>
        </ConfirmDialog>
      )}
    </li>
  )
}
