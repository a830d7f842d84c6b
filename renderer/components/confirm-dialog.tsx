import type { ComponentChildren } from 'preact'
import { useEffect, useId, useRef, useState } from 'preact/hooks'

export interface ConfirmDialogProps {
  readonly title: string
  readonly children: ComponentChildren
  readonly confirmLabel: string
  /** Runs on "confirm"; a message it returns is shown and keeps the dialog open. */
  readonly onConfirm: () => Promise<string | undefined>
  readonly onClose: () => void
}

/**
 * A modal question ("Remove this account?") on the native <dialog>: it traps focus, closes with
 * Escape, and gives focus back to the button that opened it (or the screen's heading when that
 * button went away with what it removed).
 */
export function ConfirmDialog(props: ConfirmDialogProps) {
  const ref = useRef<HTMLDialogElement>(null)
  const titleId = useId()
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<string>()

  useEffect(() => {
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null
    ref.current?.showModal()
    return () => {
      if (opener?.isConnected) opener.focus()
      else document.querySelector<HTMLElement>('main h1')?.focus()
    }
  }, [])

  const confirm = async (): Promise<void> => {
    if (busy) return
    setBusy(true)
    const message = await props.onConfirm()
    setBusy(false)
    if (message === undefined) props.onClose()
    else setError(message)
  }

  return (
    <dialog
      ref={ref}
      class="dialog"
      aria-labelledby={titleId}
      onCancel={(event) => {
        event.preventDefault()
        props.onClose()
      }}
    >
      <h2 id={titleId}>{props.title}</h2>
      <div class="dialog-body">{props.children}</div>
      {error && (
        <p class="message bad" role="alert">
          {error}
        </p>
      )}
      <div class="actions">
        <button type="button" class="button" onClick={props.onClose} autofocus>
          Cancel
        </button>
        {/* aria-disabled, not disabled: a disabled button would lose the focus. */}
        <button
          type="button"
          class="button danger"
          onClick={confirm}
          aria-disabled={busy || undefined}
        >
          {busy ? 'Working…' : props.confirmLabel}
        </button>
      </div>
    </dialog>
  )
}
