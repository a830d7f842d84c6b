import { readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { UploadOutcome } from '../../../main/backends/backend.ts'
import { cidOfFile } from '../../../main/backends/dstor/cid.ts'
import {
  DstorBackend,
  type DstorAuth,
  type DstorOptions,
} from '../../../main/backends/dstor/dstor-backend.ts'
import { HttpClient } from '../../../main/backends/http/client.ts'
import {
  createDstorServer,
  DSTOR_DEFAULT_API_KEY,
  DSTOR_DEFAULT_EMAIL,
  DSTOR_DEFAULT_PASSWORD,
  type DstorServer,
  type DstorServerOptions,
} from '../../servers/dstor-server.ts'
import { localFiles, sampleTree, sha256Hex, tempDir, writeTree } from '../../helpers/tree.ts'

const fastRetry = { retries: 3, baseDelayMs: 10, maxDelayMs: 100, maxRetryAfterMs: 5_000 }

describe('DstorBackend against the reference server', () => {
  let server: DstorServer
  let dir: Awaited<ReturnType<typeof tempDir>>

  const start = async (options: DstorServerOptions = {}): Promise<void> => {
    server = await createDstorServer({ stageDelayMs: 1, ...options })
  }

  beforeEach(async () => {
    dir = await tempDir()
  })

  afterEach(async () => {
    await server?.close()
    await dir.dispose()
  })

  const backend = (
    options: Partial<Omit<DstorOptions, 'http' | 'server'>> & { auth?: DstorAuth } = {},
  ): DstorBackend =>
    new DstorBackend({
      server: server.url,
      auth: { method: 'api-key', key: DSTOR_DEFAULT_API_KEY },
      http: new HttpClient({ retry: fastRetry, serviceName: 'dStor' }),
      ...options,
    })

  /** Every outcome is confirmed, and the server's tree under `folder` is exactly these files. */
  async function expectStored(outcomes: readonly UploadOutcome[], folder = ''): Promise<void> {
    const stored = new Map(
      server
        .listFiles()
        .filter((f) => f.folderPath === folder)
        .map((f) => [f.name, f]),
    )
    for (const outcome of outcomes) {
      if (!outcome.ok) throw outcome.error
      const local = await readFile(outcome.file.absPath)
      const remote = stored.get(outcome.file.relPath) ?? findSingle(outcome.file.relPath, folder)
      expect(remote, outcome.file.relPath).toBeDefined()
      expect(sha256Hex(await readFile(remote!.storedPath))).toBe(sha256Hex(local))
      expect((outcome.remote as { cid: string }).cid).toBe(await cidOfFile(outcome.file.absPath))
    }
  }

  // A lone file goes through the single-file upload, stored under its own folder.
  function findSingle(relPath: string, folder: string) {
    const slash = relPath.lastIndexOf('/')
    const sub = slash < 0 ? folder : [folder, relPath.slice(0, slash)].filter(Boolean).join('/')
    const name = relPath.slice(slash + 1)
    return server.listFiles().find((f) => f.folderPath === sub && f.name === name)
  }

  it('uploads the sample tree in one folder process, every CID checked', async () => {
    await start()
    await writeTree(dir.path, sampleTree())
    const dstor = backend({ remotePath: '/Backups/Laptop' })
    const outcomes = await dstor.upload(await localFiles(dir.path))
    await expectStored(outcomes, 'Backups/Laptop')
    expect(server.router.log.count('dstor.get-token')).toBe(1)
    expect(server.router.log.count('dstor.single')).toBe(0)
    await dstor.close()
  })

  it('splits into chunks by file count and bytes, and processes by chunk count', async () => {
    await start()
    const files = Array.from({ length: 9 }, (_, i) => ({
      relPath: `f${i}.bin`,
      content: Buffer.alloc(100_000, i),
    }))
    await writeTree(dir.path, files)
    const dstor = backend({
      limits: { maxFilesPerChunk: 2, maxBytesPerChunk: 250_000, maxChunksPerProcess: 3 },
    })
    await expectStored(await dstor.upload(await localFiles(dir.path)))
    expect(server.router.log.count('dstor.upload')).toBe(5)
    expect(server.router.log.count('dstor.get-token')).toBe(2)
    await dstor.close()
  })

  it('sends a lone file, and a file too big for a chunk, through the single-file upload', async () => {
    await start()
    await writeTree(dir.path, [
      { relPath: 'Été 2024/東京.txt', content: Buffer.from('hello world') },
      { relPath: 'small.txt', content: Buffer.from('small') },
      { relPath: 'other.txt', content: Buffer.from('other') },
      { relPath: 'huge.bin', content: Buffer.alloc(3_000_000, 9) },
    ])
    const all = await localFiles(dir.path)
    const dstor = backend({ limits: { maxBytesPerChunk: 1_000_000 } })
    await expectStored(await dstor.upload(all.filter((f) => f.relPath.startsWith('Été'))))
    expect(findSingle('Été 2024/東京.txt', '')?.cid).toBe(
      'Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD',
    )
    await expectStored(await dstor.upload(all.filter((f) => !f.relPath.startsWith('Été'))))
    expect(server.router.log.count('dstor.single')).toBe(2)
    expect(server.router.log.count('dstor.upload')).toBe(1)
    await dstor.close()
  })

  it('logs in with e-mail and password', async () => {
    await start()
    await writeTree(dir.path, sampleTree({ small: true }))
    const dstor = backend({
      auth: { method: 'login', email: DSTOR_DEFAULT_EMAIL, password: DSTOR_DEFAULT_PASSWORD },
    })
    await expectStored(await dstor.upload(await localFiles(dir.path)))
    expect(server.router.log.count('dstor.login')).toBe(1)
    await dstor.close()
  })

  it('wrong or revoked credentials are auth errors, and nothing is uploaded', async () => {
    await start()
    await writeTree(dir.path, sampleTree({ small: true }))
    const wrong = backend({ auth: { method: 'api-key', key: 'x'.repeat(64) } })
    await expect(wrong.checkAuth()).rejects.toMatchObject({ kind: 'auth' })
    await expect(wrong.upload(await localFiles(dir.path))).rejects.toMatchObject({ kind: 'auth' })
    const dstor = backend()
    await dstor.checkAuth()
    server.revokeApiKey(DSTOR_DEFAULT_API_KEY)
    await expect(dstor.upload(await localFiles(dir.path))).rejects.toMatchObject({ kind: 'auth' })
    expect(server.listFiles()).toEqual([])
    await wrong.close()
    await dstor.close()
  })

  it('refreshes a token that expires during a push', async () => {
    await start({ tokenLifetimeSeconds: 600 })
    await writeTree(dir.path, sampleTree({ small: true }))
    const dstor = backend()
    const files = await localFiles(dir.path)
    await expectStored(await dstor.upload(files.slice(0, 3)))
    // Every token the server issued so far now answers 401: one refresh, one retry.
    server.invalidateTokens()
    await expectStored(await dstor.upload(files.slice(3)))
    expect(server.router.log.count('dstor.token')).toBe(2)
    await dstor.close()
  })

  it('abandons a process after a dropped chunk and converges with a new one', async () => {
    await start()
    await writeTree(dir.path, sampleTree())
    const dstor = backend({ limits: { maxFilesPerChunk: 3 } })
    server.router.faults.inject('dstor.upload', { type: 'drop', afterBytes: 50_000 }, { skip: 1 })
    await expectStored(await dstor.upload(await localFiles(dir.path)))
    expect(server.router.log.count('dstor.get-token')).toBe(2)
    await dstor.close()
  })

  it('waits out a 503 with Retry-After', async () => {
    await start()
    await writeTree(dir.path, sampleTree({ small: true }))
    const dstor = backend()
    server.router.faults.inject('dstor.upload', {
      type: 'status',
      status: 503,
      headers: { 'retry-after': '1' },
    })
    const started = Date.now()
    await expectStored(await dstor.upload(await localFiles(dir.path)))
    expect(Date.now() - started).toBeGreaterThanOrEqual(950)
    await dstor.close()
  })

  it('shows a process ERROR with its stage and explanation, and records nothing', async () => {
    await start()
    await writeTree(dir.path, sampleTree({ small: true }))
    server.injectProcessError(
      { stage: 'ADDING_TO_IPFS', explanation: 'ipfs node unreachable' },
      { times: 1 },
    )
    const dstor = backend()
    const outcomes = await dstor.upload(await localFiles(dir.path))
    for (const outcome of outcomes) {
      expect(outcome.ok).toBe(false)
      expect(!outcome.ok && outcome.error.message).toContain('ADDING_TO_IPFS')
      expect(!outcome.ok && outcome.error.message).toContain('ipfs node unreachable')
    }
    await dstor.close()
  })

  it('a DONE row with the wrong CID is an integrity error for that file only', async () => {
    await start()
    await writeTree(dir.path, sampleTree({ small: true }))
    server.router.faults.inject(
      'dstor.status',
      {
        type: 'rewrite',
        rewrite: (body) => {
          const answer = body as { status: string; data?: { Name: string; Hash: string }[] }
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
    const dstor = backend()
    const outcomes = await dstor.upload(await localFiles(dir.path))
    const bad = outcomes.filter((o) => !o.ok)
    expect(bad.map((o) => o.file.relPath)).toEqual(['hello.txt'])
    expect(bad[0]).toMatchObject({ error: { kind: 'integrity' } })
    await dstor.close()
  })

  it('a DONE answer missing a file does not confirm it', async () => {
    await start()
    await writeTree(dir.path, sampleTree({ small: true }))
    server.router.faults.inject(
      'dstor.status',
      {
        type: 'rewrite',
        rewrite: (body) => {
          const answer = body as { data?: { Name: string }[] }
          return { ...answer, data: answer.data?.filter((row) => row.Name !== 'empty.bin') }
        },
      },
      { times: 100 },
    )
    const dstor = backend()
    const outcomes = await dstor.upload(await localFiles(dir.path))
    expect(outcomes.filter((o) => !o.ok).map((o) => o.file.relPath)).toEqual(['empty.bin'])
    await dstor.close()
  })

  it('gives up polling after the status timeout, leaving the files for later', async () => {
    await start()
    await writeTree(dir.path, sampleTree({ small: true }))
    server.router.faults.inject(
      'dstor.status',
      { type: 'rewrite', rewrite: () => ({ status: 'SOMETHING_NEW' }) },
      { times: 1000 },
    )
    const dstor = backend({ statusTimeoutMs: 300 })
    const outcomes = await dstor.upload(await localFiles(dir.path))
    for (const outcome of outcomes)
      expect(outcome).toMatchObject({ ok: false, error: { kind: 'retryable' } })
    await dstor.close()
  })

  it('starts a new process when the server forgot the current one (404)', async () => {
    await start()
    await writeTree(dir.path, sampleTree({ small: true }))
    server.router.faults.inject('dstor.status', {
      type: 'status',
      status: 404,
      body: '{"message":"not found"}',
    })
    const dstor = backend()
    await expectStored(await dstor.upload(await localFiles(dir.path)))
    expect(server.router.log.count('dstor.get-token')).toBe(2)
    await dstor.close()
  })

  it('reports progress of file bytes only, each byte once across a restarted process', async () => {
    await start()
    const tree = sampleTree()
    await writeTree(dir.path, tree)
    server.router.faults.inject('dstor.upload', { type: 'drop', afterBytes: 2_000_000 })
    const dstor = backend()
    let reported = 0
    await expectStored(
      await dstor.upload(await localFiles(dir.path), { onProgress: (e) => (reported += e.bytes) }),
    )
    expect(reported).toBe(tree.reduce((sum, f) => sum + f.content.length, 0))
    await dstor.close()
  })

  it('a file deleted after the push started fails alone; the rest of its process goes again', async () => {
    await start()
    await writeTree(dir.path, sampleTree({ small: true }))
    const files = await localFiles(dir.path)
    server.router.faults.inject('dstor.get-token', { type: 'delay', ms: 300 })
    const dstor = backend()
    const pending = dstor.upload(files)
    await new Promise((r) => setTimeout(r, 100))
    await rm(join(dir.path, 'photos/img 001.jpg'))
    const outcomes = await pending
    const failed = outcomes.filter((o) => !o.ok)
    expect(failed.map((o) => o.file.relPath)).toEqual(['photos/img 001.jpg'])
    expect(!failed[0]!.ok && failed[0]!.error.message).toMatch(/deleted/)
    await expectStored(outcomes.filter((o) => o.ok))
    await dstor.close()
  })

  it('a single-file answer with a wrong CID is not a success', async () => {
    await start()
    await writeFile(join(dir.path, 'one.txt'), 'one')
    server.router.faults.inject('dstor.single', {
      type: 'rewrite',
      rewrite: (b) => ({ ...(b as object), Hash: 'QmNotIt' }),
    })
    const dstor = backend()
    const [outcome] = await dstor.upload(await localFiles(dir.path))
    expect(outcome).toMatchObject({ ok: false, error: { kind: 'integrity' } })
    await dstor.close()
  })
})
