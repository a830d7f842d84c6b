import { useEffect, useState } from 'preact/hooks'
import type { ActivityEntry, FolderView } from '../../preload/contract.ts'
import { StateIcon, type Tone } from '../components/state-icon.tsx'
import { folderName, formatAgo, formatBytes } from '../format.ts'

const SHOWN = 12

const TONES: Record<ActivityEntry['kind'], Tone> = {
  uploaded: 'ok',
  failed: 'bad',
  removed: 'paused',
  skipped: 'paused',
  renamed: 'busy',
  info: 'busy',
}

function headline(entry: ActivityEntry, folder: string): string {
  const what = entry.relPath || folder
  switch (entry.kind) {
    case 'uploaded':
      return `Stored ${what}`
    case 'failed':
      return `Could not upload ${what}`
    case 'removed':
      return `${what} is gone from the folder`
    case 'skipped':
      return `Skipped ${what}`
    case 'renamed':
      return `${what} was renamed`
    case 'info':
      return entry.relPath ? what : folder
  }
}

/** The latest things Ferry did, newest first; relative times refresh on their own. */
export function ActivityFeed({
  activity,
  folders,
}: {
  readonly activity: readonly ActivityEntry[]
  readonly folders: readonly FolderView[]
}) {
  // Status updates re-render this often while busy; when all is quiet, "5 min ago" still moves.
  const [, tick] = useState(0)
  useEffect(() => {
    const timer = setInterval(() => tick((n) => n + 1), 30_000)
    return () => clearInterval(timer)
  }, [])
  const names = new Map(folders.map((f) => [f.id, folderName(f.path)]))
  const now = Date.now()

  return (
    <section class="card activity" aria-labelledby="activity-title">
      <h2 id="activity-title">Recent activity</h2>
      {activity.length === 0 ? (
        <p class="muted">Nothing yet.</p>
      ) : (
        <ol class="activity-list">
          {activity.slice(0, SHOWN).map((entry) => (
            <li key={entry.id ?? `${entry.at}-${entry.relPath}`}>
              <StateIcon tone={TONES[entry.kind]} />
              <div>
                <p class="file-line">
                  {headline(entry, names.get(entry.folderId) ?? 'A folder')}
                  {entry.bytes !== undefined && (
                    <span class="muted small"> · {formatBytes(entry.bytes)}</span>
                  )}
                </p>
                {/* An upload's own message only repeats the headline and the size. */}
                {entry.message && entry.kind !== 'uploaded' && (
                  <p class="muted small">{entry.message}</p>
                )}
                <p class="muted small">
                  <time dateTime={new Date(entry.at).toISOString()}>
                    {formatAgo(entry.at, now)}
                  </time>
                </p>
              </div>
            </li>
          ))}
        </ol>
      )}
    </section>
  )
}
