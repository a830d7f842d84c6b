import { appendFile, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { UploadOutcome } from '../../../main/backends/backend.ts'
import { HttpClient } from '../../../main/backends/http/client.ts'
import { KalaBackend, type KalaAuth } from '../../../main/backends/kala/kala-backend.ts'
import { createKalaServer, type KalaServer } from '../../servers/kala-server.ts'
import { localFiles, sampleTree, sha256Hex, tempDir, writeTree } from '../../helpers/tree.ts'

const fastRetry = { retries: 4, baseDelayMs: 10, maxDelayMs: 100, maxRetryAfterMs: 5_000 }

describe('KalaBackend against the reference server', () => {
  let server: KalaServer
  let dir: Awaited<ReturnType<typeof tempDir>>

  beforeEach(async () => {
    server = await createKalaServer({ users: { alice: 'secret' }, apiKeys: ['k-123'] })
    dir = await tempDir()
  })

  afterEach(async () => {
    await server.close()
    await dir.dispose()
  })

  const backend = (
    auth: KalaAuth = { method: 'api-key', key: 'k-123' },
    chunkSize?: number,
  ): KalaBackend =>
    new KalaBackend({
      server: server.url,
      auth,
      http: new HttpClient({ retry: fastRetry, serviceName: 'Kala' }),
      ...(chunkSize ? { chunkSize } : {}),
    })

  async function expectStored(outcomes: UploadOutcome[]): Promise<void> {
    const stored = new Map(server.files().map((f) => [f.uuid, f]))
    for (const outcome of outcomes) {
      if (!outcome.ok) throw outcome.error
      const uuid = (outcome.remote as { uuid: string }).uuid
      const local = await readFile(outcome.file.absPath)
      const remote = stored.get(uuid)
      expect(remote, outcome.file.relPath).toBeDefined()
      // Digests, not toEqual: deep-comparing 17 MiB buffers element by element takes seconds.
      expect(sha256Hex(await readFile(remote?.storedPath as string))).toBe(sha256Hex(local))
      expect(outcome.sha256).toBe(sha256Hex(local))
    }
  }

  it('uploads the whole sample tree byte for byte (API key)', async () => {
    const tree = sampleTree()
    await writeTree(dir.path, tree)
    const kala = backend()
    const files = await localFiles(dir.path)
    const outcomes = await kala.upload(files)
    expect(outcomes).toHaveLength(tree.length)
    await expectStored(outcomes)
    // The 17 MiB file went as WRITE + APPENDs of 8 MiB: three write requests.
    expect(server.router.log.count('kala.write')).toBe(tree.length - 1 + 3)
    await kala.close()
  })

  it('logs in with a password and refreshes an expired token mid-push', async () => {
    await writeTree(dir.path, sampleTree({ small: true }))
    const kala = backend({ method: 'login', username: 'alice', password: 'secret' })
    const files = await localFiles(dir.path)
    await expectStored(await kala.upload(files.slice(0, 3)))
    server.invalidateTokens()
    await expectStored(await kala.upload(files.slice(3)))
    expect(server.router.log.count('kala.token')).toBe(2)
    await kala.close()
  })

  it('wrong credentials are an auth error and nothing is uploaded', async () => {
    await writeTree(dir.path, sampleTree({ small: true }))
    const kala = backend({ method: 'api-key', key: 'wrong' })
    await expect(kala.checkAuth()).rejects.toMatchObject({ kind: 'auth' })
    await expect(kala.upload(await localFiles(dir.path))).rejects.toMatchObject({ kind: 'auth' })
    expect(server.files()).toHaveLength(0)
    const login = backend({ method: 'login', username: 'alice', password: 'nope' })
    await expect(login.checkAuth()).rejects.toMatchObject({ kind: 'auth' })
    await kala.close()
    await login.close()
  })

  it('restarts the session with WRITE after a connection drop mid-chunk', async () => {
    const content = Buffer.alloc(3 * 1024 * 1024 + 5, 1).map((_, i) => i % 251)
    await writeFile(join(dir.path, 'f.bin'), content)
    const kala = backend(undefined, 1024 * 1024)
    server.breakNextWrite(100_000)
    const [outcome] = await kala.upload(await localFiles(dir.path))
    await expectStored([outcome as UploadOutcome])
    // First attempt: one broken write; then WRITE + 3 APPENDs from byte 0.
    expect(server.router.log.count('kala.write')).toBe(1 + 4)
    await kala.close()
  })

  it('honours 503 Retry-After on a chunk and still converges', async () => {
    await writeFile(join(dir.path, 'f.bin'), Buffer.alloc(600_000, 7))
    const kala = backend(undefined, 256 * 1024)
    server.router.faults.inject(
      'kala.write',
      { type: 'status', status: 503, headers: { 'retry-after': '1' } },
      { skip: 1 },
    )
    const started = Date.now()
    await expectStored(await kala.upload(await localFiles(dir.path)))
    expect(Date.now() - started).toBeGreaterThanOrEqual(950)
    await kala.close()
  })

  it('halves the chunk size on 413 and restarts the file', async () => {
    await writeFile(join(dir.path, 'f.bin'), Buffer.alloc(2 * 1024 * 1024 + 1, 3))
    server.maxBodyBytes = 700 * 1024
    const kala = backend(undefined, 2 * 1024 * 1024)
    await expectStored(await kala.upload(await localFiles(dir.path)))
    expect(kala.chunkSize).toBe(512 * 1024)
    await kala.close()
  })

  it('opens a new session when the server forgot the current one (404 mid-file)', async () => {
    await writeFile(join(dir.path, 'f.bin'), Buffer.alloc(800_000, 4))
    const kala = backend(undefined, 256 * 1024)
    server.router.faults.inject('kala.write', { type: 'status', status: 404 }, { skip: 1 })
    await expectStored(await kala.upload(await localFiles(dir.path)))
    expect(server.router.log.count('kala.session')).toBe(2)
    await kala.close()
  })

  it('reports each byte once, even when the session restarts', async () => {
    const content = Buffer.alloc(3 * 1024 * 1024, 9)
    await writeFile(join(dir.path, 'f.bin'), content)
    const kala = backend(undefined, 1024 * 1024)
    server.breakNextWrite(500_000, 1)
    let reported = 0
    await expectStored(
      await kala.upload(await localFiles(dir.path), { onProgress: (e) => (reported += e.bytes) }),
    )
    expect(reported).toBe(content.length)
    await kala.close()
  })

  it('opens a new session after a failed close', async () => {
    await writeFile(join(dir.path, 'f.bin'), Buffer.from('close me twice'))
    const kala = backend()
    server.router.faults.inject('kala.close', { type: 'status', status: 500 })
    const outcomes = await kala.upload(await localFiles(dir.path))
    await expectStored(outcomes)
    expect(server.router.log.count('kala.session')).toBe(2)
    expect(server.sessions().filter((s) => s.state === 'closed')).toHaveLength(1)
    await kala.close()
  })

  it('a close answered 200 with malformed JSON still counts (close has no body to read)', async () => {
    await writeFile(join(dir.path, 'f.bin'), Buffer.from('x'))
    const kala = backend()
    server.router.faults.inject('kala.session', { type: 'malformed' })
    const [outcome] = await kala.upload(await localFiles(dir.path))
    // A session id we cannot read is an integrity failure, and it is retried? No: reported.
    expect(outcome?.ok).toBe(false)
    expect(outcome && !outcome.ok && outcome.error.kind).toBe('integrity')
    await kala.close()
  })

  it('never reports a file that changed during its upload as synced', async () => {
    const path = join(dir.path, 'growing.log')
    await writeFile(path, Buffer.alloc(2 * 1024 * 1024, 1))
    const [file] = await localFiles(dir.path)
    const kala = backend(undefined, 256 * 1024)
    server.router.faults.inject('kala.write', { type: 'delay', ms: 200 }, { skip: 2 })
    const upload = kala.upload([file!])
    setTimeout(() => void appendFile(path, 'more'), 100)
    const [outcome] = await upload
    expect(outcome?.ok).toBe(false)
    expect(outcome && !outcome.ok && outcome.error.kind).toBe('local')
    await kala.close()
  })

  it('reports an unreadable file and uploads the rest', async () => {
    await writeTree(dir.path, sampleTree({ small: true }))
    const files = await localFiles(dir.path)
    const missing = {
      ...files[0]!,
      absPath: join(dir.path, 'vanished.txt'),
      relPath: 'vanished.txt',
    }
    const kala = backend()
    const outcomes = await kala.upload([missing, ...files])
    expect(outcomes[0]).toMatchObject({ ok: false, error: { kind: 'local' } })
    expect(String(!outcomes[0]!.ok && outcomes[0]!.error.message)).toContain('vanished.txt')
    await expectStored(outcomes.slice(1))
    await kala.close()
  })
})
