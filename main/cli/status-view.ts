import {
  folderName,
  type ActivityEntry,
  type FolderStatus,
  type SyncState,
  type SyncStatus,
} from '../sync/sync-status.ts'
import { formatBytes } from './progress.ts'

type Style = 'bold' | 'dim' | 'red' | 'green' | 'yellow' | 'cyan'
type Segment = readonly [text: string, style?: Style]

const SGR: Record<Style, string> = {
  bold: '1',
  dim: '2',
  red: '31',
  green: '32',
  yellow: '33',
  cyan: '36',
}

const STATE_LABEL: Record<SyncState, string> = {
  idle: 'up to date',
  scanning: 'checking',
  syncing: 'uploading',
  paused: 'paused',
  offline: 'offline',
  error: 'problem',
  'needs-sign-in': 'sign in needed',
}

const STATE_STYLE: Record<SyncState, Style> = {
  idle: 'green',
  scanning: 'cyan',
  syncing: 'cyan',
  paused: 'yellow',
  offline: 'yellow',
  error: 'red',
  'needs-sign-in': 'red',
}

const MAX_TRANSFERS = 5
const MAX_FAILED = 10

/**
 * The status as text for `ferry status` and the live view of `ferry sync`: the overall line,
 * one line per folder, the files going out now, the files that could not be uploaded and any
 * folder that syncs in a reduced mode. No line is wider than `width` characters.
 */
export function renderStatus(
  status: SyncStatus,
  options: { readonly width: number; readonly color?: boolean },
): string {
  const width = Math.max(1, Math.floor(options.width))
  const lines: Segment[][] = []
  const names = new Map(status.folders.map((f) => [f.id, folderName(f.path)]))
  const where = (folderId: string, relPath: string): string =>
    [names.get(folderId), relPath].filter(Boolean).join('/')

  lines.push([[status.message, 'bold']])
  const totals = totalsLine(status)
  if (totals) lines.push([[totals, 'dim']])

  if (status.folders.length > 0) {
    lines.push([])
    const nameWidth = Math.min(
      Math.max(...status.folders.map((f) => (names.get(f.id) ?? '').length)),
      Math.max(8, Math.floor(width / 3)),
    )
    const labelWidth = Math.max(...status.folders.map((f) => STATE_LABEL[f.state].length))
    for (const folder of status.folders) {
      const name = middleTruncate(names.get(folder.id) ?? folder.path, nameWidth)
      const detail = folderDetail(folder)
      lines.push([
        [`  ${name.padEnd(nameWidth)}  `],
        [
          detail ? STATE_LABEL[folder.state].padEnd(labelWidth) : STATE_LABEL[folder.state],
          STATE_STYLE[folder.state],
        ],
        [detail ? `  ${detail}` : ''],
      ])
    }
    for (const folder of status.folders) {
      if (folder.degraded) {
        lines.push([[`  Warning: ${names.get(folder.id)}: ${folder.degraded}`, 'yellow']])
      }
    }
  }

  if (status.transfers.length > 0) {
    lines.push([], [['Uploading now', 'bold']])
    const shown = status.transfers.slice(0, MAX_TRANSFERS)
    const paths = shown.map((t) => where(t.folderId, t.relPath))
    // Percent (4) and speed (up to "999.9 MB/s", 10), each after a space.
    const pathRoom = width - 2 - 16
    // The bar gets what the path can spare, and disappears on narrow terminals.
    const barWidth = Math.min(20, pathRoom - 24)
    const barRoom = barWidth >= 5 ? barWidth + 3 : 0
    const column = Math.min(Math.max(...paths.map((p) => [...p].length)), pathRoom - barRoom)
    shown.forEach((transfer, i) => {
      const fraction =
        transfer.size > 0 ? Math.min(1, transfer.sent / transfer.size) : transfer.sent > 0 ? 1 : 0
      const percent = `${Math.floor(fraction * 100)}%`.padStart(4)
      const speed = `${formatBytes(transfer.bytesPerSecond)}/s`.padStart(10)
      const path = middleTruncate(paths[i] ?? '', column)
      lines.push([
        [`  ${path}${' '.repeat(Math.max(0, column - [...path].length))}`],
        [barRoom > 0 ? ` [${barText(fraction, barWidth)}]` : '', 'cyan'],
        [` ${percent} ${speed}`],
      ])
    })
    const more = status.transfers.length - MAX_TRANSFERS
    if (more > 0) lines.push([[`  and ${more} more`, 'dim']])
  }

  if (status.failed.length > 0) {
    const count = status.failed.length
    lines.push([], [[`Could not upload ${files(count)}`, 'red']])
    for (const file of status.failed.slice(0, MAX_FAILED)) {
      const path = where(file.folderId, file.relPath)
      const retry = retryNote(file.attempts, file.nextAttemptAt, status.updatedAt)
      const text = `${file.reason}${retry}`
      const pathRoom = Math.max(12, Math.floor((width - 5) / 2), width - 5 - text.length)
      lines.push([[`  ${middleTruncate(path, pathRoom)} — ${text}`]])
    }
    const more = count - MAX_FAILED
    if (more > 0) lines.push([[`  and ${more} more`, 'dim']])
  }

  return lines.map((line) => paint(fit(line, width), options.color === true)).join('\n')
}

/** Turns successive snapshots into log lines for output that is not a terminal. */
export class LogLines {
  #lastId = 0
  #started = false
  #lastNewest: ActivityEntry | undefined
  #stateKey: string | undefined
  readonly #degraded = new Map<string, string>()

  /**
   * The lines `status` adds to what earlier snapshots said: one per new activity entry (oldest
   * first), one per change of the overall state, one per new degraded-mode warning. Progress
   * alone adds nothing.
   */
  lines(status: SyncStatus): string[] {
    const names = new Map(status.folders.map((f) => [f.id, folderName(f.path)]))
    const out: string[] = []
    const fresh = this.#freshActivity(status.activity)
    if (fresh.skipped > 0) {
      out.push(
        `${timestamp(fresh.entries[0]?.at ?? status.updatedAt)} info ${fresh.skipped} earlier entries not shown`,
      )
    }
    for (const entry of fresh.entries) out.push(activityLine(entry, names))

    for (const folder of status.folders) {
      const before = this.#degraded.get(folder.id)
      if (folder.degraded && folder.degraded !== before) {
        out.push(
          `${timestamp(status.updatedAt)} warning ${names.get(folder.id)}: ${folder.degraded}`,
        )
      }
      if (folder.degraded) this.#degraded.set(folder.id, folder.degraded)
      else this.#degraded.delete(folder.id)
    }

    // The message changes with every ETA while syncing; only a different problem is news.
    const detailed = status.state === 'error' || status.state === 'needs-sign-in'
    const key = detailed ? `${status.state}\n${status.message}` : status.state
    if (key !== this.#stateKey) {
      this.#stateKey = key
      out.push(`${timestamp(status.updatedAt)} ${status.state} ${status.message}`)
    }
    return out
  }

  #freshActivity(activity: readonly ActivityEntry[]): {
    entries: ActivityEntry[]
    skipped: number
  } {
    const newest = activity[0]
    let fresh: ActivityEntry[]
    let skipped = 0
    if (newest?.id !== undefined) {
      const lastId = this.#lastId
      fresh = activity.filter((entry) => (entry.id ?? 0) > lastId)
      const oldest = fresh[fresh.length - 1]
      // Entries come and go faster than snapshots on a busy start; say how many fell off the end.
      if (oldest?.id !== undefined && this.#started) {
        skipped = Math.max(0, oldest.id - lastId - 1)
      }
      this.#lastId = Math.max(lastId, newest.id)
    } else {
      // Entries from elsewhere (over IPC, say) may lack ids: new ones are those above the last seen.
      const last = this.#lastNewest
      const seen = last ? activity.findIndex((entry) => sameEntry(entry, last)) : -1
      fresh = seen >= 0 ? activity.slice(0, seen) : [...activity]
    }
    if (newest) this.#lastNewest = newest
    this.#started = true
    return { entries: fresh.reverse(), skipped }
  }
}

/** The snapshot as `--json` prints it. */
export function statusJson(status: SyncStatus): string {
  return JSON.stringify(status, null, 2)
}

const files = (count: number): string => (count === 1 ? '1 file' : `${count} files`)

function totalsLine(status: SyncStatus): string {
  const parts: string[] = []
  if (status.filesRemaining > 0 || status.bytesRemaining > 0) {
    parts.push(`${files(status.filesRemaining)} left (${formatBytes(status.bytesRemaining)})`)
  }
  if (status.bytesPerSecond > 0) parts.push(`${formatBytes(status.bytesPerSecond)}/s`)
  // Bytes sent include files still on their way, so they are not "the size of the files done".
  if (status.filesDone > 0) parts.push(`${files(status.filesDone)} uploaded`)
  if (status.bytesDone > 0) parts.push(`${formatBytes(status.bytesDone)} sent`)
  return parts.join(' · ')
}

function folderDetail(folder: FolderStatus): string {
  const parts: string[] = []
  if (folder.message) parts.push(folder.message)
  if (folder.filesRemaining > 0) {
    parts.push(`${files(folder.filesRemaining)} left (${formatBytes(folder.bytesRemaining)})`)
  }
  if (folder.failed > 0) parts.push(`${folder.failed} could not be uploaded`)
  return parts.join(' · ')
}

function retryNote(attempts: number, nextAttemptAt: number | undefined, now: number): string {
  const tries = attempts > 1 ? `tried ${attempts} times` : ''
  let next = ''
  if (nextAttemptAt !== undefined) {
    const seconds = Math.max(0, Math.round((nextAttemptAt - now) / 1000))
    next =
      seconds < 60
        ? 'retrying soon'
        : `next try in ${seconds < 3600 ? `${Math.round(seconds / 60)} min` : `${Math.round(seconds / 3600)} h`}`
  }
  const note = [tries, next].filter(Boolean).join(', ')
  return note ? ` (${note})` : ''
}

function activityLine(entry: ActivityEntry, names: ReadonlyMap<string, string>): string {
  const where = [names.get(entry.folderId), entry.relPath].filter(Boolean).join('/')
  const size = entry.bytes === undefined ? '' : ` (${formatBytes(entry.bytes)})`
  let line = `${timestamp(entry.at)} ${entry.kind}`
  if (where) line += ` ${where}${size}`
  if (entry.message) line += where ? `: ${entry.message}` : ` ${entry.message}`
  return line
}

function sameEntry(a: ActivityEntry, b: ActivityEntry): boolean {
  return (
    a.at === b.at &&
    a.folderId === b.folderId &&
    a.relPath === b.relPath &&
    a.kind === b.kind &&
    a.message === b.message
  )
}

/** UTC to the second, as log readers expect: 2026-11-22T07:40:01Z. */
function timestamp(at: number): string {
  return `${new Date(at).toISOString().slice(0, 19)}Z`
}

function barText(fraction: number, width: number): string {
  const filled = Math.round(fraction * width)
  return `${'#'.repeat(filled)}${'-'.repeat(width - filled)}`
}

/** Keeps the start and the end (the file name) of a long path: "Photos/2024/…/IMG_0001.jpg". */
function middleTruncate(text: string, width: number): string {
  const chars = [...text]
  if (chars.length <= width) return text
  if (width <= 1) return chars.slice(0, Math.max(0, width)).join('')
  const tail = Math.ceil((width - 1) * 0.6)
  const head = width - 1 - tail
  return `${chars.slice(0, head).join('')}…${chars.slice(chars.length - tail).join('')}`
}

/** Cuts a line to `width` characters, ending it with "…" when something was cut. */
function fit(line: readonly Segment[], width: number): Segment[] {
  const out: Segment[] = []
  let room = width
  const total = line.reduce((sum, [text]) => sum + [...text].length, 0)
  const cut = total > width
  if (cut) room = width - 1
  for (const [text, style] of line) {
    if (room <= 0) break
    const chars = [...text]
    out.push([chars.length <= room ? text : chars.slice(0, room).join(''), style])
    room -= Math.min(chars.length, room)
  }
  if (cut) out.push(['…'])
  return out
}

function paint(line: readonly Segment[], color: boolean): string {
  return line
    .map(([text, style]) => (color && style && text ? `\x1b[${SGR[style]}m${text}\x1b[0m` : text))
    .join('')
    .trimEnd()
}
