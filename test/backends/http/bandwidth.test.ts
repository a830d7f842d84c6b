import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { AccountConfig } from '../../../main/backends/account.ts'
import type { Backend, UploadOutcome } from '../../../main/backends/backend.ts'
import { createBackend } from '../../../main/backends/create-backend.ts'
import { CancelledError } from '../../../main/backends/errors.ts'
import { BandwidthLimiter } from '../../../main/backends/http/bandwidth.ts'
import { HttpClient, type BodySource } from '../../../main/backends/http/client.ts'
import { localFiles, sha256Hex, tempDir } from '../../helpers/tree.ts'
import { createKalaServer, type KalaServer } from '../../servers/kala-server.ts'
import { listen, Router, type RunningServer } from '../../servers/kit.ts'
import { createPerkeepServer, type PerkeepServer } from '../../servers/perkeep-server.ts'

const fastRetry = { retries: 4, baseDelayMs: 10, maxDelayMs: 100, maxRetryAfterMs: 5_000 }
const MB = 1_000_000

/** Milliseconds `work` takes. */
async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now()
  await work()
  return performance.now() - started
}

/** Whether `promise` settles within `ms` (a lower bound on time only: it cannot flake). */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms)
  })
  const settled = promise.then(
    () => true,
    () => true,
  )
  try {
    return await Promise.race([settled, late])
  } finally {
    clearTimeout(timer)
  }
}

describe('BandwidthLimiter', () => {
  it('lets bytes through at once while unlimited or covered by tokens, without a new promise', async () => {
    const unlimited = new BandwidthLimiter(0)
    const first = unlimited.take(1024 ** 3)
    expect(unlimited.take(1)).toBe(first)
    await first

    const limited = new BandwidthLimiter(MB)
    // A fresh bucket is full (100 ms worth): these are covered.
    expect(limited.take(10_000)).toBe(first)
    expect(limited.take(50_000)).toBe(first)
  })

  it('holds takes to the rate once the bucket is empty', async () => {
    const limiter = new BandwidthLimiter(MB)
    await limiter.take(100_000) // the whole bucket
    const elapsed = await timed(async () => {
      for (let i = 0; i < 10; i++) await limiter.take(50_000)
    })
    // 500 kB at 1 MB/s: 500 ms, at most a few ms early through timer rounding.
    expect(elapsed).toBeGreaterThanOrEqual(480)
    expect(elapsed).toBeLessThan(2_000)
  })

  it('serves waiters in arrival order, a small take does not overtake a big one', async () => {
    const limiter = new BandwidthLimiter(MB)
    await limiter.take(100_000)
    const order: string[] = []
    await Promise.all([
      limiter.take(60_000).then(() => order.push('big')),
      limiter.take(1_000).then(() => order.push('small')),
      limiter.take(60_000).then(() => order.push('last')),
    ])
    expect(order).toEqual(['big', 'small', 'last'])
  })

  it('applies a new limit to waiters already blocked', async () => {
    const limiter = new BandwidthLimiter(1_000)
    await limiter.take(64 * 1024)
    // At 1 kB/s this waiter is a minute away; a faster limit lets it go now.
    const blocked = limiter.take(64 * 1024)
    expect(await settlesWithin(blocked, 100)).toBe(false)
    limiter.setLimit(10 * MB)
    expect(await settlesWithin(blocked, 5_000)).toBe(true)

    // Slower: a waiter a few ms away is held back.
    limiter.setLimit(10 * MB)
    await limiter.take(1_000_000)
    const slowed = limiter.take(64 * 1024)
    limiter.setLimit(1_000)
    expect(await settlesWithin(slowed, 300)).toBe(false)
    // Unlimited: everyone goes.
    limiter.setLimit(0)
    expect(await settlesWithin(slowed, 5_000)).toBe(true)
    expect(limiter.limit).toBe(0)
  })

  it('rejects an aborted take promptly and serves the waiters behind it', async () => {
    const limiter = new BandwidthLimiter(1_000)
    await limiter.take(64 * 1024)
    const controller = new AbortController()
    const aborted = limiter.take(64 * 1024, controller.signal)
    const behind = limiter.take(10)
    setTimeout(() => controller.abort(), 50)
    await expect(aborted).rejects.toBeInstanceOf(CancelledError)
    // The aborted bytes were never counted: the small take behind goes once it is covered.
    limiter.setLimit(MB)
    expect(await settlesWithin(behind, 5_000)).toBe(true)
    await expect(limiter.take(1, controller.signal)).rejects.toBeInstanceOf(CancelledError)
  })

  it('refuses a limit that is not a rate', () => {
    expect(() => new BandwidthLimiter(-1)).toThrow(RangeError)
    expect(() => new BandwidthLimiter(0).setLimit(Number.NaN)).toThrow(RangeError)
  })
})

describe('HttpClient with a bandwidth limit', () => {
  const router = new Router()
  let server: RunningServer
  let received = 0

  beforeAll(async () => {
    router.add('upload', 'POST', '/upload', async (ctx) => {
      received = (await ctx.body(64 * 1024 * 1024)).length
      ctx.json(200, { ok: true })
    })
    server = await listen(router)
  })

  afterAll(async () => {
    await server.close()
  })

  it('holds a big in-memory body to the limit, lets a tiny one pass', async () => {
    const limiter = new BandwidthLimiter(2 * MB)
    const client = new HttpClient({ retry: fastRetry, bandwidth: limiter })
    try {
      const body = randomBytes(MB)
      const elapsed = await timed(() =>
        client.request({ method: 'POST', url: `${server.url}/upload`, body }),
      )
      expect(received).toBe(MB)
      // 1 MB less the 200 kB bucket, at 2 MB/s.
      expect(elapsed).toBeGreaterThanOrEqual(380)

      // The bucket is empty and 1 B/s would hold 64 KiB for 18 h: a tiny JSON body still goes.
      limiter.setLimit(1)
      const small = client.request({ method: 'POST', url: `${server.url}/upload`, body: '{}' })
      expect(await settlesWithin(small, 5_000)).toBe(true)
      expect(received).toBe(2)
    } finally {
      await client.close()
    }
  })

  it('cancels a body blocked on the limit as soon as the caller aborts', async () => {
    const limiter = new BandwidthLimiter(10_000)
    const client = new HttpClient({ retry: fastRetry, bandwidth: limiter })
    const body: BodySource = {
      length: MB,
      async *open() {
        for (let i = 0; i < 16; i++) yield Buffer.alloc(MB / 16)
      },
    }
    const controller = new AbortController()
    try {
      const sending = client.request({
        method: 'POST',
        url: `${server.url}/upload`,
        body,
        signal: controller.signal,
      })
      setTimeout(() => controller.abort(), 100)
      // 100 s of body at this rate: only the abort ends it.
      const elapsed = await timed(() => expect(sending).rejects.toBeInstanceOf(CancelledError))
      expect(elapsed).toBeLessThan(5_000)
    } finally {
      await client.close()
    }
  })
})

describe('a bandwidth limit shared by the backends', () => {
  let perkeep: PerkeepServer
  let kala: KalaServer
  let dir: Awaited<ReturnType<typeof tempDir>>
  const open: Backend[] = []

  beforeEach(async () => {
    perkeep = await createPerkeepServer({ auth: { user: 'ferry', password: 'pw' } })
    kala = await createKalaServer({ apiKeys: ['k-123'] })
    dir = await tempDir()
  })

  afterEach(async () => {
    for (const backend of open.splice(0)) await backend.close()
    await perkeep.close()
    await kala.close()
    await dir.dispose()
  })

  const backend = (kind: 'perkeep' | 'kala', bandwidth: BandwidthLimiter): Backend => {
    const account: AccountConfig =
      kind === 'perkeep'
        ? { backend: 'perkeep', server: perkeep.url, auth: 'userpass', user: 'ferry' }
        : { backend: 'kala', server: kala.url, auth: 'api-key' }
    const made = createBackend(account, kind === 'perkeep' ? 'pw' : 'k-123', {
      http: new HttpClient({ retry: fastRetry }),
      bandwidth,
    })
    open.push(made)
    return made
  }

  /** Writes `bytes` random bytes to `name` in its own folder; returns that folder. */
  const fileOf = async (name: string, bytes: number): Promise<string> => {
    const folder = join(dir.path, name)
    await mkdir(folder)
    await writeFile(join(folder, `${name}.bin`), randomBytes(bytes))
    return folder
  }

  async function expectPerkeepHolds(outcome: UploadOutcome | undefined): Promise<void> {
    if (!outcome?.ok) throw outcome?.error ?? new Error('no outcome')
    const { fileRef } = outcome.remote as { fileRef: string }
    const { digest } = await perkeep.fileDigest(fileRef, 'sha256')
    expect(digest).toBe(sha256Hex(await readFile(outcome.file.absPath)))
  }

  it('uploads at the limit: 6 MB at 2 MB/s through Perkeep', async () => {
    const files = await localFiles(await fileOf('six', 6 * MB))
    const limiter = new BandwidthLimiter(2 * MB)
    const perkeepBackend = backend('perkeep', limiter)
    let outcomes: UploadOutcome[] = []
    const elapsed = await timed(async () => {
      outcomes = await perkeepBackend.upload(files)
    })
    await expectPerkeepHolds(outcomes[0])
    const rate = (6 * MB) / (elapsed / 1000)
    expect(rate).toBeGreaterThan(0.85 * 2 * MB)
    expect(rate).toBeLessThan(1.15 * 2 * MB)
  })

  it('speeds up when the limit is raised mid-upload', async () => {
    const size = 4 * MB
    const files = await localFiles(await fileOf('four', size))
    const limiter = new BandwidthLimiter(1 * MB)
    const perkeepBackend = backend('perkeep', limiter)
    let sent = 0
    let switched: { at: number; sent: number } | undefined
    const started = performance.now()
    const outcomes = await perkeepBackend.upload(files, {
      onProgress: ({ bytes }) => {
        sent += bytes
        if (!switched && sent >= size / 2) {
          switched = { at: performance.now(), sent }
          limiter.setLimit(4 * MB)
        }
      },
    })
    const ended = performance.now()
    await expectPerkeepHolds(outcomes[0])
    if (!switched) throw new Error('the upload never reached half way')
    const before = switched.sent / ((switched.at - started) / 1000)
    const after = (size - switched.sent) / ((ended - switched.at) / 1000)
    expect(before).toBeGreaterThan(0.85 * MB)
    expect(before).toBeLessThan(1.15 * MB)
    expect(after).toBeGreaterThan(2.5 * before)
    expect(after).toBeLessThan(1.15 * 4 * MB)
  })

  it('shares one limit between concurrent uploads of two backends', async () => {
    const limiter = new BandwidthLimiter(2 * MB)
    const toPerkeep = await localFiles(await fileOf('p', 3 * MB))
    const toKala = await localFiles(await fileOf('k', 3 * MB))
    const started = performance.now()
    const finished: number[] = []
    const [perkeepOutcomes, kalaOutcomes] = await Promise.all(
      [backend('perkeep', limiter).upload(toPerkeep), backend('kala', limiter).upload(toKala)].map(
        (upload) => upload.finally(() => finished.push(performance.now() - started)),
      ),
    )
    const elapsed = Math.max(...finished)
    await expectPerkeepHolds(perkeepOutcomes?.[0])
    const kalaOutcome = kalaOutcomes?.[0]
    if (!kalaOutcome?.ok) throw kalaOutcome?.error ?? new Error('no outcome')
    const stored = kala
      .files()
      .find((f) => f.uuid === (kalaOutcome.remote as { uuid: string }).uuid)
    expect(sha256Hex(await readFile(stored?.storedPath as string))).toBe(
      sha256Hex(await readFile(kalaOutcome.file.absPath)),
    )
    const rate = (6 * MB) / (elapsed / 1000)
    expect(rate).toBeGreaterThan(0.85 * 2 * MB)
    expect(rate).toBeLessThan(1.15 * 2 * MB)
    // Shared, not one after the other: the first to finish did so near the end, not half way.
    expect(Math.min(...finished)).toBeGreaterThan(0.75 * elapsed)
  })
})
