import type { SyncState } from '../../preload/contract.ts'

/** How a state looks: the same tone and shape everywhere (colour is never the only cue). */
export type Tone = 'ok' | 'busy' | 'paused' | 'warn' | 'bad'

/** The tone of a sync state. */
export function toneOf(state: SyncState): Tone {
  switch (state) {
    case 'idle':
      return 'ok'
    case 'syncing':
    case 'scanning':
      return 'busy'
    case 'paused':
      return 'paused'
    case 'offline':
      return 'warn'
    case 'error':
    case 'needs-sign-in':
      return 'bad'
  }
}

const PATHS: Record<Tone, string> = {
  // A tick.
  ok: 'M9.5 16.2 5.8 12.5l-1.4 1.4 5.1 5.1 10.1-10.1-1.4-1.4z',
  // An arrow up into a line (uploading).
  busy: 'M11 19V8.8l-3.6 3.6L6 11l6-6 6 6-1.4 1.4L13 8.8V19zM5 4h14v2H5z',
  // Two bars.
  paused: 'M7 5h3.5v14H7zm6.5 0H17v14h-3.5z',
  // A cloud with a slash.
  warn: 'M3.3 2 2 3.3l3 3A6 6 0 0 0 6 18h10.7l2 2 1.3-1.3zM19.4 10A7 7 0 0 0 8.3 5.2l1.5 1.5A5 5 0 0 1 17.5 10l.1 1.1h1.1a3 3 0 0 1 1.2 5.7l1.4 1.4a5 5 0 0 0-1.9-8.2z',
  // An exclamation mark in a triangle.
  bad: 'M12 2 1 21h22zm-1 7h2v6h-2zm0 8h2v2h-2z',
}

/** A small icon for a tone, hidden from screen readers (the text next to it says the same). */
export function StateIcon({ tone }: { readonly tone: Tone }) {
  return (
    <svg class={`icon tone-${tone}`} viewBox="0 0 24 24" width="20" height="20" aria-hidden="true">
      <path fill="currentColor" d={PATHS[tone]} />
    </svg>
  )
}
