import { appendFile, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { LocalFile, UploadJournal, UploadOutcome } from '../../../main/backends/backend.ts'
import { HttpClient } from '../../../main/backends/http/client.ts'
import { KalaBackend } from '../../../main/backends/kala/kala-backend.ts'
import { MemoryJournal } from '../../../main/backends/memory-journal.ts'
import { createKalaServer, type KalaServer } from '../../servers/kala-server.ts'
import { localFiles, sampleTree, sha256Hex, tempDir, writeTree } from '../../helpers/tree.ts'

const fastRetry = { retries: 4, baseDelayMs: 10, maxDelayMs: 100, maxRetryAfterMs: 5_000 }
const CHUNK = 256 * 1024
// Five write requests: WRITE and four APPENDs.
const FILE_SIZE = 4 * CHUNK + 5

describe('KalaBackend recovers interrupted sessions through the journal', () => {
  let server: KalaServer
  let dir: Awaited<ReturnType<typeof tempDir>>
  const open: KalaBackend[] = []

  beforeEach(async () => {
    server = await createKalaServer({ apiKeys: ['k-123'] })
    dir = await tempDir()
  })

  afterEach(async () => {
    for (const kala of open.splice(0)) await kala.close()
    await server.close()
    await dir.dispose()
  })

  /** A fresh backend, as after a restart of the app. */
  const backend = (): KalaBackend => {
    const kala = new KalaBackend({
      server: server.url,
      auth: { method: 'api-key', key: 'k-123' },
      http: new HttpClient({ retry: fastRetry, serviceName: 'Kala' }),
      chunkSize: CHUNK,
    })
    open.push(kala)
    return kala
  }

  async function writeBigFile(): Promise<LocalFile> {
    await writeFile(
      join(dir.path, 'f.bin'),
      Buffer.alloc(FILE_SIZE).map((_, i) => (i * 7) % 251),
    )
    const [file] = await localFiles(dir.path)
    return file!
  }

  /** Uploads `file` and cuts the upload off (as a kill would) once `when` says so. */
  async function interrupted(
    file: LocalFile,
    journal: UploadJournal,
    arm: (abort: () => void) => { onProgress?: (bytes: number) => void },
  ): Promise<void> {
    const controller = new AbortController()
    const { onProgress } = arm(() => controller.abort())
    let sent = 0
    await expect(
      backend().upload([file], {
        journal,
        signal: controller.signal,
        onProgress: (event) => onProgress?.((sent += event.bytes)),
      }),
    ).rejects.toThrow()
  }

  function journaledUuid(journal: UploadJournal, relPath = 'f.bin'): string {
    const value = journal.get(`kala:session:${relPath}`)
    expect(value, relPath).toBeDefined()
    return (JSON.parse(value!) as { uuid: string }).uuid
  }

  /** Waits until the server has seen the writes the cut-off client sent (one may be in flight). */
  async function serverSaw(uuid: string, writes: number): Promise<void> {
    await vi.waitFor(
      () => expect(server.session(uuid)).toMatchObject({ writes, inFlightWrites: 0 }),
      { timeout: 10_000 },
    )
  }

  async function expectStored(outcome: UploadOutcome | undefined, uuid: string): Promise<void> {
    if (!outcome?.ok) throw outcome?.error ?? new Error('no outcome')
    expect(outcome.remote).toEqual({ uuid })
    const stored = server.files().find((f) => f.uuid === uuid)
    expect(stored).toBeDefined()
    const local = sha256Hex(await readFile(outcome.file.absPath))
    expect(sha256Hex(await readFile(stored!.storedPath))).toBe(local)
    expect(outcome.sha256).toBe(local)
  }

  it('restarts the journaled session with WRITE after an upload cut off mid-file', async () => {
    const file = await writeBigFile()
    const journal = new MemoryJournal()
    // Cut off inside the third request, after a WRITE and an APPEND were answered.
    await interrupted(file, journal, (abort) => ({
      onProgress: (sent) => {
        if (sent >= 2 * CHUNK + 100_000) abort()
      },
    }))
    const uuid = journaledUuid(journal)
    await serverSaw(uuid, 3)
    expect(server.session(uuid)?.state).toBe('open')
    expect(server.router.log.count('kala.session')).toBe(1)

    server.router.log.reset()
    const [outcome] = await backend().upload([file], { journal })
    await expectStored(outcome, uuid)
    // No new session: the probe close (400, incomplete), then WRITE + 4 APPENDs on the same
    // session, then its close.
    expect(server.router.log.count('kala.session')).toBe(0)
    expect(server.sessions()).toHaveLength(1)
    expect(server.session(uuid)!.writes).toBe(3 + 5)
    expect(server.router.log.count('kala.write')).toBe(5)
    expect(server.router.log.count('kala.close')).toBe(2)
    expect(journal.keys('kala:')).toEqual([])
  })

  it('closes a session whose bytes all arrived before the interruption, sending none again', async () => {
    const file = await writeBigFile()
    const journal = new MemoryJournal()
    const controller = new AbortController()
    // The last write is stored, then the client dies before its answer (and before the close).
    server.router.faults.inject(
      'kala.write',
      {
        type: 'rewrite',
        rewrite: (body) => {
          controller.abort()
          return body
        },
      },
      { skip: 4 },
    )
    await expect(backend().upload([file], { journal, signal: controller.signal })).rejects.toThrow()
    const uuid = journaledUuid(journal)
    expect(server.session(uuid)).toMatchObject({ state: 'open', size: FILE_SIZE })

    server.router.log.reset()
    const [outcome] = await backend().upload([file], { journal })
    await expectStored(outcome, uuid)
    expect(server.router.log.all()).toEqual({ 'kala.close': 1 })
    expect(journal.keys('kala:')).toEqual([])
  })

  it('confirms a session closed just before the crash without uploading it again', async () => {
    const file = await writeBigFile()
    const journal = new MemoryJournal()
    const controller = new AbortController()
    // The server closes the session; the client dies before it hears so.
    server.router.faults.inject('kala.close', {
      type: 'rewrite',
      rewrite: (body) => {
        controller.abort()
        return body
      },
    })
    await expect(backend().upload([file], { journal, signal: controller.signal })).rejects.toThrow()
    const uuid = journaledUuid(journal)
    expect(server.session(uuid)?.state).toBe('closed')

    server.router.log.reset()
    const [outcome] = await backend().upload([file], { journal })
    await expectStored(outcome, uuid)
    // One probe close, answered 409 (already closed); no session, no byte sent.
    expect(server.router.log.all()).toEqual({ 'kala.close': 1 })
    expect(server.files()).toHaveLength(1)
    expect(journal.keys('kala:')).toEqual([])
  })

  it('outcomes reported but never recorded: the next push confirms them all without a write', async () => {
    await writeTree(dir.path, sampleTree({ small: true }))
    const files = await localFiles(dir.path)
    const journal = new MemoryJournal()
    // The engine died after each onOutcome, before the backend could drop its entry.
    const crashing: UploadJournal = {
      get: (key) => journal.get(key),
      set: (key, value) => journal.set(key, value),
      delete: () => undefined,
      keys: (prefix) => journal.keys(prefix),
    }
    const first = await backend().upload(files, { journal: crashing })
    expect(first.every((o) => o.ok)).toBe(true)
    expect(journal.keys('kala:session:')).toHaveLength(files.length)

    server.router.log.reset()
    const again = await backend().upload(files, { journal })
    for (const [i, outcome] of again.entries()) {
      const before = first[i]!
      await expectStored(outcome, (before.ok && (before.remote as { uuid: string }).uuid) || '')
    }
    expect(server.router.log.all()).toEqual({ 'kala.close': files.length })
    expect(server.files()).toHaveLength(files.length)
    expect(journal.keys('kala:')).toEqual([])
  })

  it('opens a new session when the journaled one expired (404)', async () => {
    const file = await writeBigFile()
    const journal = new MemoryJournal()
    await interrupted(file, journal, (abort) => ({
      onProgress: (sent) => {
        if (sent >= CHUNK + 50_000) abort()
      },
    }))
    const stale = journaledUuid(journal)
    await serverSaw(stale, 2)
    server.expireSession(stale)

    server.router.log.reset()
    const [outcome] = await backend().upload([file], { journal })
    expect(outcome?.ok && (outcome.remote as { uuid: string }).uuid).not.toBe(stale)
    await expectStored(outcome, (outcome?.ok && (outcome.remote as { uuid: string }).uuid) || '')
    expect(server.router.log.count('kala.session')).toBe(1)
    expect(server.router.log.count('kala.write')).toBe(5)
    expect(journal.keys('kala:')).toEqual([])
  })

  it('drops the entry of a file that changed since, and uploads it in a new session', async () => {
    const file = await writeBigFile()
    const journal = new MemoryJournal()
    await interrupted(file, journal, (abort) => ({
      onProgress: (sent) => {
        if (sent >= CHUNK + 50_000) abort()
      },
    }))
    const old = journaledUuid(journal)
    await serverSaw(old, 2)
    await appendFile(file.absPath, 'more')
    const [changed] = await localFiles(dir.path)

    server.router.log.reset()
    const [outcome] = await backend().upload([changed!], { journal })
    const uuid = (outcome?.ok && (outcome.remote as { uuid: string }).uuid) || ''
    expect(uuid).not.toBe(old)
    await expectStored(outcome, uuid)
    // No probe of the old session: only the new session's close.
    expect(server.router.log.count('kala.close')).toBe(1)
    expect(server.session(old)?.state).toBe('open')
  })

  it('keeps the entry after a retryable failure, and the next push restarts that session', async () => {
    const file = await writeBigFile()
    const journal = new MemoryJournal()
    server.router.faults.inject('kala.write', { type: 'status', status: 503 }, { times: 100 })
    const [failed] = await backend().upload([file], { journal })
    expect(failed).toMatchObject({ ok: false, error: { kind: 'retryable' } })
    const uuid = journaledUuid(journal)
    server.router.faults.clear()

    server.router.log.reset()
    const [outcome] = await backend().upload([file], { journal })
    await expectStored(outcome, uuid)
    expect(server.router.log.count('kala.session')).toBe(0)
  })
})
