import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { UploadOutcome } from '../../../main/backends/backend.ts'
import { HttpClient } from '../../../main/backends/http/client.ts'
import { BlobSender, type SendOptions } from '../../../main/backends/perkeep/blob-sender.ts'
import { discoverTarget } from '../../../main/backends/perkeep/blob-target.ts'
import type { Chunk } from '../../../main/backends/perkeep/chunker.ts'
import { buildFileBlobs } from '../../../main/backends/perkeep/file-blobs.ts'
import {
  PerkeepBackend,
  type PerkeepOptions,
} from '../../../main/backends/perkeep/perkeep-backend.ts'
import { sendWhileHashing } from '../../../main/backends/perkeep/streaming-send.ts'
import { WorkerHasher } from '../../../main/backends/perkeep/worker-hasher.ts'
import { ProgressTracker } from '../../../main/backends/progress.ts'
import { createPerkeepServer, type PerkeepServer } from '../../servers/perkeep-server.ts'
import { localFiles, sha256Hex, tempDir } from '../../helpers/tree.ts'

const fastRetry = { retries: 3, baseDelayMs: 10, maxDelayMs: 50, maxRetryAfterMs: 1_000 }
const credentials = { user: 'ferry', password: 'pw' }
const basic = `Basic ${Buffer.from('ferry:pw').toString('base64')}`

// Small thresholds, so a few megabytes make many batches and requests.
const streaming: Partial<PerkeepOptions> = {
  streamBytes: 1024 * 1024,
  batchBytes: 512 * 1024,
  batchesInFlight: 2,
  requestBytes: 256 * 1024,
  hashOnWorker: false,
}

describe('big files: chunks go out while the file is still being hashed', () => {
  let server: PerkeepServer
  let dir: Awaited<ReturnType<typeof tempDir>>
  let big: string
  // Noise, then 3 MiB of zeros: three identical 1 MiB chunks among the rest.
  const content = Buffer.concat([randomBytes(5 * 1024 * 1024 + 4321), Buffer.alloc(3 << 20)])

  beforeEach(async () => {
    server = await createPerkeepServer({ auth: credentials })
    dir = await tempDir()
    big = join(dir.path, 'big.bin')
    await writeFile(big, content)
    await writeFile(join(dir.path, 'small.txt'), 'small file beside the big one')
  })

  afterEach(async () => {
    await server.close()
    await dir.dispose()
  })

  const backend = (options: Partial<PerkeepOptions> = {}): PerkeepBackend =>
    new PerkeepBackend({
      server: server.url,
      auth: { method: 'userpass', ...credentials },
      http: new HttpClient({ retry: fastRetry, serviceName: 'Perkeep' }),
      ...streaming,
      ...options,
    })

  async function expectStored(outcome: UploadOutcome | undefined, path: string): Promise<void> {
    if (!outcome?.ok) throw outcome?.error ?? new Error('no outcome')
    const fileRef = (outcome.remote as { fileRef: string }).fileRef
    expect(sha256Hex(await server.fileBytes(fileRef))).toBe(sha256Hex(await readFile(path)))
    // The same refs Perkeep's own client makes.
    expect(fileRef).toBe((await buildFileBlobs(path, outcome.file.relPath)).fileRef)
  }

  it('stores the file in many requests, chunks before the schema naming them, each once', async () => {
    const perkeep = backend()
    const files = await localFiles(dir.path)
    const outcomes = await perkeep.upload(files)
    await expectStored(outcomes[0], big)
    expect(outcomes[1]?.ok).toBe(true)
    const local = await buildFileBlobs(big, 'big.bin')
    const chunkRefs = new Set(local.blobs.filter((b) => b.kind === 'range').map((b) => b.ref))
    const schemaRefs = new Set(local.blobs.filter((b) => b.kind === 'schema').map((b) => b.ref))
    const stored = server.uploads().flatMap((u) => u.stored)
    const lastChunk = Math.max(...stored.flatMap((ref, i) => (chunkRefs.has(ref) ? [i] : [])))
    const firstSchema = stored.findIndex((ref) => schemaRefs.has(ref))
    expect(firstSchema).toBeGreaterThan(lastChunk)
    expect(stored.filter((ref) => chunkRefs.has(ref))).toHaveLength(chunkRefs.size)
    // Requests stay within the size asked for (1 MiB chunks are alone in theirs).
    expect(server.uploads().length).toBeGreaterThan(20)
    for (const upload of server.uploads()) expect(upload.blobBytes).toBeLessThanOrEqual(1 << 20)
    await perkeep.close()
  })

  it('overlaps hashing and sending, with no more batches out than allowed', async () => {
    const http = new HttpClient({ retry: fastRetry })
    const auth = { headers: async () => ({ authorization: basic }), refresh: async () => {} }
    const target = await discoverTarget(new URL(server.url), http, auth)
    let active = 0
    let most = 0
    class CountingSender extends BlobSender {
      override async send(
        blobs: Parameters<BlobSender['send']>[0],
        options?: SendOptions,
      ): ReturnType<BlobSender['send']> {
        active++
        most = Math.max(most, active)
        try {
          return await super.send(blobs, options)
        } finally {
          active--
        }
      }
    }
    // Reading is slowed a little, so sending clearly has time to start.
    let uploadsSeenWhileHashing = 0
    const result = await sendWhileHashing(
      new CountingSender(target, fastRetry),
      big,
      'big.bin',
      (path, name, options) =>
        buildFileBlobs(path, name, {
          ...options,
          readSize: 128 * 1024,
          onChunks: async (chunks: readonly Chunk[]) => {
            await new Promise((resolve) => setTimeout(resolve, 2))
            uploadsSeenWhileHashing = server.router.log.count('perkeep.upload')
            await options.onChunks?.(chunks)
          },
        }),
      {
        batchBytes: 256 * 1024,
        inFlight: 2,
        parallel: 1,
        requestBytes: 128 * 1024,
        progress: new ProgressTracker(),
      },
    )
    expect(uploadsSeenWhileHashing).toBeGreaterThan(5)
    expect(most).toBe(2)
    // Chunks are all on the server; the schema blobs are left to the caller.
    expect(result.blobs.every((b) => b.kind === 'schema')).toBe(true)
    expect(result.sha256hex).toBe(sha256Hex(content))
    await http.close()
  })

  it('fails only the big file when a batch is refused, and stops reading it', async () => {
    // 24 MiB of noise: about a hundred requests of 256 KiB if it were all sent.
    await writeFile(big, randomBytes(24 << 20))
    server.router.faults.inject(
      'perkeep.upload',
      { type: 'status', status: 400, body: '{"errorText":"not today"}' },
      { skip: 1 },
    )
    const perkeep = backend()
    const [bigOutcome, smallOutcome] = await perkeep.upload(await localFiles(dir.path))
    expect(bigOutcome).toMatchObject({ ok: false, error: { kind: 'permanent' } })
    expect(smallOutcome?.ok).toBe(true)
    // The refusal ends the file after the batches already out (and the small file's two).
    expect(server.router.log.count('perkeep.upload')).toBeLessThan(30)
    await perkeep.close()
  })

  it('ends the whole upload on a refused login mid-file', async () => {
    server.router.faults.inject(
      'perkeep.upload',
      { type: 'status', status: 401 },
      { skip: 2, times: 10 },
    )
    const perkeep = backend()
    await expect(perkeep.upload(await localFiles(dir.path))).rejects.toMatchObject({
      kind: 'auth',
    })
    await perkeep.close()
  })

  it('stops at once when cancelled mid-file, and sends nothing afterwards', async () => {
    const controller = new AbortController()
    server.router.faults.inject('perkeep.upload', { type: 'delay', ms: 20 }, { times: 100 })
    const perkeep = backend()
    const files = (await localFiles(dir.path)).filter((f) => f.relPath === 'big.bin')
    const pending = perkeep.upload(files, { signal: controller.signal })
    while (server.router.log.count('perkeep.upload') < 3) {
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
    controller.abort()
    await expect(pending).rejects.toMatchObject({ kind: 'cancelled' })
    const after = server.router.log.count('perkeep.upload')
    await new Promise((resolve) => setTimeout(resolve, 300))
    // At most the requests already on their way (two batches in flight) land late.
    expect(server.router.log.count('perkeep.upload')).toBeLessThanOrEqual(after + 2)
    expect(server.router.log.count('perkeep.upload')).toBeLessThan(10)
    await perkeep.close()
  })

  it('hashes on a worker thread when asked, with the same result', async () => {
    const perkeep = backend({ hashOnWorker: true })
    const outcomes = await perkeep.upload(await localFiles(dir.path))
    await expectStored(outcomes[0], big)
    await perkeep.close()
  })

  it('goes one request at a time to a legacy server, whose answers supersede upload URLs', async () => {
    await server.close()
    server = await createPerkeepServer({
      auth: credentials,
      mode: 'legacy',
      maxUploadSize: 1024 * 1024,
    })
    const perkeep = backend({ batchesInFlight: 3 })
    const outcomes = await perkeep.upload(await localFiles(dir.path))
    await expectStored(outcomes[0], big)
    for (const upload of server.uploads()) expect(upload.blobBytes).toBeLessThanOrEqual(1 << 20)
    await perkeep.close()
  })
})

describe('WorkerHasher', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let path: string
  const hasher = new WorkerHasher()

  beforeEach(async () => {
    dir = await tempDir()
    path = join(dir.path, 'data.bin')
    await writeFile(path, randomBytes(3 * 1024 * 1024 + 99))
  })

  afterEach(async () => {
    await dir.dispose()
  })

  it('hands over the chunks in file order and returns what buildFileBlobs returns', async () => {
    const local = await buildFileBlobs(path, 'dir/data.bin')
    const chunks: Chunk[] = []
    const result = await hasher.hash(path, 'dir/data.bin', {
      onChunks: async (cut) => {
        await new Promise((resolve) => setTimeout(resolve, 1))
        chunks.push(...cut)
      },
    })
    expect(result).toEqual(local)
    expect(Buffer.isBuffer(result.blobs.find((b) => b.kind === 'schema')?.bytes)).toBe(true)
    expect(chunks.map((c) => c.ref)).toEqual(
      local.blobs.filter((b) => b.kind === 'range').map((b) => b.ref),
    )
    const schemaOnly = await hasher.hash(path, 'dir/data.bin', { schemaOnly: true })
    expect(schemaOnly.blobs).toEqual(local.blobs.filter((b) => b.kind === 'schema'))
  })

  it('fails like buildFileBlobs on a missing file, and when cancelled', async () => {
    await expect(hasher.hash(join(dir.path, 'nope'), 'nope', {})).rejects.toMatchObject({
      kind: 'local',
    })
    const controller = new AbortController()
    const pending = hasher.hash(path, 'data.bin', {
      signal: controller.signal,
      onChunks: () => controller.abort(),
    })
    await expect(pending).rejects.toMatchObject({ kind: 'cancelled' })
  })

  it('fails with the consumer’s own error when the consumer gives up', async () => {
    const reason = new Error('batch refused')
    await expect(
      hasher.hash(path, 'data.bin', {
        onChunks: () => {
          throw reason
        },
      }),
    ).rejects.toBe(reason)
  })

  it('starts a fresh thread after close', async () => {
    await hasher.close()
    const again = await hasher.hash(path, 'data.bin', {})
    expect(again.size).toBe(3 * 1024 * 1024 + 99)
    await hasher.close()
  })
})
