import { useEffect, useRef, useState } from 'preact/hooks'
import { Home } from './home/home.tsx'
import { Onboarding } from './onboarding/onboarding.tsx'
import { Settings } from './settings/settings.tsx'
import { useLiveState } from './use-live-state.ts'

type Screen = 'home' | 'settings'

/**
 * The window: a header with the two places to go, and the screen. Home shows onboarding until
 * there is an account and a folder. When the screen changes, focus moves to its heading so
 * keyboard and screen-reader users start at the top of what they asked for.
 */
export function App() {
  const live = useLiveState()
  const [screen, setScreen] = useState<Screen>('home')
  const setUp = live.kind === 'ready' && live.app.accounts.length > 0 && live.app.folders.length > 0
  const shown =
    live.kind !== 'ready'
      ? live.kind
      : screen === 'settings'
        ? 'settings'
        : setUp
          ? 'home'
          : 'onboarding'
  const previous = useRef(shown)

  useEffect(() => {
    if (previous.current !== shown && previous.current !== 'loading') {
      document.querySelector<HTMLElement>('main h1')?.focus()
    }
    previous.current = shown
  }, [shown])

  return (
    <>
      <header class="topbar">
        <p class="brand">
          <svg viewBox="0 0 24 24" width="24" height="24" aria-hidden="true">
            <path fill="currentColor" d="M3 15h18l-2.5 5h-13zm8-12 6 9H11zm-1 2v7H6z" />
          </svg>
          Ferry
        </p>
        {live.kind === 'ready' && (
          <nav aria-label="Main">
            <button
              type="button"
              class="nav-button"
              aria-current={screen === 'home' ? 'page' : undefined}
              onClick={() => setScreen('home')}
            >
              {setUp ? 'Home' : 'Get started'}
            </button>
            <button
              type="button"
              class="nav-button"
              aria-current={screen === 'settings' ? 'page' : undefined}
              onClick={() => setScreen('settings')}
            >
              Settings
            </button>
          </nav>
        )}
      </header>
      <main>
        {live.kind === 'loading' && (
          <p class="muted loading" role="status">
            Loading…
          </p>
        )}
        {live.kind === 'failed' && (
          <div class="screen">
            <h1 tabIndex={-1}>Ferry could not start</h1>
            <p class="message bad" role="alert">
              {live.message}
            </p>
          </div>
        )}
        {live.kind === 'ready' &&
          (shown === 'settings' ? (
            <Settings app={live.app} status={live.status} />
          ) : shown === 'home' ? (
            <Home app={live.app} status={live.status} />
          ) : (
            <Onboarding app={live.app} />
          ))}
      </main>
    </>
  )
}
