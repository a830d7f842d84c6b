import { useEffect, useRef, useState } from 'preact/hooks'
import type { AppState } from '../../preload/contract.ts'
import { AccountForm } from '../components/account-form.tsx'
import { FolderPicker } from '../components/folder-picker.tsx'
import { call } from '../ferry.ts'

/**
 * First run: connect a storage, then choose a folder. The step follows the app state (an account
 * saved elsewhere moves it on), and focus follows the step so keyboard users land on it.
 */
export function Onboarding({ app }: { readonly app: AppState }) {
  const [connectAnother, setConnectAnother] = useState(false)
  const step = app.accounts.length === 0 || connectAnother ? 'storage' : 'folder'
  const heading = useRef<HTMLHeadingElement>(null)
  const firstStep = useRef(step)

  useEffect(() => {
    if (step !== firstStep.current) heading.current?.focus()
    firstStep.current = step
  }, [step])

  return (
    <div class="screen onboarding">
      <h1 tabIndex={-1}>Welcome to Ferry</h1>
      <p class="lead">
        Ferry keeps the folders you choose safely stored, and keeps storing new and changed files
        from then on. Nothing on this computer is changed or deleted.
      </p>
      <ol class="steps">
        <li aria-current={step === 'storage' ? 'step' : undefined}>Connect your storage</li>
        <li aria-current={step === 'folder' ? 'step' : undefined}>Choose a folder</li>
      </ol>

      {step === 'storage' ? (
        <div class="onboarding-body">
          <section class="card" aria-labelledby="step-storage">
            <h2 id="step-storage" ref={heading} tabIndex={-1}>
              Step 1 of 2: Connect your storage
            </h2>
            <AccountForm
              submitLabel="Save and continue"
              onSaved={() => setConnectAnother(false)}
              {...(app.accounts.length > 0 ? { onCancel: () => setConnectAnother(false) } : {})}
            />
          </section>
          {app.sandboxAvailable && app.accounts.length === 0 && <SandboxOffer />}
        </div>
      ) : (
        <section class="card" aria-labelledby="step-folder">
          <h2 id="step-folder" ref={heading} tabIndex={-1}>
            Step 2 of 2: Choose a folder
          </h2>
          <p>
            Ferry uploads everything in it, then keeps watching it: new and changed files are stored
            within seconds.
          </p>
          <FolderPicker accounts={app.accounts} submitLabel="Start keeping it safe" />
          <p>
            <button type="button" class="button quiet" onClick={() => setConnectAnother(true)}>
              Connect a different storage
            </button>
          </p>
        </section>
      )}
    </div>
  )
}

/** Development builds: a storage on this computer, to try Ferry without an account anywhere. */
function SandboxOffer() {
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<string>()

  const start = async (): Promise<void> => {
    if (busy) return
    setBusy(true)
    setError(undefined)
    const result = await call('sandbox:start')
    setBusy(false)
    if (!result.ok) setError(result.message)
  }

  return (
    <section class="card sandbox" aria-labelledby="sandbox-title">
      <h2 id="sandbox-title">Just looking around?</h2>
      <p>Try Ferry with storage servers that run on this computer. Nothing leaves it.</p>
      <p class="message" role="status" aria-live="polite">
        {busy ? 'Starting the sandbox…' : ''}
      </p>
      {error && (
        <p class="message bad" role="alert">
          {error}
        </p>
      )}
      {/* aria-disabled, not disabled: a disabled button would lose the focus. */}
      <button type="button" class="button" onClick={start} aria-disabled={busy || undefined}>
        Try it with the local sandbox
      </button>
    </section>
  )
}
