import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks'
import type { FolderView, QueueItem, TransferStatus } from '../../preload/contract.ts'
import { call } from '../ferry.ts'
import {
  fileName,
  folderName,
  formatBytes,
  formatDuration,
  formatSpeed,
  plural,
} from '../format.ts'

/** Every row has this height, so the list knows where row N is without measuring it. */
export const ROW_HEIGHT = 60
/** The viewport grows with the queue up to this many rows, then scrolls. */
const VIEW_ROWS = 7
const PAGE_SIZE = 100
/** Rows rendered above and below the visible ones, so a quick scroll does not show gaps. */
const OVERSCAN = 6
/** The queue changes with every upload; visible pages are fetched again at most this often. */
const REFRESH_MS = 500

interface CachedPage {
  readonly items: readonly QueueItem[]
  /** The refresh round it was fetched in: older ones are shown but fetched again. */
  readonly round: number
}

export interface QueueListProps {
  readonly folders: readonly FolderView[]
  readonly transfers: readonly TransferStatus[]
  /** Changes whenever the status does: the queue may have changed with it. */
  readonly revision: number
}

/**
 * The upload queue, however long: only the rows in view (plus a few) are in the DOM, and only
 * the pages of the queue they show are fetched from main, as the user scrolls.
 */
export function QueueList({ folders, transfers, revision }: QueueListProps) {
  const viewport = useRef<HTMLDivElement>(null)
  const pages = useRef(new Map<number, CachedPage>())
  const fetching = useRef(new Set<number>())
  const round = useRef(0)
  const lastRound = useRef(0)
  const roundTimer = useRef<ReturnType<typeof setTimeout>>(undefined)
  const frame = useRef(0)
  const alive = useRef(true)
  const [scrollTop, setScrollTop] = useState(0)
  const [viewHeight, setViewHeight] = useState(ROW_HEIGHT * VIEW_ROWS)
  const [total, setTotal] = useState<number>()
  const [error, setError] = useState<string>()
  const [, setLoaded] = useState(0)

  useEffect(
    () => () => {
      alive.current = false
      clearTimeout(roundTimer.current)
      cancelAnimationFrame(frame.current)
    },
    [],
  )

  // A new status: the pages in view are due again (throttled, the status changes 10 times a second).
  useEffect(() => {
    const next = (): void => {
      roundTimer.current = undefined
      round.current++
      lastRound.current = Date.now()
      setLoaded((n) => n + 1)
    }
    const wait = REFRESH_MS - (Date.now() - lastRound.current)
    if (wait <= 0) next()
    else roundTimer.current ??= setTimeout(next, wait)
  }, [revision])

  useLayoutEffect(() => {
    const element = viewport.current
    if (!element) return
    const observer = new ResizeObserver(() => setViewHeight(element.clientHeight))
    observer.observe(element)
    return () => observer.disconnect()
  }, [])

  const count = total ?? 0
  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - OVERSCAN)
  const end = Math.min(
    total ?? PAGE_SIZE,
    Math.ceil((scrollTop + viewHeight) / ROW_HEIGHT) + OVERSCAN,
  )
  const firstPage = Math.floor(first / PAGE_SIZE)
  const lastPage = Math.floor(Math.max(first, end - 1) / PAGE_SIZE)

  // Fetches what the window shows and is missing or stale; forgets pages far out of view.
  useEffect(() => {
    for (const page of pages.current.keys()) {
      if (page < firstPage - 2 || page > lastPage + 2) pages.current.delete(page)
    }
    for (let page = firstPage; page <= lastPage; page++) {
      if (pages.current.get(page)?.round === round.current || fetching.current.has(page)) continue
      fetching.current.add(page)
      const asked = round.current
      void call('queue:page', page * PAGE_SIZE, PAGE_SIZE).then((result) => {
        fetching.current.delete(page)
        if (!alive.current) return
        if (result.ok) {
          pages.current.set(page, { items: result.value.items, round: asked })
          setTotal(result.value.total)
          setError(undefined)
        } else {
          // Kept as fetched for this round, so a failing call is not repeated in a loop.
          pages.current.set(page, { items: pages.current.get(page)?.items ?? [], round: asked })
          setError(result.message)
        }
        setLoaded((n) => n + 1)
      })
    }
  })

  const onScroll = (): void => {
    if (frame.current) return
    frame.current = requestAnimationFrame(() => {
      frame.current = 0
      setScrollTop(viewport.current?.scrollTop ?? 0)
    })
  }

  const names = new Map(folders.map((f) => [f.id, folderName(f.path)]))
  const inFlight = new Map(transfers.map((t) => [`${t.folderId}\n${t.relPath}`, t]))
  const rows = []
  for (let index = first; index < Math.min(end, count); index++) {
    const item = pages.current.get(Math.floor(index / PAGE_SIZE))?.items[index % PAGE_SIZE]
    rows.push(
      <QueueRow
        key={index}
        index={index}
        total={count}
        item={item}
        folder={item ? names.get(item.folderId) : undefined}
        transfer={item ? inFlight.get(`${item.folderId}\n${item.relPath}`) : undefined}
      />,
    )
  }

  return (
    <section class="card queue" aria-labelledby="queue-title">
      <div class="section-head">
        <h2 id="queue-title">Waiting to upload</h2>
        {count > 0 && <p class="queue-count">{plural(count, 'file')}</p>}
      </div>
      <div
        ref={viewport}
        class={`queue-viewport${count > 0 ? ' filled' : ''}`}
        onScroll={onScroll}
        {...(count > 0
          ? {
              tabIndex: 0,
              role: 'region',
              'aria-label': `Upload queue, ${plural(count, 'file')}`,
              // Two pixels for the border: seven rows show whole.
              style: { height: `${Math.min(count, VIEW_ROWS) * ROW_HEIGHT + 2}px` },
            }
          : {})}
      >
        {total === undefined ? (
          <p class="muted queue-empty">Loading…</p>
        ) : count === 0 ? (
          <p class="muted queue-empty">Nothing is waiting. New and changed files show up here.</p>
        ) : (
          <ul class="queue-rows" style={{ height: `${count * ROW_HEIGHT}px` }}>
            {rows}
          </ul>
        )}
      </div>
      {error && (
        <p class="message bad" role="alert">
          {error}
        </p>
      )}
    </section>
  )
}

interface QueueRowProps {
  readonly index: number
  readonly total: number
  readonly item: QueueItem | undefined
  readonly folder: string | undefined
  readonly transfer: TransferStatus | undefined
}

function QueueRow({ index, total, item, folder, transfer }: QueueRowProps) {
  const place = {
    class: `queue-row${item ? ` state-${item.state}` : ''}`,
    style: { transform: `translateY(${index * ROW_HEIGHT}px)`, height: `${ROW_HEIGHT}px` },
    'aria-posinset': index + 1,
    'aria-setsize': total,
  }
  if (!item) {
    return (
      <li {...place}>
        <span class="muted">Loading…</span>
      </li>
    )
  }
  const name = fileName(item.relPath)
  const where = item.relPath.includes('/')
    ? `${item.relPath.slice(0, item.relPath.lastIndexOf('/'))} · ${folder ?? ''}`
    : (folder ?? '')
  return (
    <li {...place}>
      <div class="queue-name">
        <span class="file">{name}</span>
        <span class="muted small">{where}</span>
      </div>
      <div class="queue-meta">{describe(item, transfer, name)}</div>
    </li>
  )
}

function describe(item: QueueItem, transfer: TransferStatus | undefined, name: string) {
  if (item.state === 'failed') {
    // One line here; the whole reason is in "Could not upload" above (and on hover).
    const text = `Will try again${item.lastError ? ` — ${item.lastError}` : ''}`
    return (
      <span class="small tone-bad" title={text}>
        {text}
      </span>
    )
  }
  if (item.state === 'uploading' && transfer) {
    const size = Math.max(transfer.size, 1)
    const sent = Math.min(transfer.sent, size)
    const speed = transfer.bytesPerSecond
    // Every byte sent, the server still has to confirm: say so rather than "100% · 0 s left".
    if (sent >= size) {
      return (
        <>
          <progress value={sent} max={size} aria-label={`${name}: upload progress`} />
          <span class="small">{formatBytes(transfer.size)} sent · waiting for the server</span>
        </>
      )
    }
    const seconds = speed > 0 ? (size - sent) / speed : undefined
    // Short, so the line fits its column.
    const left =
      seconds === undefined
        ? ''
        : ` · ${seconds < 60 ? 'under 1 min' : formatDuration(seconds)} left`
    return (
      <>
        <progress value={sent} max={size} aria-label={`${name}: upload progress`} />
        <span class="small">
          {Math.floor((sent / size) * 100)}% of {formatBytes(transfer.size)}
          {speed > 0 ? ` · ${formatSpeed(speed)}` : ''}
          {left}
        </span>
      </>
    )
  }
  if (item.state === 'uploading') return <span class="small">Getting ready…</span>
  return <span class="small muted">{formatBytes(item.size)} · waiting</span>
}
