import { randomBytes } from 'node:crypto'
import { appendFile, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { LocalFile, UploadOutcome } from '../../../main/backends/backend.ts'
import { FileChangedError } from '../../../main/backends/errors.ts'
import { HttpClient } from '../../../main/backends/http/client.ts'
import { buildFileBlobs } from '../../../main/backends/perkeep/file-blobs.ts'
import { PerkeepBackend, type PerkeepAuth } from '../../../main/backends/perkeep/perkeep-backend.ts'
import { walkFolder } from '../../../main/sync/walk.ts'
import {
  createPerkeepServer,
  type PerkeepServer,
  type PerkeepServerOptions,
} from '../../servers/perkeep-server.ts'
import type { TreeNode } from '../../servers/perkeep-schema-reader.ts'
import { localFiles, sampleTree, sha256Hex, tempDir, writeTree } from '../../helpers/tree.ts'

const fastRetry = { retries: 4, baseDelayMs: 10, maxDelayMs: 100, maxRetryAfterMs: 5_000 }
const auth: PerkeepAuth = { method: 'userpass', user: 'ferry', password: 'pw' }

describe('PerkeepBackend against the reference server', () => {
  let server: PerkeepServer
  let dir: Awaited<ReturnType<typeof tempDir>>

  const start = async (options: PerkeepServerOptions = {}): Promise<void> => {
    server = await createPerkeepServer({
      auth: { user: 'ferry', password: 'pw', token: 'tok' },
      ...options,
    })
  }

  beforeEach(async () => {
    dir = await tempDir()
  })

  afterEach(async () => {
    await server?.close()
    await dir.dispose()
  })

  const backend = (
    options: { auth?: PerkeepAuth; vivify?: boolean; url?: string } = {},
  ): PerkeepBackend =>
    new PerkeepBackend({
      server: options.url ?? server.url,
      auth: options.auth ?? auth,
      vivify: options.vivify ?? false,
      http: new HttpClient({ retry: fastRetry, serviceName: 'Perkeep' }),
    })

  async function expectFiles(outcomes: readonly UploadOutcome[]): Promise<void> {
    for (const outcome of outcomes) {
      if (!outcome.ok) throw outcome.error
      const fileRef = (outcome.remote as { fileRef: string }).fileRef
      const { readFile } = await import('node:fs/promises')
      const local = await readFile(outcome.file.absPath)
      expect(sha256Hex(await server.fileBytes(fileRef)), outcome.file.relPath).toBe(
        sha256Hex(local),
      )
    }
  }

  /** Flattens the server's directory tree into relPath → file bytes' sha256. */
  async function serverTree(rootRef: string): Promise<Map<string, string>> {
    const out = new Map<string, string>()
    const walk = async (node: TreeNode, prefix: string): Promise<void> => {
      for (const child of node.children ?? []) {
        const rel = prefix ? `${prefix}/${child.name}` : child.name
        if (child.type === 'directory') await walk(child, rel)
        else if (child.fileRef) out.set(rel, sha256Hex(await server.fileBytes(child.fileRef)))
      }
    }
    await walk(await server.readDirectory(rootRef), '')
    return out
  }

  it('stores the sample tree as file and directory blobs; the server holds exactly the local tree', async () => {
    await start()
    const tree = sampleTree()
    await writeTree(dir.path, tree)
    const perkeep = backend()
    const walk = await walkFolder(dir.path)
    const outcomes = await perkeep.upload(walk.files)
    await expectFiles(outcomes)
    const root = await perkeep.storeTree({
      root: dir.path,
      folders: walk.folders,
      files: outcomes.flatMap((o) => (o.ok ? [{ relPath: o.file.relPath, remote: o.remote }] : [])),
    })
    const expected = new Map(tree.map((f) => [f.relPath, sha256Hex(f.content)]))
    expect(await serverTree(root)).toEqual(expected)
    // The file refs are exactly those Perkeep's own client would make for these files.
    for (const outcome of outcomes) {
      const local = await buildFileBlobs(outcome.file.absPath, outcome.file.relPath)
      expect(outcome.ok && (outcome.remote as { fileRef: string }).fileRef).toBe(local.fileRef)
    }
    await perkeep.close()
  })

  it('sends nothing twice: a second upload of the same files only stats', async () => {
    await start()
    await writeTree(dir.path, sampleTree({ small: true }))
    const perkeep = backend()
    const files = await localFiles(dir.path)
    await expectFiles(await perkeep.upload(files))
    const uploadsBefore = server.router.log.count('perkeep.upload')
    const fresh = backend()
    await expectFiles(await fresh.upload(files))
    expect(server.router.log.count('perkeep.upload')).toBe(uploadsBefore)
    await perkeep.close()
    await fresh.close()
  })

  it('accepts Token auth and refuses wrong credentials before sending anything', async () => {
    await start()
    await writeTree(dir.path, sampleTree({ small: true }))
    const files = await localFiles(dir.path)
    const token = backend({ auth: { method: 'token', token: 'tok' } })
    await expectFiles(await token.upload(files.slice(0, 2)))
    const wrong = backend({ auth: { method: 'userpass', user: 'ferry', password: 'nope' } })
    await expect(wrong.checkAuth()).rejects.toMatchObject({ kind: 'auth' })
    const count = server.blobCount()
    await expect(wrong.upload(files)).rejects.toMatchObject({ kind: 'auth' })
    expect(server.blobCount()).toBe(count)
    await token.close()
    await wrong.close()
  })

  it('recovers from a connection dropped mid-upload by stating and sending the remainder', async () => {
    await start()
    await writeFile(
      join(dir.path, 'big.bin'),
      Buffer.alloc(40 * 1024 * 1024).map((_, i) => (i * 7919) % 253),
    )
    const perkeep = backend()
    server.router.faults.inject('perkeep.upload', { type: 'drop', afterBytes: 5 * 1024 * 1024 })
    await expectFiles(await perkeep.upload(await localFiles(dir.path)))
    expect(server.router.log.count('perkeep.stat')).toBeGreaterThanOrEqual(2)
    await perkeep.close()
  })

  it('surfaces errorText and resends the rest of the request', async () => {
    await start()
    await writeTree(dir.path, sampleTree({ small: true }))
    const files = await localFiles(dir.path)
    const victim = files.find((f) => f.relPath === 'photos/img 001.jpg')!
    const victimBlobs = await buildFileBlobs(victim.absPath, victim.relPath)
    const firstChunk = victimBlobs.blobs[0]!.ref
    server.rejectNext(firstChunk, 10)
    const perkeep = backend()
    const outcomes = await perkeep.upload(files)
    const failed = outcomes.filter((o) => !o.ok)
    expect(failed.map((o) => o.file.relPath)).toEqual(['photos/img 001.jpg'])
    expect(!failed[0]!.ok && failed[0]!.error.message).toMatch(/Perkeep refused/)
    await expectFiles(outcomes.filter((o) => o.ok))
    await perkeep.close()
  })

  it('retries a 503 with Retry-After', async () => {
    await start()
    await writeFile(join(dir.path, 'a.txt'), 'retry me')
    const perkeep = backend()
    server.router.faults.inject('perkeep.upload', {
      type: 'status',
      status: 503,
      headers: { 'retry-after': '1' },
    })
    const started = Date.now()
    await expectFiles(await perkeep.upload(await localFiles(dir.path)))
    expect(Date.now() - started).toBeGreaterThanOrEqual(950)
    await perkeep.close()
  })

  it('follows a 303 redirect to the upload answer', async () => {
    await start({ uploadRedirect: 303 })
    await writeTree(dir.path, sampleTree({ small: true }))
    const perkeep = backend()
    await expectFiles(await perkeep.upload(await localFiles(dir.path)))
    await perkeep.close()
  })

  it('treats a malformed upload answer as not stored, then converges', async () => {
    await start()
    await writeFile(join(dir.path, 'a.txt'), 'malformed')
    const perkeep = backend()
    server.router.faults.inject('perkeep.upload', { type: 'malformed' })
    await expectFiles(await perkeep.upload(await localFiles(dir.path)))
    await perkeep.close()
  })

  it('never confirms a blob the server reports with the wrong size', async () => {
    await start()
    await writeFile(join(dir.path, 'a.txt'), 'size matters')
    const perkeep = backend()
    server.router.faults.inject(
      'perkeep.upload',
      {
        type: 'rewrite',
        rewrite: (body) => {
          const answer = body as { received: { blobRef: string; size: number }[] }
          return { ...answer, received: answer.received.map((r) => ({ ...r, size: r.size + 1 })) }
        },
      },
      { times: 10 },
    )
    // Stat says nothing yet; the upload answer lies about the size.
    const [outcome] = await perkeep.upload(await localFiles(dir.path))
    expect(outcome).toMatchObject({ ok: false, error: { kind: 'integrity' } })
    await perkeep.close()
  })

  it('a request refused as a whole fails its files, not the whole upload', async () => {
    await start()
    await writeTree(dir.path, sampleTree({ small: true }))
    server.router.faults.inject('perkeep.upload', {
      type: 'status',
      status: 413,
      body: '{"errorText":"too big"}',
    })
    const perkeep = new PerkeepBackend({
      server: server.url,
      auth,
      http: new HttpClient({ retry: fastRetry }),
      concurrency: 1,
    })
    const outcomes = await perkeep.upload(await localFiles(dir.path))
    expect(outcomes.some((o) => !o.ok && o.error.kind === 'permanent')).toBe(true)
    await perkeep.close()
  })

  it('an outage that outlasts the retries leaves the files retryable, not failed for good', async () => {
    await start()
    await writeFile(join(dir.path, 'a.txt'), 'down')
    server.router.faults.inject('perkeep.upload', { type: 'status', status: 503 }, { times: 100 })
    const perkeep = backend()
    const [outcome] = await perkeep.upload(await localFiles(dir.path))
    expect(outcome).toMatchObject({ ok: false, error: { kind: 'retryable' } })
    await perkeep.close()
  })

  it('reports each byte of the files once, even across a dropped request', async () => {
    await start()
    const content = Buffer.alloc(20 * 1024 * 1024).map((_, i) => (i * 31) % 251)
    await writeFile(join(dir.path, 'big.bin'), content)
    server.router.faults.inject('perkeep.upload', { type: 'drop', afterBytes: 3 * 1024 * 1024 })
    const perkeep = backend()
    let reported = 0
    await expectFiles(
      await perkeep.upload(await localFiles(dir.path), {
        onProgress: (e) => (reported += e.bytes),
      }),
    )
    // Content chunks count; schema blobs (a few hundred bytes) are not file bytes.
    expect(reported).toBeGreaterThanOrEqual(content.length)
    expect(reported).toBeLessThan(content.length + 64 * 1024)
    await perkeep.close()
  })

  it('vivifies a file even when its schema is already on the server, and reports a refusal', async () => {
    await start()
    await writeFile(join(dir.path, 'a.txt'), 'already here')
    const files = await localFiles(dir.path)
    const plain = backend()
    const [first] = await plain.upload(files)
    const fileRef = (first as { remote: { fileRef: string } }).remote.fileRef
    const vivify = backend({ vivify: true })
    await expectFiles(await vivify.upload(files))
    expect(server.vivified().has(fileRef)).toBe(true)
    server.router.faults.inject('perkeep.upload', {
      type: 'rewrite',
      rewrite: (body) => ({ ...(body as object), errorText: 'vivify: no permanode for you' }),
    })
    const [refused] = await backend({ vivify: true }).upload(files)
    expect(refused).toMatchObject({ ok: false, error: { kind: 'permanent' } })
    expect(!refused!.ok && refused!.error.message).toContain('no permanode for you')
    await plain.close()
    await vivify.close()
  })

  it('vivifies files when asked', async () => {
    await start()
    await writeFile(join(dir.path, 'a.txt'), 'make me visible')
    const perkeep = backend({ vivify: true })
    const [outcome] = await perkeep.upload(await localFiles(dir.path))
    await expectFiles([outcome!])
    expect(server.vivified().has((outcome as { remote: { fileRef: string } }).remote.fileRef)).toBe(
      true,
    )
    await perkeep.close()
  })

  it('uses an explicit blob root URL without discovery', async () => {
    await start()
    await writeFile(join(dir.path, 'a.txt'), 'direct')
    const perkeep = backend({ url: `${server.url}${server.blobRoot}` })
    await expectFiles(await perkeep.upload(await localFiles(dir.path)))
    expect(server.router.log.count('perkeep.discovery')).toBe(0)
    await perkeep.close()
  })

  it('does not confirm a file that changed while it was sent', async () => {
    await start()
    const path = join(dir.path, 'log.txt')
    await writeFile(path, Buffer.alloc(3 * 1024 * 1024, 5))
    const files = await localFiles(dir.path)
    server.router.faults.inject('perkeep.upload', { type: 'delay', ms: 300 })
    const perkeep = backend()
    const pending = perkeep.upload(files)
    setTimeout(() => void appendFile(path, 'x'), 150)
    const [outcome] = await pending
    expect(outcome).toMatchObject({ ok: false, error: { kind: 'local' } })
    await perkeep.close()
  })

  /** The contents of every `file` schema on the server named `fileName`. */
  async function storedVersions(fileName: string): Promise<Buffer[]> {
    const out: Buffer[] = []
    for (const { ref } of server.blobs()) {
      const schema = await server.readSchema(ref).catch(() => undefined)
      if (schema?.camliType === 'file' && schema['fileName'] === fileName) {
        out.push(await server.fileBytes(ref))
      }
    }
    return out
  }

  // Small files in a wave; big ones streamed while hashed, on this thread or on a worker.
  for (const [shape, options] of [
    ['in a wave', {}],
    ['streamed', { streamBytes: 1 << 20, batchBytes: 256 << 10, hashOnWorker: false }],
    ['streamed, hashed on a worker', { streamBytes: 1 << 20, hashOnWorker: true }],
  ] as const) {
    it(`${shape}: a file that grew since it was listed goes out as the listed prefix`, async () => {
      await start()
      const path = join(dir.path, 'grow.log')
      const first = Buffer.concat([randomBytes(2 << 20), Buffer.from('line\n')])
      await writeFile(path, first)
      const [listed] = await localFiles(dir.path)
      await appendFile(path, randomBytes(300_000))
      const perkeep = new PerkeepBackend({
        server: server.url,
        auth,
        http: new HttpClient({ retry: fastRetry, serviceName: 'Perkeep' }),
        ...options,
      })
      const [outcome] = await perkeep.upload([listed as LocalFile])
      // Not confirmed (the file is not what was sent), but the snapshot is on the server, whole.
      expect(outcome?.ok).toBe(false)
      expect(outcome && !outcome.ok && outcome.error).toBeInstanceOf(FileChangedError)
      const versions = await storedVersions('grow.log')
      expect(versions.map((v) => sha256Hex(v))).toEqual([sha256Hex(first)])
      await perkeep.close()
    })
  }

  it('a file that shrank since it was listed is refused as changed, and not stored', async () => {
    await start()
    const path = join(dir.path, 'shrink.log')
    await writeFile(path, randomBytes(500_000))
    const [listed] = await localFiles(dir.path)
    await truncate(path, 400_000)
    const perkeep = backend()
    const [outcome] = await perkeep.upload([listed as LocalFile])
    expect(outcome && !outcome.ok && outcome.error).toBeInstanceOf(FileChangedError)
    expect(await storedVersions('shrink.log')).toEqual([])
    await perkeep.close()
  })

  describe('legacy preupload server (seed 004)', () => {
    it('uploads through server-chosen URLs within maxUploadSize', async () => {
      await start({ mode: 'legacy', maxUploadSize: 1024 * 1024 })
      const tree = sampleTree()
      await writeTree(dir.path, tree)
      const perkeep = backend()
      const walk = await walkFolder(dir.path)
      const outcomes = await perkeep.upload(walk.files)
      await expectFiles(outcomes)
      for (const upload of server.uploads())
        expect(upload.blobBytes).toBeLessThanOrEqual(1024 * 1024)
      const root = await perkeep.storeTree({
        root: dir.path,
        folders: walk.folders,
        files: outcomes.flatMap((o) =>
          o.ok ? [{ relPath: o.file.relPath, remote: o.remote }] : [],
        ),
      })
      expect((await serverTree(root)).size).toBe(tree.length)
      await perkeep.close()
    })

    it('asks preupload again after the upload URL expires', async () => {
      let now = Date.now()
      await start({ mode: 'legacy', uploadUrlExpirationSeconds: 60, now: () => now })
      await writeFile(join(dir.path, 'a.txt'), 'first')
      const perkeep = backend()
      await expectFiles(await perkeep.upload(await localFiles(dir.path)))
      now += 120_000
      await writeFile(join(dir.path, 'b.txt'), 'second')
      const files = (await localFiles(dir.path)).filter((f) => f.relPath === 'b.txt')
      // The client's own clock has not moved: the server's 404 must send it back to preupload.
      await expectFiles(await perkeep.upload(files))
      await perkeep.close()
    })

    it('recovers from a dropped legacy upload', async () => {
      await start({ mode: 'legacy' })
      await writeTree(dir.path, sampleTree({ small: true }))
      const perkeep = backend()
      server.router.faults.inject('perkeep.upload', { type: 'drop', afterBytes: 1000 })
      await expectFiles(await perkeep.upload(await localFiles(dir.path)))
      await perkeep.close()
    })
  })
})
