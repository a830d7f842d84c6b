import { useEffect, useId, useRef, useState } from 'preact/hooks'
import type { ExcludePreview, FolderView } from '../../preload/contract.ts'
import { call } from '../ferry.ts'
import { plural } from '../format.ts'

const PREVIEW_DELAY_MS = 300
const PREVIEW_SHOWN = 20

/** One pattern per line; blank lines mean nothing. */
export function parsePatterns(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0)
}

/**
 * A folder's exclude patterns with a live preview of what they leave out (asked from main as
 * the user types, against the real folder), saved only when the user says so.
 */
export function ExcludeEditor({ folder }: { readonly folder: FolderView }) {
  const id = useId()
  const [text, setText] = useState(folder.excludes.join('\n'))
  const [preview, setPreview] = useState<ExcludePreview>()
  const [previewError, setPreviewError] = useState<string>()
  const [saved, setSaved] = useState<string>()
  const asked = useRef(0)
  const patterns = parsePatterns(text)
  const key = patterns.join('\n')
  const dirty = key !== folder.excludes.join('\n')

  useEffect(() => {
    const ticket = ++asked.current
    const timer = setTimeout(async () => {
      const result = await call('folder:preview-excludes', folder.id, patterns)
      // Typing on while a preview was on its way: only the latest one is shown.
      if (ticket !== asked.current) return
      if (result.ok) {
        setPreview(result.value)
        setPreviewError(undefined)
      } else setPreviewError(result.message)
    }, PREVIEW_DELAY_MS)
    return () => clearTimeout(timer)
  }, [key, folder.id])

  const save = async (event: Event): Promise<void> => {
    event.preventDefault()
    const result = await call('folder:set-excludes', folder.id, patterns)
    setSaved(
      result.ok
        ? 'Saved. Ferry leaves these out from now on (files already stored stay stored).'
        : result.message,
    )
  }

  return (
    <form class="exclude-editor" onSubmit={save} noValidate>
      <div class="field">
        <label for={`${id}-patterns`}>Leave out (one pattern per line)</label>
        <textarea
          id={`${id}-patterns`}
          rows={4}
          spellcheck={false}
          aria-describedby={`${id}-hint`}
          value={text}
          onInput={(e) => {
            setText(e.currentTarget.value)
            setSaved(undefined)
          }}
        />
        <div id={`${id}-hint`} class="hint">
          <p>Each line names files or folders Ferry should not upload. For example:</p>
          <ul class="hint-examples">
            <li>
              <code>*.log</code> leaves out every file whose name ends in .log
            </li>
            <li>
              <code>Drafts/</code> leaves out every folder called Drafts, with everything in it
            </li>
            <li>
              <code>!notes.log</code> keeps notes.log even though a line above leaves it out
            </li>
          </ul>
          <p>System and temporary files (such as .DS_Store and *.tmp) are always left out.</p>
        </div>
      </div>
      <div class="preview" aria-live="polite">
        {previewError ? (
          <p class="message bad">{previewError}</p>
        ) : preview ? (
          <>
            <p class="preview-summary">
              {preview.excludedCount === 0
                ? `Nothing is left out (${plural(preview.scanned, 'item')} looked at).`
                : `Leaves out ${plural(preview.excludedCount, 'item')} of ${preview.scanned.toLocaleString('en-US')}:`}
            </p>
            {preview.excluded.length > 0 && (
              <ul class="preview-list">
                {preview.excluded.slice(0, PREVIEW_SHOWN).map((path) => (
                  <li key={path} class="path">
                    {path}
                  </li>
                ))}
                {preview.excludedCount > PREVIEW_SHOWN && (
                  <li class="muted">and {plural(preview.excludedCount - PREVIEW_SHOWN, 'more')}</li>
                )}
              </ul>
            )}
          </>
        ) : (
          <p class="muted">Looking at the folder…</p>
        )}
      </div>
      <div class="actions">
        <button type="submit" class="button primary" disabled={!dirty}>
          Save patterns
        </button>
      </div>
      <p class="message" role="status">
        {saved}
      </p>
    </form>
  )
}
