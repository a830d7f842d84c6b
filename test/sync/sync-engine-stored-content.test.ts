import { copyFile, mkdir, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { SyncEngine } from '../../main/sync/sync-engine.ts'
import { tempDir } from '../helpers/tree.ts'
import { setupEngine, startDstor, waitUntil, type EngineSetup } from './engine-harness.ts'

/**
 * dStor is content addressed: a file whose bytes the server already confirmed for the account
 * (a rename, a move, a copy) is recorded with that CID and not sent again (PROTOCOLS.md §1.4).
 */
describe('sync engine: dStor skips content it already stored', () => {
  let work: Awaited<ReturnType<typeof tempDir>>
  let server: Awaited<ReturnType<typeof startDstor>>
  let setup: EngineSetup
  let a: string

  beforeEach(async () => {
    work = await tempDir()
    server = await startDstor()
    a = join(work.path, 'a')
    await mkdir(join(a, 'notes'), { recursive: true })
    setup = setupEngine(join(work.path, 'state'), server, [a])
  })

  afterEach(async () => {
    await setup.close()
    await server.close()
    await work.dispose()
  })

  const id = (): string => setup.folderIds[0] as string
  /** Requests that carry file bytes: single-file uploads and folder-process chunks. */
  const uploads = (): number =>
    server.server.router.log.count('dstor.single') + server.server.router.log.count('dstor.upload')
  const cidOf = (engine: SyncEngine, relPath: string): string | undefined => {
    const remote = engine.index.get(id(), relPath)?.synced?.remote
    return remote && 'cid' in remote ? remote.cid : undefined
  }
  const synced = (engine: SyncEngine, relPath: string): Promise<void> =>
    waitUntil(
      () => engine.index.get(id(), relPath)?.state === 'synced',
      20_000,
      `${relPath} synced`,
    )
  const noted = (engine: SyncEngine, relPath: string, from: string): boolean =>
    engine.status
      .snapshot()
      .activity.some(
        (e) =>
          e.relPath === relPath &&
          e.message === `Already stored (same content as ${from}): nothing uploaded`,
      )

  it('watching: a rename, a move to another subfolder and a copy send nothing', async () => {
    const engine = setup.engine()
    await engine.start()
    const report = Buffer.from('the quarterly report, final version\n'.repeat(300))
    await writeFile(join(a, 'notes', 'report.txt'), report)
    await synced(engine, 'notes/report.txt')
    const cid = cidOf(engine, 'notes/report.txt')
    expect(server.server.listFiles().map((f) => f.cid)).toContain(cid)
    const sent = uploads()
    expect(sent).toBe(1)

    await rename(join(a, 'notes', 'report.txt'), join(a, 'notes', 'report-final.txt'))
    await synced(engine, 'notes/report-final.txt')
    expect(cidOf(engine, 'notes/report-final.txt')).toBe(cid)
    expect(engine.index.get(id(), 'notes/report.txt')?.state).toBe('removed')

    await mkdir(join(a, 'archive'))
    await rename(join(a, 'notes', 'report-final.txt'), join(a, 'archive', 'report.txt'))
    await synced(engine, 'archive/report.txt')
    expect(cidOf(engine, 'archive/report.txt')).toBe(cid)

    // A copy: another inode and mtime, so it is hashed (a confirmed row has its size).
    await copyFile(join(a, 'archive', 'report.txt'), join(a, 'copy.txt'))
    await synced(engine, 'copy.txt')
    expect(cidOf(engine, 'copy.txt')).toBe(cid)

    await engine.whenIdle()
    expect(uploads()).toBe(sent)
    expect(engine.index.get(id(), 'copy.txt')?.synced?.sha256).toBe(
      engine.index.get(id(), 'archive/report.txt')?.synced?.sha256,
    )
    expect(noted(engine, 'notes/report-final.txt', 'notes/report.txt')).toBe(true)
    expect(noted(engine, 'archive/report.txt', 'notes/report.txt')).toBe(true)
    const renames = engine.status
      .snapshot()
      .activity.filter((e) => e.kind === 'renamed')
      .map((e) => `${e.relPath}: ${e.message}`)
    expect(renames.sort()).toEqual([
      'archive/report.txt: Renamed from notes/report-final.txt',
      'notes/report-final.txt: Renamed from notes/report.txt',
    ])
    expect(engine.status.snapshot().failed).toEqual([])
  })

  it('a file of the same size with other bytes is uploaded', async () => {
    const engine = setup.engine()
    await engine.start()
    await writeFile(join(a, 'one.txt'), 'version one of the text')
    await synced(engine, 'one.txt')
    const sent = uploads()
    await writeFile(join(a, 'two.txt'), 'version two of the text')
    await synced(engine, 'two.txt')
    expect(uploads()).toBe(sent + 1)
    const cid = cidOf(engine, 'two.txt')
    expect(cid).toBeDefined()
    expect(cid).not.toBe(cidOf(engine, 'one.txt'))
    expect(server.server.listFiles().find((f) => f.name === 'two.txt')?.cid).toBe(cid)
  })

  it('a rename of a file the server never confirmed is uploaded', async () => {
    // The server stores the bytes, but its answer is wrong: nothing is confirmed.
    server.server.router.faults.inject('dstor.single', {
      type: 'rewrite',
      rewrite: (body) => ({
        ...(body as object),
        Hash: 'QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG',
      }),
    })
    const engine = setup.engine()
    await engine.start()
    await writeFile(join(a, 'draft.txt'), 'a draft the server never confirmed')
    await waitUntil(
      () => engine.index.get(id(), 'draft.txt')?.state === 'failed',
      20_000,
      'draft.txt failed',
    )
    expect(engine.index.get(id(), 'draft.txt')?.synced).toBeNull()
    const sent = uploads()
    await rename(join(a, 'draft.txt'), join(a, 'draft-2.txt'))
    await synced(engine, 'draft-2.txt')
    expect(uploads()).toBe(sent + 1)
    expect(server.server.listFiles().find((f) => f.name === 'draft-2.txt')?.cid).toBe(
      cidOf(engine, 'draft-2.txt'),
    )
  })

  it('scan: a rename and a copy made while Ferry was not running send nothing', async () => {
    await writeFile(join(a, 'notes', 'plan.md'), '# the plan\n\nstep one, step two\n')
    await writeFile(join(a, 'other.md'), 'another file')
    const first = setup.engine({ watch: false })
    expect((await first.syncOnce()).uploaded).toBe(2)
    const cid = cidOf(first, 'notes/plan.md')
    await first.stop()
    const sent = uploads()

    await rename(join(a, 'notes', 'plan.md'), join(a, 'plan.md'))
    await copyFile(join(a, 'plan.md'), join(a, 'notes', 'plan-copy.md'))
    const second = setup.engine({ watch: false })
    const summary = await second.syncOnce()
    expect(summary).toMatchObject({ uploaded: 0, failed: 0 })
    expect(uploads()).toBe(sent)
    expect(cidOf(second, 'plan.md')).toBe(cid)
    expect(cidOf(second, 'notes/plan-copy.md')).toBe(cid)
    expect(second.index.get(id(), 'notes/plan.md')?.state).toBe('removed')
  })
})
