import { useId, useState } from 'preact/hooks'
import type { Preferences } from '../../preload/contract.ts'
import { call } from '../ferry.ts'
import { formatSpeed } from '../format.ts'

// The field is in MB/s (what people read on speed tests); settings keep bytes per second.
const MB = 1_000_000

/** Settings › Upload speed: a limit in MB/s, empty or 0 for none. */
export function BandwidthSettings({ preferences }: { readonly preferences: Preferences }) {
  const id = useId()
  const current = preferences.bandwidthLimit
  const [text, setText] = useState(current > 0 ? String(current / MB) : '')
  const [message, setMessage] = useState<{ ok: boolean; text: string }>()

  const save = async (event: Event): Promise<void> => {
    event.preventDefault()
    const value = text.trim() === '' ? 0 : Number(text.replace(',', '.'))
    if (!Number.isFinite(value) || value < 0) {
      return setMessage({
        ok: false,
        text: 'Enter a number of MB/s, or leave it empty for no limit.',
      })
    }
    const limit = Math.round(value * MB)
    const result = await call('preferences:set', { bandwidthLimit: limit })
    setMessage(
      result.ok
        ? {
            ok: true,
            text:
              limit > 0 ? `Saved: uploads use at most ${formatSpeed(limit)}.` : 'Saved: no limit.',
          }
        : { ok: false, text: result.message },
    )
  }

  return (
    <section class="settings-section" aria-labelledby="settings-speed">
      <h2 id="settings-speed">Upload speed</h2>
      <form class="card" onSubmit={save} noValidate>
        <p>
          Now:{' '}
          {current > 0 ? `at most ${formatSpeed(current)}` : 'as fast as the connection allows'}.
        </p>
        <div class="field inline">
          <label for={`${id}-limit`}>Limit uploads to (MB/s)</label>
          <input
            id={`${id}-limit`}
            type="number"
            inputMode="decimal"
            min="0"
            step="0.1"
            aria-describedby={`${id}-hint`}
            value={text}
            onInput={(e) => {
              setText(e.currentTarget.value)
              setMessage(undefined)
            }}
          />
          <button type="submit" class="button primary">
            Save limit
          </button>
        </div>
        <p id={`${id}-hint`} class="hint">
          Leave it empty or 0 for no limit. A limit leaves room for video calls and the like.
        </p>
        <p class={`message ${message ? (message.ok ? 'ok' : 'bad') : ''}`} role="status">
          {message?.text}
        </p>
      </form>
    </section>
  )
}

/** Settings › General: start with the computer, notifications. Each box saves at once. */
export function GeneralSettings({ preferences }: { readonly preferences: Preferences }) {
  const [message, setMessage] = useState<{ ok: boolean; text: string }>()

  const set = async (changes: Partial<Preferences>, done: string): Promise<void> => {
    const result = await call('preferences:set', changes)
    setMessage(result.ok ? { ok: true, text: done } : { ok: false, text: result.message })
  }

  return (
    <section class="settings-section" aria-labelledby="settings-general">
      <h2 id="settings-general">General</h2>
      <div class="card">
        <label class="check">
          <input
            type="checkbox"
            checked={preferences.launchAtLogin}
            onChange={(e) => {
              const on = e.currentTarget.checked
              void set(
                { launchAtLogin: on },
                on ? 'Ferry starts when you log in.' : 'Ferry no longer starts when you log in.',
              )
            }}
          />
          Start Ferry when I log in
        </label>
        <label class="check">
          <input
            type="checkbox"
            checked={preferences.notifications}
            onChange={(e) => {
              const on = e.currentTarget.checked
              void set(
                { notifications: on },
                on ? 'Notifications are on.' : 'Notifications are off.',
              )
            }}
          />
          Tell me when files cannot be uploaded or I need to sign in again
        </label>
        <p class={`message ${message ? (message.ok ? 'ok' : 'bad') : ''}`} role="status">
          {message?.text}
        </p>
      </div>
    </section>
  )
}
