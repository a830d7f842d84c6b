import { stripVTControlCharacters } from 'node:util'
import { describe, expect, it } from 'vitest'
import { LogLines, renderStatus, statusJson } from '../../main/cli/status-view.ts'
import { StatusModel, type FolderInfo, type SyncStatus } from '../../main/sync/sync-status.ts'

const START = Date.UTC(2026, 10, 22, 7, 40, 1)
const photos: FolderInfo = {
  id: 'photos',
  path: '/home/ann/Photos',
  accountId: 'a1',
  accountLabel: 'dstor.example',
}
const docs: FolderInfo = { id: 'docs', path: '/home/ann/Documents', accountId: 'a2' }

/** A model on a clock the test moves by hand; nothing subscribes, so no timers run. */
function driven(): { model: StatusModel; clock: { now: number } } {
  const clock = { now: START }
  return { model: new StatusModel(() => clock.now), clock }
}

const plain = (text: string): string => stripVTControlCharacters(text)
const widthOf = (line: string): number => [...plain(line)].length

/** Two folders hard at work: seven uploads, fifteen failures, one degraded folder. */
function busy(): SyncStatus {
  const { model, clock } = driven()
  model.setFolders([photos, docs])
  model.setFolderState('photos', 'syncing')
  model.setFolderState('docs', 'paused', 'Paused by you')
  model.setDegraded('photos', 'Changes are found by rescanning every 10 minutes')
  model.setQueue('photos', { filesRemaining: 20, bytesRemaining: 700_000_000 })
  const deep = '2024/summer holidays/the long drive along the coast/day 3/IMG_0001.jpg'
  model.transferStarted('photos', deep, 10_000_000)
  for (let i = 1; i < 7; i++) model.transferStarted('photos', `img-${i}.jpg`, 2_000_000)
  for (let s = 0; s < 4; s++) {
    clock.now += 1000
    model.transferProgress('photos', deep, 1_250_000)
    model.transferProgress('photos', 'img-1.jpg', 250_000)
  }
  model.fileDone('photos', 'first.jpg', 3_000_000)
  model.setFailed(
    'photos',
    Array.from({ length: 15 }, (_, i) => ({
      folderId: 'photos',
      relPath: `broken/file-${i}.raw`,
      reason: i === 0 ? 'Permission denied' : 'The server refused it: quota exceeded',
      attempts: i === 0 ? 4 : 1,
      nextAttemptAt: i === 0 ? clock.now + 300_000 : undefined,
    })),
  )
  return model.snapshot()
}

describe('renderStatus', () => {
  it('shows a calm folder in two lines', () => {
    const { model } = driven()
    model.setFolders([photos])
    const text = renderStatus(model.snapshot(), { width: 80 })
    expect(text.split('\n')).toEqual(['Everything is stored', '', '  Photos  up to date'])
  })

  it('shows the overall line, folders, current uploads, failures and warnings', () => {
    const text = renderStatus(busy(), { width: 100 })
    const lines = text.split('\n')
    expect(lines[0]).toMatch(/^Uploading 20 files — \d+ min left$/)
    expect(lines[1]).toContain('20 files left (')
    expect(lines[1]).toMatch(/ · 1\.5 MB\/s · 1 file uploaded · 9\.0 MB sent$/)
    expect(lines).toContainEqual(
      expect.stringMatching(/^ {2}Photos {5}uploading {2}20 files left \(\d+ MB\) · 15 could not/),
    )
    expect(lines).toContainEqual('  Documents  paused     Paused by you')
    expect(lines).toContainEqual(
      '  Warning: Photos: Changes are found by rescanning every 10 minutes',
    )

    const uploads = lines.slice(lines.indexOf('Uploading now') + 1)
    const transferLines = uploads.slice(0, uploads.indexOf('  and 2 more'))
    expect(transferLines).toHaveLength(5)
    // Bars line up, whatever the length of the paths.
    expect(new Set(transferLines.map((line) => line.indexOf(' [')))).toHaveLength(1)
    // The long path keeps its start and its file name.
    expect(transferLines[0]).toMatch(
      /^ {2}Photos\/2024.*….*IMG_0001\.jpg \[#{10}-{10}\] {2}50% +1\.3 MB\/s$/,
    )
    expect(transferLines[1]).toMatch(/img-1\.jpg .*\] {2}50% +250 KB\/s$/)
    expect(transferLines[2]).toMatch(/img-2\.jpg .*\] {3}0% +0 B\/s$/)

    const failed = lines.slice(lines.indexOf('Could not upload 15 files') + 1)
    expect(failed).toHaveLength(11)
    expect(failed[0]).toBe(
      '  Photos/broken/file-0.raw — Permission denied (tried 4 times, next try in 5 min)',
    )
    expect(failed[1]).toBe('  Photos/broken/file-1.raw — The server refused it: quota exceeded')
    expect(failed[10]).toBe('  and 5 more')
  })

  it('never writes a line wider than asked, with or without colour', () => {
    const status = busy()
    for (const width of [20, 32, 40, 60, 80, 132]) {
      for (const color of [false, true]) {
        const text = renderStatus(status, { width, color })
        for (const line of text.split('\n')) {
          expect(widthOf(line), `${width} ${color}: ${plain(line)}`).toBeLessThanOrEqual(width)
        }
        expect(text.includes('\x1b[')).toBe(color)
      }
    }
    // Cut lines say so.
    expect(renderStatus(status, { width: 40 })).toContain('…')
  })

  it('drops the bar, not the figures, on a narrow terminal', () => {
    const lines = renderStatus(busy(), { width: 40 }).split('\n')
    const upload = lines[lines.indexOf('Uploading now') + 2] ?? ''
    expect(upload).not.toContain('[')
    expect(upload).toMatch(/img-1\.jpg +50% +250 KB\/s$/)
  })

  it('prints JSON that reads back as the same status', () => {
    const status = busy()
    expect(JSON.parse(statusJson(status))).toEqual(JSON.parse(JSON.stringify(status)))
  })
})

describe('LogLines', () => {
  it('writes each activity entry once and each state change once, never progress', () => {
    const { model, clock } = driven()
    const log = new LogLines()
    model.setFolders([photos])
    expect(log.lines(model.snapshot())).toEqual(['2026-11-22T07:40:01Z idle Everything is stored'])
    expect(log.lines(model.snapshot())).toEqual([])

    model.setFolderState('photos', 'syncing')
    model.setQueue('photos', { filesRemaining: 2, bytesRemaining: 2_400_000 })
    model.transferStarted('photos', 'a.jpg', 1_200_000)
    expect(log.lines(model.snapshot())).toEqual(['2026-11-22T07:40:01Z syncing Uploading 2 files'])

    // Progress moves the ETA in the message: still nothing to log.
    for (let i = 0; i < 5; i++) {
      clock.now += 200
      model.transferProgress('photos', 'a.jpg', 200_000)
      expect(log.lines(model.snapshot())).toEqual([])
    }

    clock.now = START + 60_000
    model.fileDone('photos', 'a.jpg', 1_200_000)
    model.activity({
      folderId: 'photos',
      relPath: 'a.jpg',
      kind: 'uploaded',
      message: '',
      bytes: 1_200_000,
    })
    expect(log.lines(model.snapshot())).toEqual([
      '2026-11-22T07:41:01Z uploaded Photos/a.jpg (1.2 MB)',
    ])
    expect(log.lines(model.snapshot())).toEqual([])

    clock.now += 1000
    model.activity({
      folderId: 'photos',
      relPath: 'b.jpg',
      kind: 'failed',
      message: 'Permission denied',
    })
    clock.now += 1000
    model.activity({ folderId: 'photos', relPath: '', kind: 'info', message: 'Scan finished' })
    model.setDegraded('photos', 'Changes are found by rescanning')
    model.setFolderState('photos', 'idle')
    expect(log.lines(model.snapshot())).toEqual([
      '2026-11-22T07:41:02Z failed Photos/b.jpg: Permission denied',
      '2026-11-22T07:41:03Z info Photos: Scan finished',
      '2026-11-22T07:41:03Z warning Photos: Changes are found by rescanning',
      '2026-11-22T07:41:03Z idle Everything is stored',
    ])
    expect(log.lines(model.snapshot())).toEqual([])

    // A different problem is news; the same one is not.
    model.setFolderState('photos', 'error', 'The folder is gone')
    expect(log.lines(model.snapshot())).toEqual([
      "2026-11-22T07:41:03Z error Can't sync Photos: The folder is gone",
    ])
    expect(log.lines(model.snapshot())).toEqual([])
    model.setFolderState('photos', 'error', 'The disk is not connected')
    expect(log.lines(model.snapshot())).toEqual([
      "2026-11-22T07:41:03Z error Can't sync Photos: The disk is not connected",
    ])
  })

  it('tells new entries from old ones in snapshots that crossed a process boundary', () => {
    const { model, clock } = driven()
    const log = new LogLines()
    const overIpc = (status: SyncStatus): SyncStatus =>
      JSON.parse(
        JSON.stringify({ ...status, activity: status.activity.map(({ id: _id, ...e }) => e) }),
      ) as SyncStatus
    model.setFolders([photos])
    model.activity({ folderId: 'photos', relPath: 'a.jpg', kind: 'uploaded', message: '' })
    expect(log.lines(overIpc(model.snapshot()))).toHaveLength(2)
    clock.now += 1000
    model.activity({ folderId: 'photos', relPath: 'b.jpg', kind: 'removed', message: '' })
    model.activity({ folderId: 'photos', relPath: 'c.jpg', kind: 'skipped', message: 'Too big' })
    expect(log.lines(overIpc(model.snapshot()))).toEqual([
      '2026-11-22T07:40:02Z removed Photos/b.jpg',
      '2026-11-22T07:40:02Z skipped Photos/c.jpg: Too big',
    ])
    expect(log.lines(overIpc(model.snapshot()))).toEqual([])
  })

  it('says how many entries fell off the feed between two snapshots', () => {
    const { model } = driven()
    const log = new LogLines()
    model.setFolders([photos])
    log.lines(model.snapshot())
    for (let i = 0; i < 250; i++) {
      model.activity({ folderId: 'photos', relPath: `f${i}`, kind: 'uploaded', message: '' })
    }
    const lines = log.lines(model.snapshot())
    expect(lines[0]).toBe('2026-11-22T07:40:01Z info 50 earlier entries not shown')
    expect(lines[1]).toBe('2026-11-22T07:40:01Z uploaded Photos/f50')
    expect(lines.at(-1)).toBe('2026-11-22T07:40:01Z uploaded Photos/f249')
    expect(lines).toHaveLength(201)
  })
})
