import { useState } from 'preact/hooks'
import type { AppState, SyncStatus } from '../../preload/contract.ts'
import { call } from '../ferry.ts'
import { AccountSettings } from './account-settings.tsx'
import { FolderSettings } from './folder-settings.tsx'
import { BandwidthSettings, GeneralSettings } from './preference-settings.tsx'

export interface SettingsProps {
  readonly app: AppState
  readonly status: SyncStatus
}

/** Everything the user can change, one section after the other. */
export function Settings({ app, status }: SettingsProps) {
  return (
    <div class="screen settings">
      <h1 tabIndex={-1}>Settings</h1>
      <FolderSettings app={app} />
      <AccountSettings app={app} status={status} />
      <BandwidthSettings preferences={app.preferences} />
      <GeneralSettings preferences={app.preferences} />
      <AboutSettings version={app.version} />
    </div>
  )
}

function AboutSettings({ version }: { readonly version: string }) {
  const [message, setMessage] = useState<{ ok: boolean; text: string }>()
  const [busy, setBusy] = useState(false)

  const exportDiagnostics = async (): Promise<void> => {
    if (busy) return
    setBusy(true)
    const result = await call('diagnostics:export')
    setBusy(false)
    if (!result.ok) setMessage({ ok: false, text: result.message })
    else if (result.value) setMessage({ ok: true, text: `Saved to ${result.value}` })
    else setMessage(undefined)
  }

  return (
    <section class="settings-section" aria-labelledby="settings-about">
      <h2 id="settings-about">About</h2>
      <div class="card">
        <p>
          Ferry <span class="version">{version}</span>
        </p>
        <p class="muted">
          If something goes wrong, export diagnostics and send them to whoever helps you: logs,
          settings and status, with passwords and keys left out.
        </p>
        <div class="actions">
          {/* aria-disabled, not disabled: a disabled button would lose the focus. */}
          <button
            type="button"
            class="button"
            onClick={exportDiagnostics}
            aria-disabled={busy || undefined}
          >
            Export diagnostics…
          </button>
        </div>
        <p class={`message ${message ? (message.ok ? 'ok' : 'bad') : ''}`} role="status">
          {message?.text}
        </p>
      </div>
    </section>
  )
}
