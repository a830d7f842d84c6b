import { readFile } from 'node:fs/promises'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { LocalFile, UploadJournal, UploadOutcome } from '../../../main/backends/backend.ts'
import { cidOfFile } from '../../../main/backends/dstor/cid.ts'
import { DstorBackend, type DstorOptions } from '../../../main/backends/dstor/dstor-backend.ts'
import { HttpClient } from '../../../main/backends/http/client.ts'
import { MemoryJournal } from '../../../main/backends/memory-journal.ts'
import {
  createDstorServer,
  DSTOR_DEFAULT_API_KEY,
  type DstorServer,
} from '../../servers/dstor-server.ts'
import { localFiles, sampleTree, sha256Hex, tempDir, writeTree } from '../../helpers/tree.ts'

const fastRetry = { retries: 3, baseDelayMs: 10, maxDelayMs: 100, maxRetryAfterMs: 5_000 }
// The small sample tree (7 files) goes as one process of three chunks.
const limits = { maxFilesPerChunk: 3 }
const CHUNKS = 3

describe('DstorBackend recovers interrupted folder processes through the journal', () => {
  let server: DstorServer
  let dir: Awaited<ReturnType<typeof tempDir>>
  let files: LocalFile[]
  const open: DstorBackend[] = []

  beforeEach(async () => {
    server = await createDstorServer({ stageDelayMs: 1 })
    dir = await tempDir()
    await writeTree(dir.path, sampleTree({ small: true }))
    files = await localFiles(dir.path)
  })

  afterEach(async () => {
    for (const dstor of open.splice(0)) await dstor.close()
    await server.close()
    await dir.dispose()
  })

  /** A fresh backend, as after a restart of the app. */
  const backend = (options: Partial<DstorOptions> = {}): DstorBackend => {
    const dstor = new DstorBackend({
      server: server.url,
      auth: { method: 'api-key', key: DSTOR_DEFAULT_API_KEY },
      http: new HttpClient({ retry: fastRetry, serviceName: 'dStor' }),
      limits,
      ...options,
    })
    open.push(dstor)
    return dstor
  }

  /** A journal that cuts the upload off (as a kill would) right after `chunks` were confirmed. */
  function abortAfterChunks(
    journal: UploadJournal,
    chunks: number,
    controller: AbortController,
  ): UploadJournal {
    return {
      get: (key) => journal.get(key),
      set: (key, value) => {
        journal.set(key, value)
        if (key.startsWith('dstor:process-sent:') && value === String(chunks)) controller.abort()
      },
      delete: (key) => journal.delete(key),
      keys: (prefix) => journal.keys(prefix),
    }
  }

  /** A fault that lets the server handle the request, then kills the client before the answer. */
  function abortOnAnswer(route: string, controller: AbortController, skip = 0): void {
    server.router.faults.inject(
      route,
      {
        type: 'rewrite',
        rewrite: (body) => {
          controller.abort()
          return body
        },
      },
      { skip },
    )
  }

  async function interrupted(journal: UploadJournal, signal: AbortSignal): Promise<void> {
    await expect(backend().upload(files, { journal, signal })).rejects.toThrow()
  }

  /** Every outcome confirmed with the local CID, and the server holds exactly the tree. */
  async function expectTree(outcomes: readonly UploadOutcome[]): Promise<void> {
    expect(outcomes).toHaveLength(files.length)
    const stored = new Map(server.listFiles().map((f) => [f.name, f]))
    for (const outcome of outcomes) {
      if (!outcome.ok) throw outcome.error
      const local = await readFile(outcome.file.absPath)
      expect(outcome.sha256).toBe(sha256Hex(local))
      expect(outcome.remote).toEqual({ cid: await cidOfFile(outcome.file.absPath) })
      const remote = stored.get(outcome.file.relPath)
      expect(sha256Hex(await readFile(remote!.storedPath))).toBe(sha256Hex(local))
    }
    expect([...stored.keys()].sort()).toEqual(files.map((f) => f.relPath).sort())
  }

  it('after a cut-off while polling, asks for the result instead of sending any chunk', async () => {
    const journal = new MemoryJournal()
    const controller = new AbortController()
    abortOnAnswer('dstor.status', controller)
    await interrupted(journal, controller.signal)
    expect(server.router.log.count('dstor.upload')).toBe(CHUNKS)
    expect(journal.keys('dstor:process:')).toHaveLength(1)

    server.router.log.reset()
    const outcomes = await backend().upload(files, { journal })
    await expectTree(outcomes)
    expect(server.router.log.count('dstor.upload')).toBe(0)
    expect(server.router.log.count('dstor.get-token')).toBe(0)
    expect(server.router.log.count('dstor.status')).toBeGreaterThanOrEqual(1)
    expect(journal.keys('dstor:')).toEqual([])
  })

  it('a process whose last chunk arrived but whose answer was lost is recovered', async () => {
    const journal = new MemoryJournal()
    const controller = new AbortController()
    abortOnAnswer('dstor.upload', controller, CHUNKS - 1)
    await interrupted(journal, controller.signal)
    expect(server.processes()[0]?.chunksReceived).toBe(CHUNKS)

    server.router.log.reset()
    await expectTree(await backend().upload(files, { journal }))
    expect(server.router.log.count('dstor.upload')).toBe(0)
    expect(server.router.log.count('dstor.get-token')).toBe(0)
    expect(journal.keys('dstor:')).toEqual([])
  })

  it('a process whose last chunk never went out is abandoned after one status check', async () => {
    const journal = new MemoryJournal()
    const controller = new AbortController()
    await interrupted(abortAfterChunks(journal, CHUNKS - 1, controller), controller.signal)
    expect(server.processes()[0]).toMatchObject({ chunksReceived: CHUNKS - 1, status: 'UPLOADING' })

    server.router.log.reset()
    await expectTree(await backend().upload(files, { journal }))
    expect(server.router.log.count('dstor.get-token')).toBe(1)
    expect(server.router.log.count('dstor.upload')).toBe(CHUNKS)
    expect(server.processes()).toHaveLength(2)
    expect(journal.keys('dstor:')).toEqual([])
  })

  it('a process cut off mid-way is dropped and its files go in a new process', async () => {
    const journal = new MemoryJournal()
    const controller = new AbortController()
    await interrupted(abortAfterChunks(journal, 1, controller), controller.signal)
    expect(journal.keys('dstor:process:')).toHaveLength(1)

    server.router.log.reset()
    await expectTree(await backend().upload(files, { journal }))
    expect(server.router.log.count('dstor.get-token')).toBe(1)
    expect(server.router.log.count('dstor.upload')).toBe(CHUNKS)
    expect(server.processes()).toHaveLength(2)
    expect(server.processes()[0]).toMatchObject({ chunksReceived: 1, status: 'UPLOADING' })
    expect(journal.keys('dstor:')).toEqual([])
  })

  it('a recovered process that ended in ERROR, or is gone (404), is uploaded again', async () => {
    for (const fault of ['error', '404'] as const) {
      const journal = new MemoryJournal()
      const controller = new AbortController()
      if (fault === 'error') server.injectProcessError({ explanation: 'disk full' })
      abortOnAnswer('dstor.status', controller)
      await interrupted(journal, controller.signal)

      server.router.log.reset()
      if (fault === '404')
        server.router.faults.inject('dstor.status', { type: 'status', status: 404 })
      await expectTree(await backend().upload(files, { journal }))
      expect(server.router.log.count('dstor.get-token'), fault).toBe(1)
      expect(server.router.log.count('dstor.upload'), fault).toBe(CHUNKS)
      expect(journal.keys('dstor:')).toEqual([])
    }
  })

  it('a recovered DONE row with a CID other than the local file’s is an integrity error', async () => {
    const journal = new MemoryJournal()
    const controller = new AbortController()
    abortOnAnswer('dstor.status', controller)
    await interrupted(journal, controller.signal)

    server.router.log.reset()
    server.router.faults.inject(
      'dstor.status',
      {
        type: 'rewrite',
        rewrite: (body) => {
          const answer = body as { data?: { Name: string; Hash: string }[] }
          return {
            ...answer,
            data: answer.data?.map((row) =>
              row.Name === 'hello.txt'
                ? { ...row, Hash: 'QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH' }
                : row,
            ),
          }
        },
      },
      { times: 100 },
    )
    const outcomes = await backend().upload(files, { journal })
    const bad = outcomes.filter((o) => !o.ok)
    expect(bad.map((o) => o.file.relPath)).toEqual(['hello.txt'])
    expect(bad[0]).toMatchObject({ error: { kind: 'integrity' } })
    expect(outcomes.filter((o) => o.ok)).toHaveLength(files.length - 1)
    expect(server.router.log.count('dstor.upload')).toBe(0)
  })

  it('recovers only the files that are unchanged; a changed one goes in a new upload', async () => {
    const journal = new MemoryJournal()
    const controller = new AbortController()
    abortOnAnswer('dstor.status', controller)
    await interrupted(journal, controller.signal)
    // The old process stores the old content when it finishes: let it, so the new one is latest.
    await vi.waitFor(() => expect(server.processes()[0]?.status).toBe('DONE'), { timeout: 10_000 })
    await writeTree(dir.path, [{ relPath: 'hello.txt', content: Buffer.from('hello, again') }])
    files = await localFiles(dir.path)

    server.router.log.reset()
    await expectTree(await backend().upload(files, { journal }))
    expect(server.router.log.count('dstor.get-token')).toBe(0)
    // The lone changed file goes through the single-file upload.
    expect(server.router.log.count('dstor.single')).toBe(1)
    expect(server.router.log.count('dstor.upload')).toBe(0)
  })

  it('keeps a process that is still being processed when polling gives up, and asks again later', async () => {
    const journal = new MemoryJournal()
    server.router.faults.inject(
      'dstor.status',
      { type: 'rewrite', rewrite: () => ({ status: 'SOMETHING_NEW' }) },
      { times: 1000 },
    )
    const first = await backend({ statusTimeoutMs: 300 }).upload(files, { journal })
    for (const outcome of first)
      expect(outcome).toMatchObject({ ok: false, error: { kind: 'retryable' } })
    expect(journal.keys('dstor:process:')).toHaveLength(1)
    server.router.faults.clear()

    server.router.log.reset()
    await expectTree(await backend().upload(files, { journal }))
    expect(server.router.log.count('dstor.upload')).toBe(0)
    expect(journal.keys('dstor:')).toEqual([])
  })

  it('leaves entries about other files alone', async () => {
    const journal = new MemoryJournal()
    const controller = new AbortController()
    abortOnAnswer('dstor.status', controller)
    await interrupted(journal, controller.signal)
    const [one, two] = files.filter((f) => f.size > 0)
    await writeTree(dir.path, [{ relPath: 'other/x.txt', content: Buffer.from('x') }])
    const others = (await localFiles(dir.path)).filter((f) => f.relPath.startsWith('other/'))
    expect(one && two).toBeTruthy()

    const outcomes = await backend().upload(others, { journal })
    expect(outcomes.every((o) => o.ok)).toBe(true)
    expect(journal.keys('dstor:process:')).toHaveLength(1)
  })
})
