import { useState } from 'preact/hooks'
import type { AccountView, FolderView } from '../../preload/contract.ts'
import { call } from '../ferry.ts'

export interface FolderPickerProps {
  readonly accounts: readonly AccountView[]
  readonly submitLabel: string
  readonly onAdded?: (folder: FolderView) => void
  readonly onCancel?: () => void
}

/** Choosing a folder with the system's picker, and which storage it goes to. */
export function FolderPicker({ accounts, submitLabel, onAdded, onCancel }: FolderPickerProps) {
  const [path, setPath] = useState<string | null>(null)
  const [chosenAccount, setChosenAccount] = useState<string>()
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<string>()
  // The newest account is the likely one (just connected); a removed choice falls back to it.
  const accountId = accounts.some((a) => a.id === chosenAccount)
    ? chosenAccount
    : accounts[accounts.length - 1]?.id

  const choose = async (): Promise<void> => {
    setError(undefined)
    const result = await call('folder:choose')
    if (!result.ok) setError(result.message)
    else if (result.value !== null) setPath(result.value)
  }

  const add = async (): Promise<void> => {
    if (!path || !accountId || busy) return
    setBusy(true)
    const result = await call('folder:add', { path, accountId })
    setBusy(false)
    if (!result.ok) return setError(result.message)
    setPath(null)
    onAdded?.(result.value)
  }

  return (
    <div class="folder-picker">
      <div class="picked">
        <p class="picked-path" aria-live="polite">
          {path ? (
            <>
              <span class="muted">Chosen folder: </span>
              <span class="path">{path}</span>
            </>
          ) : (
            <span class="muted">No folder chosen yet.</span>
          )}
        </p>
        <button type="button" class="button" onClick={choose}>
          {path ? 'Choose another folder…' : 'Choose folder…'}
        </button>
      </div>
      {accounts.length > 1 && (
        <div class="field">
          <label for="folder-account">Store it in</label>
          <select
            id="folder-account"
            value={accountId}
            onChange={(e) => setChosenAccount(e.currentTarget.value)}
          >
            {accounts.map((account) => (
              <option key={account.id} value={account.id}>
                {account.label}
              </option>
            ))}
          </select>
        </div>
      )}
      {error && (
        <p class="message bad" role="alert">
          {error}
        </p>
      )}
      <div class="actions">
        <button
          type="button"
          class="button primary"
          onClick={add}
          disabled={!path || !accountId}
          // Busy: still focusable (a disabled button would lose the keyboard focus).
          aria-disabled={busy || undefined}
        >
          {submitLabel}
        </button>
        {onCancel && (
          <button type="button" class="button quiet" onClick={onCancel}>
            Cancel
          </button>
        )}
      </div>
    </div>
  )
}
