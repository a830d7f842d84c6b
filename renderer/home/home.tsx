import { useState } from 'preact/hooks'
import type { AccountView, AppState, SyncStatus } from '../../preload/contract.ts'
import { SignInForm } from '../components/sign-in-form.tsx'
import { StateIcon, toneOf } from '../components/state-icon.tsx'
import { call } from '../ferry.ts'
import { formatBytes, formatSpeed, plural } from '../format.ts'
import { ActivityFeed } from './activity-feed.tsx'
import { FailedFiles } from './failed-files.tsx'
import { FolderCard } from './folder-card.tsx'
import { QueueList } from './queue-list.tsx'

export interface HomeProps {
  readonly app: AppState
  readonly status: SyncStatus
}

/** The everyday screen: how things stand, each folder, what needs the user, the queue. */
export function Home({ app, status }: HomeProps) {
  const statusById = new Map(status.folders.map((f) => [f.id, f]))
  return (
    <div class="screen home">
      <h1 tabIndex={-1}>Overview</h1>
      <StatusPanel app={app} status={status} />
      <SignInNotices app={app} status={status} />

      <section aria-labelledby="folders-title">
        <h2 id="folders-title">Folders</h2>
        <ul class="folder-cards">
          {app.folders.map((folder) => (
            <FolderCard
              key={folder.id}
              folder={folder}
              status={statusById.get(folder.id)}
              account={app.accounts.find((a) => a.id === folder.accountId)}
            />
          ))}
        </ul>
      </section>

      {status.failed.length > 0 && <FailedFiles failed={status.failed} folders={app.folders} />}

      <div class="columns">
        <QueueList folders={app.folders} transfers={status.transfers} revision={status.updatedAt} />
        <ActivityFeed activity={status.activity} folders={app.folders} />
      </div>
    </div>
  )
}

/**
 * The status's own line, except that accounts are named as everywhere else in the window
 * ("Kala at host"), whatever the engine calls them.
 */
function statusLine(app: AppState, status: SyncStatus): string {
  if (status.state !== 'needs-sign-in') return status.message
  const blocked = new Set(
    status.folders.filter((f) => f.state === 'needs-sign-in').map((f) => f.accountId),
  )
  const labels = app.accounts.filter((a) => blocked.has(a.id)).map((a) => a.label)
  return labels.length > 0 ? `Sign in again to ${labels.join(' and ')}` : status.message
}

/** The one line that says how things stand, with the numbers behind it and "Pause all". */
function StatusPanel({ app, status }: HomeProps) {
  const [error, setError] = useState<string>()
  const tone = toneOf(status.state)
  const total = status.bytesDone + status.bytesRemaining
  const moving = status.state === 'syncing' && total > 0

  const togglePause = async (): Promise<void> => {
    const result = await call('sync:pause-all', !app.paused)
    setError(result.ok ? undefined : result.message)
  }

  return (
    <section class={`status-panel tone-${tone}`} aria-label="Sync status">
      <div class="status-main">
        <StateIcon tone={tone} />
        <p id="status-line" class="status-line" role="status" aria-live="polite">
          {statusLine(app, status)}
        </p>
      </div>
      {moving ? (
        <>
          <progress
            class="overall"
            value={status.bytesDone}
            max={total}
            aria-label="Overall progress"
          />
          <p class="status-detail">
            {formatBytes(status.bytesDone)} of {formatBytes(total)}
            {status.bytesPerSecond > 0 ? ` · ${formatSpeed(status.bytesPerSecond)}` : ''}
          </p>
        </>
      ) : (
        <p class="status-detail">
          {status.filesDone > 0
            ? `${plural(status.filesDone, 'file')} stored since Ferry started`
            : plural(app.folders.length, 'folder') + ' kept safe'}
        </p>
      )}
      <div class="actions">
        <button type="button" class="button" onClick={togglePause}>
          {app.paused ? 'Resume all' : 'Pause all'}
        </button>
      </div>
      {error && (
        <p class="message bad" role="alert">
          {error}
        </p>
      )}
    </section>
  )
}

/** One notice per account whose server no longer accepts its key or password. */
function SignInNotices({ app, status }: HomeProps) {
  // Derived from the live status: the account list is only re-sent when settings change.
  const blocked = new Map<string, string | undefined>()
  for (const folder of status.folders) {
    if (folder.state === 'needs-sign-in') blocked.set(folder.accountId, folder.message)
  }
  const accounts = app.accounts.filter((a) => blocked.has(a.id))
  if (accounts.length === 0) return null
  return (
    <>
      {accounts.map((account) => (
        <SignInNotice key={account.id} account={account} detail={blocked.get(account.id)} />
      ))}
    </>
  )
}

function SignInNotice({ account, detail }: { account: AccountView; detail: string | undefined }) {
  const [open, setOpen] = useState(false)
  const titleId = `signin-${account.id}`
  return (
    <section class="notice tone-bad" aria-labelledby={titleId}>
      <h2 id={titleId}>
        <StateIcon tone="bad" /> Sign in again to {account.label}
      </h2>
      <p>
        The server no longer accepts the saved {account.auth === 'api-key' ? 'key' : 'sign-in'}.
        Ferry is waiting and will carry on where it stopped once you sign in again.
      </p>
      {detail && <p class="muted small">{detail}</p>}
      {open ? (
        <SignInForm
          account={account}
          onSignedIn={() => setOpen(false)}
          onCancel={() => setOpen(false)}
        />
      ) : (
        <button type="button" class="button primary" onClick={() => setOpen(true)}>
          Sign in again
        </button>
      )}
    </section>
  )
}
