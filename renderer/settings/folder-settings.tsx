import { useEffect, useRef, useState } from 'preact/hooks'
import type { AppState, FolderView } from '../../preload/contract.ts'
import { ConfirmDialog } from '../components/confirm-dialog.tsx'
import { FolderPicker } from '../components/folder-picker.tsx'
import { call } from '../ferry.ts'
import { folderName } from '../format.ts'
import { ExcludeEditor } from './exclude-editor.tsx'

/** Settings › Folders: add, pause, remove, and what to leave out of each. */
export function FolderSettings({ app }: { readonly app: AppState }) {
  const [adding, setAdding] = useState(false)
  const [message, setMessage] = useState<string>()
  const addButton = useRef<HTMLButtonElement>(null)
  const wasAdding = useRef(false)

  // The form goes away once done or cancelled: focus goes back to the button that opened it,
  // not to the top of the window.
  useEffect(() => {
    if (wasAdding.current && !adding) addButton.current?.focus()
    wasAdding.current = adding
  }, [adding])

  return (
    <section class="settings-section" aria-labelledby="settings-folders">
      <div class="section-head">
        <h2 id="settings-folders">Folders</h2>
        {!adding && app.accounts.length > 0 && (
          <button
            ref={addButton}
            type="button"
            class="button"
            onClick={() => {
              setAdding(true)
              setMessage(undefined)
            }}
          >
            Add folder
          </button>
        )}
      </div>
      {app.accounts.length === 0 && (
        <p class="muted">Connect a storage first (under Storage accounts below).</p>
      )}
      {adding && (
        <div class="card">
          <h3>Add a folder</h3>
          <FolderPicker
            accounts={app.accounts}
            submitLabel="Add folder"
            onAdded={(folder) => {
              setAdding(false)
              setMessage(`${folderName(folder.path)} is synced from now on.`)
            }}
            onCancel={() => setAdding(false)}
          />
        </div>
      )}
      <p class="message ok" role="status">
        {message}
      </p>
      {app.folders.length === 0 ? (
        <p class="muted">No folders yet.</p>
      ) : (
        <ul class="settings-list">
          {app.folders.map((folder) => (
            <FolderItem key={folder.id} app={app} folder={folder} />
          ))}
        </ul>
      )}
    </section>
  )
}

function FolderItem({ app, folder }: { readonly app: AppState; readonly folder: FolderView }) {
  const [confirming, setConfirming] = useState(false)
  const [error, setError] = useState<string>()
  const name = folderName(folder.path)
  const account = app.accounts.find((a) => a.id === folder.accountId)

  const togglePause = async (): Promise<void> => {
    const result = await call('folder:pause', folder.id, !folder.paused)
    setError(result.ok ? undefined : result.message)
  }

  return (
    <li class="card">
      <h3>{name}</h3>
      <p class="path">{folder.path}</p>
      <p class="muted small">
        {account ? `Stored in ${account.label}` : 'Its storage account is gone'}
        {folder.remotePath && folder.remotePath !== '/' ? ` · ${folder.remotePath}` : ''}
        {folder.paused ? ' · Paused' : ''}
      </p>
      <div class="actions">
        <button
          type="button"
          class="button"
          aria-label={`${folder.paused ? 'Resume' : 'Pause'} ${name}`}
          onClick={togglePause}
        >
          {folder.paused ? 'Resume' : 'Pause'}
        </button>
        <button
          type="button"
          class="button danger-quiet"
          aria-label={`Stop syncing ${name}`}
          onClick={() => setConfirming(true)}
        >
          Stop syncing
        </button>
      </div>
      {error && (
        <p class="message bad" role="alert">
          {error}
        </p>
      )}
      <details class="excludes">
        <summary>
          Leave files out
          {folder.excludes.length > 0 ? ` (${folder.excludes.length} saved)` : ''}
        </summary>
        <ExcludeEditor folder={folder} />
      </details>
      {confirming && (
        <ConfirmDialog
          title={`Stop syncing ${name}?`}
          confirmLabel="Stop syncing"
          onClose={() => setConfirming(false)}
          onConfirm={async () => {
            const result = await call('folder:remove', folder.id)
            return result.ok ? undefined : result.message
          }}
        >
          <p>
            Ferry stops watching this folder. Nothing is deleted: the files stay on this computer,
            and what was already stored stays on the server.
          </p>
        </ConfirmDialog>
      )}
    </li>
  )
}
