import { useState } from 'preact/hooks'
import type { FailedFile, FolderView } from '../../preload/contract.ts'
import { call } from '../ferry.ts'
import { folderName, formatDuration, plural } from '../format.ts'

// A long list helps nobody; "Retry all" covers the rest.
const SHOWN = 50

export interface FailedFilesProps {
  readonly failed: readonly FailedFile[]
  readonly folders: readonly FolderView[]
}

/** Files Ferry could not upload, with the reason and a Retry button each. */
export function FailedFiles({ failed, folders }: FailedFilesProps) {
  const [error, setError] = useState<string>()
  const [retrying, setRetrying] = useState<ReadonlySet<string>>(new Set())
  const names = new Map(folders.map((f) => [f.id, folderName(f.path)]))
  const now = Date.now()

  const retry = async (folderId: string, relPath?: string): Promise<void> => {
    const key = `${folderId}/${relPath ?? ''}`
    if (retrying.has(key)) return
    setRetrying((keys) => new Set(keys).add(key))
    // Exactly the arguments the channel takes: an explicit `undefined` would not validate.
    const result =
      relPath === undefined
        ? await call('queue:retry', folderId)
        : await call('queue:retry', folderId, relPath)
    setRetrying((keys) => {
      const next = new Set(keys)
      next.delete(key)
      return next
    })
    setError(result.ok ? undefined : result.message)
  }

  const retryAll = async (): Promise<void> => {
    for (const folderId of new Set(failed.map((f) => f.folderId))) await retry(folderId)
  }

  return (
    <section class="card failed" aria-labelledby="failed-title">
      <div class="section-head">
        <h2 id="failed-title">Could not upload {plural(failed.length, 'file')}</h2>
        <button type="button" class="button" onClick={retryAll}>
          Retry all
        </button>
      </div>
      <p class="muted">
        Ferry tries these again by itself from time to time. You can also try now.
      </p>
      <ul class="failed-list">
        {failed.slice(0, SHOWN).map((file) => {
          const key = `${file.folderId}/${file.relPath}`
          return (
            <li key={key}>
              <div class="failed-text">
                <p class="file-line">
                  <span class="file">{file.relPath}</span>
                  <span class="muted small"> in {names.get(file.folderId) ?? 'a folder'}</span>
                </p>
                <p class="reason">{file.reason}</p>
                <p class="muted small">
                  Tried {plural(file.attempts, 'time')}
                  {file.nextAttemptAt && file.nextAttemptAt > now
                    ? ` · next try in ${formatDuration((file.nextAttemptAt - now) / 1000)}`
                    : ''}
                </p>
                {/* The server's own words and codes, for whoever helps with the problem. */}
                {file.detail && (
                  <details class="tech-detail">
                    <summary>Technical details</summary>
                    <p>{file.detail}</p>
                  </details>
                )}
              </div>
              <button
                type="button"
                class="button"
                aria-label={`Retry ${file.relPath}`}
                // Not `disabled`: the button keeps the keyboard focus while it works.
                aria-disabled={retrying.has(key) || undefined}
                onClick={() => retry(file.folderId, file.relPath)}
              >
                Retry
              </button>
            </li>
          )
        })}
      </ul>
      {failed.length > SHOWN && (
        <p class="muted">And {plural(failed.length - SHOWN, 'more file')}.</p>
      )}
      {error && (
        <p class="message bad" role="alert">
          {error}
        </p>
      )}
    </section>
  )
}
