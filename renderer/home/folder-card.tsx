import { useState } from 'preact/hooks'
import type { AccountView, FolderStatus, FolderView } from '../../preload/contract.ts'
import { StateIcon, toneOf } from '../components/state-icon.tsx'
import { call } from '../ferry.ts'
import { folderName, formatBytes, plural } from '../format.ts'

/** What a folder is doing, in words. */
export function folderStateText(
  folder: FolderStatus | undefined,
  paused: boolean,
  account: AccountView | undefined,
): string {
  if (!folder) return paused ? 'Paused' : 'Getting ready'
  switch (folder.state) {
    case 'idle':
      return folder.failed > 0
        ? `Up to date, except ${plural(folder.failed, 'file')} that could not be uploaded`
        : 'Up to date'
    case 'scanning':
      return 'Looking for changes'
    case 'syncing':
      return folder.filesRemaining > 0
        ? `Uploading ${plural(folder.filesRemaining, 'file')}`
        : 'Uploading'
    case 'paused':
      return 'Paused'
    case 'offline':
      return 'Offline — will retry'
    case 'needs-sign-in':
      return `Waiting for you to sign in again to ${account?.label ?? folder.accountLabel ?? 'its storage'}`
    case 'error':
      return folder.message ? `Can’t sync: ${folder.message}` : 'Can’t sync'
  }
}

export interface FolderCardProps {
  readonly folder: FolderView
  readonly status: FolderStatus | undefined
  readonly account: AccountView | undefined
}

/** One synced folder on Home: its state, its progress, pause/resume and "Open". */
export function FolderCard({ folder, status, account }: FolderCardProps) {
  const [error, setError] = useState<string>()
  const name = folderName(folder.path)
  const state = status?.state ?? (folder.paused ? 'paused' : 'scanning')
  const tone = toneOf(state)
  const total = (status?.bytesDone ?? 0) + (status?.bytesRemaining ?? 0)

  const run = async (work: Promise<{ ok: boolean; message?: string }>): Promise<void> => {
    const result = await work
    setError(result.ok ? undefined : result.message)
  }

  return (
    <li class="card folder-card">
      <h3>{name}</h3>
      <p class="path" title={folder.path}>
        {folder.path}
      </p>
      {account && <p class="muted small">Stored in {account.label}</p>}
      <p class={`folder-state tone-${tone}`}>
        <StateIcon tone={tone} />
        <span>{folderStateText(status, folder.paused, account)}</span>
      </p>
      {status?.degraded && <p class="muted small">{status.degraded}</p>}
      {state === 'syncing' && total > 0 && status && (
        <>
          <progress value={status.bytesDone} max={total} aria-label={`${name}: progress`} />
          <p class="muted small">
            {formatBytes(status.bytesDone)} of {formatBytes(total)}
          </p>
        </>
      )}
      {status && status.filesDone > 0 && (
        <p class="muted small">{plural(status.filesDone, 'file')} stored since Ferry started</p>
      )}
      <div class="actions">
        <button
          type="button"
          class="button"
          aria-label={`${folder.paused ? 'Resume' : 'Pause'} ${name}`}
          onClick={() => run(call('folder:pause', folder.id, !folder.paused))}
        >
          {folder.paused ? 'Resume' : 'Pause'}
        </button>
        <button
          type="button"
          class="button quiet"
          aria-label={`Open ${name}`}
          onClick={() => run(call('folder:open', folder.id))}
        >
          Open
        </button>
      </div>
      {error && (
        <p class="message bad" role="alert">
          {error}
        </p>
      )}
    </li>
  )
}
