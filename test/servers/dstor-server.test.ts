import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decodeJwt, jwtVerify } from 'jose'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { cidOfFile } from '../../main/backends/dstor/cid.ts'
import {
  DSTOR_DEFAULT_API_KEY,
  DSTOR_DEFAULT_EMAIL,
  DSTOR_DEFAULT_PASSWORD,
  createDstorServer,
} from './dstor-server.ts'
import type { DstorServer, DstorServerOptions } from './dstor-server.ts'

const SECRET = 'test-secret-for-hs256-tokens-only'
const OTHER_KEY = 'e7'.repeat(32)

let dir: string
const servers: DstorServer[] = []

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-dstor-test-'))
})

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()))
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function start(options: DstorServerOptions = {}): Promise<DstorServer> {
  const server = await createDstorServer({ jwtSecret: SECRET, stageDelayMs: 5, ...options })
  servers.push(server)
  return server
}

// ---- a small hand-written client ----

interface Answer {
  readonly status: number
  readonly body: Record<string, unknown>
}

async function call(
  server: DstorServer,
  method: string,
  path: string,
  init: { headers?: Record<string, string>; body?: BodyInit } = {},
): Promise<Answer> {
  const res = await fetch(server.url + path, { method, headers: init.headers, body: init.body })
  const text = await res.text()
  return {
    status: res.status,
    body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
  }
}

async function tokenByKey(server: DstorServer, key = DSTOR_DEFAULT_API_KEY): Promise<string> {
  const answer = await call(server, 'GET', '/v1/dev/temp-token', { headers: { 'api-key': key } })
  expect(answer.status).toBe(200)
  return answer.body.access_token as string
}

function bearer(token: string, extra: Record<string, string> = {}): Record<string, string> {
  return { authorization: `Bearer ${token}`, ...extra }
}

async function startProcess(
  server: DstorServer,
  token: string,
  chunks: number,
  folder = 'backup',
): Promise<string> {
  const answer = await call(server, 'POST', '/v1/upload/get-token/', {
    headers: bearer(token, { 'content-type': 'application/json' }),
    body: JSON.stringify({ chunks_number: chunks, folder_path: folder }),
  })
  expect(answer.status).toBe(200)
  expect(answer.body.message).toBe('ok')
  return answer.body.token as string
}

interface Part {
  /** Written as `filename="…"` (raw UTF-8), or `filename*=UTF-8''…` when `star` is set. */
  readonly filename?: string
  readonly star?: boolean
  readonly field?: string
  readonly content: Uint8Array | string
}

/** Builds a multipart/form-data body by hand, so the tests control every byte of the framing. */
function multipart(parts: readonly Part[]): { body: Uint8Array<ArrayBuffer>; type: string } {
  const boundary = `----ferry${randomBytes(8).toString('hex')}`
  const pieces: Buffer[] = []
  for (const part of parts) {
    let disposition = `form-data; name="${part.field ?? 'file'}"`
    if (part.filename !== undefined) {
      disposition += part.star
        ? `; filename*=UTF-8''${encodeURIComponent(part.filename)}`
        : `; filename="${part.filename}"`
    }
    pieces.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: ${disposition}\r\n` +
          'Content-Type: application/octet-stream\r\n\r\n',
      ),
      Buffer.from(part.content),
      Buffer.from('\r\n'),
    )
  }
  pieces.push(Buffer.from(`--${boundary}--\r\n`))
  // Copied into a plain ArrayBuffer: fetch's BodyInit type wants one.
  return {
    body: new Uint8Array(Buffer.concat(pieces)),
    type: `multipart/form-data; boundary=${boundary}`,
  }
}

function uploadChunk(
  server: DstorServer,
  token: string,
  uploadToken: string,
  parts: readonly Part[],
  path = '/v1/upload/',
): Promise<Answer> {
  const { body, type } = multipart(parts)
  return call(server, 'POST', path, {
    headers: bearer(token, { 'x-dstor-upload-token': uploadToken, 'content-type': type }),
    body,
  })
}

function getStatus(server: DstorServer, token: string, uploadToken: string): Promise<Answer> {
  return call(server, 'GET', '/v1/upload/get-status/', {
    headers: bearer(token, { 'x-dstor-upload-token': uploadToken }),
  })
}

/** Polls until a final status, returning every distinct status seen in order. */
async function pollUntilFinal(
  server: DstorServer,
  token: string,
  uploadToken: string,
): Promise<{ seen: string[]; last: Answer }> {
  const seen: string[] = []
  const deadline = Date.now() + 20_000
  for (;;) {
    const answer = await getStatus(server, token, uploadToken)
    expect(answer.status).toBe(200)
    const status = answer.body.status as string
    if (seen.at(-1) !== status) seen.push(status)
    if (status === 'DONE' || status === 'ERROR') return { seen, last: answer }
    if (Date.now() > deadline) throw new Error(`still ${status} after 20 s`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

async function localFile(name: string, content: Uint8Array | string): Promise<string> {
  const path = join(dir, name.replaceAll('/', '_'))
  await writeFile(path, content)
  return path
}

// ---- tests ----

describe('access tokens (§1.1)', () => {
  it('issues a real HS256 JWT for an API key, 24 h by default, with or without a trailing slash', async () => {
    const server = await start()
    const before = Math.floor(Date.now() / 1000)
    const token = await tokenByKey(server)
    const { payload, protectedHeader } = await jwtVerify(token, new TextEncoder().encode(SECRET))
    expect(protectedHeader.alg).toBe('HS256')
    expect(payload.exp).toBeGreaterThanOrEqual(before + 86_400)
    expect(payload.exp).toBeLessThanOrEqual(before + 86_401)
    expect(JSON.stringify(payload)).not.toContain(DSTOR_DEFAULT_API_KEY)

    const slash = await call(server, 'GET', '/v1/dev/temp-token/', {
      headers: { 'api-key': DSTOR_DEFAULT_API_KEY },
    })
    expect(slash.status).toBe(200)
    expect(typeof slash.body.access_token).toBe('string')
  })

  it('honours x-expiration, never beyond the server lifetime or the key’s own life', async () => {
    const now = Math.floor(Date.now() / 1000)
    const server = await start({
      tokenLifetimeSeconds: 3600,
      accounts: [
        { apiKey: DSTOR_DEFAULT_API_KEY },
        { apiKey: OTHER_KEY, apiKeyExpiresAt: now + 120 },
      ],
    })
    const ask = async (key: string, expiration: string): Promise<Answer> =>
      call(server, 'GET', '/v1/dev/temp-token', {
        headers: { 'api-key': key, 'x-expiration': expiration },
      })
    const shorter = await ask(DSTOR_DEFAULT_API_KEY, String(now + 600))
    expect(decodeJwt(shorter.body.access_token as string).exp).toBe(now + 600)
    const longer = await ask(DSTOR_DEFAULT_API_KEY, String(now + 86_400))
    expect(decodeJwt(longer.body.access_token as string).exp).toBeLessThanOrEqual(now + 3601)
    const keyBound = await ask(OTHER_KEY, String(now + 600))
    expect(decodeJwt(keyBound.body.access_token as string).exp).toBe(now + 120)
    expect((await ask(DSTOR_DEFAULT_API_KEY, 'tomorrow')).status).toBe(400)
    expect((await ask(DSTOR_DEFAULT_API_KEY, String(now - 10))).status).toBe(400)
  })

  it('logs in with email and password (POST)', async () => {
    const server = await start()
    const answer = await call(server, 'POST', '/v1/dev/temp-token', {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: DSTOR_DEFAULT_EMAIL, password: DSTOR_DEFAULT_PASSWORD }),
    })
    expect(answer.status).toBe(200)
    const token = answer.body.access_token as string
    expect(decodeJwt(token).sub).toBe(DSTOR_DEFAULT_EMAIL)
    expect(await startProcess(server, token, 1)).toMatch(/\S{16,}/)

    const wrong = await call(server, 'POST', '/v1/dev/temp-token', {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: DSTOR_DEFAULT_EMAIL, password: 'nope' }),
    })
    expect(wrong.status).toBe(401)
    expect(wrong.body.access_token).toBeUndefined()
  })

  it('answers a wrong or missing API key with 401 "invalid api key"', async () => {
    const server = await start()
    const attempts: Array<Record<string, string>> = [{ 'api-key': OTHER_KEY }, {}]
    for (const headers of attempts) {
      const answer = await call(server, 'GET', '/v1/dev/temp-token', { headers })
      expect(answer).toEqual({ status: 401, body: { message: 'invalid api key' } })
    }
    const expired = await start({
      accounts: [{ apiKey: OTHER_KEY, apiKeyExpiresAt: Math.floor(Date.now() / 1000) - 1 }],
    })
    const answer = await call(expired, 'GET', '/v1/dev/temp-token', {
      headers: { 'api-key': OTHER_KEY },
    })
    expect(answer).toEqual({ status: 401, body: { message: 'invalid api key' } })
  })

  it('answers an expired, forged or missing bearer with 401 "invalid token"', async () => {
    let offsetMs = 0
    const server = await start({ tokenLifetimeSeconds: 60, clock: () => Date.now() + offsetMs })
    const token = await tokenByKey(server)
    await startProcess(server, token, 1)

    offsetMs = 61_000
    const invalid = { status: 401, body: { message: 'invalid token' } }
    const expiredAnswer = await call(server, 'POST', '/v1/upload/get-token', {
      headers: bearer(token, { 'content-type': 'application/json' }),
      body: JSON.stringify({ chunks_number: 1, folder_path: 'x' }),
    })
    expect(expiredAnswer).toEqual(invalid)
    offsetMs = 0

    const [head, body] = token.split('.')
    const forged = `${head}.${body}.${'A'.repeat(43)}`
    for (const headers of [bearer(forged), bearer('not-a-jwt'), {}, { authorization: token }]) {
      const answer = await call(server, 'GET', '/v1/upload/get-status', { headers })
      expect(answer).toEqual(invalid)
    }
  })

  it('revokes an API key (and its tokens) at runtime, and can invalidate every token', async () => {
    const server = await start({
      accounts: [
        { id: 'one', apiKey: DSTOR_DEFAULT_API_KEY },
        { id: 'two', apiKey: OTHER_KEY },
      ],
    })
    const one = await tokenByKey(server)
    const two = await tokenByKey(server, OTHER_KEY)
    server.revokeApiKey(DSTOR_DEFAULT_API_KEY)
    const again = await call(server, 'GET', '/v1/dev/temp-token', {
      headers: { 'api-key': DSTOR_DEFAULT_API_KEY },
    })
    expect(again).toEqual({ status: 401, body: { message: 'invalid api key' } })
    const refused = await call(server, 'POST', '/v1/upload/get-token', {
      headers: bearer(one, { 'content-type': 'application/json' }),
      body: JSON.stringify({ chunks_number: 1, folder_path: 'x' }),
    })
    expect(refused).toEqual({ status: 401, body: { message: 'invalid token' } })
    await startProcess(server, two, 1)

    server.invalidateTokens()
    const stale = await call(server, 'POST', '/v1/upload/get-token', {
      headers: bearer(two, { 'content-type': 'application/json' }),
      body: JSON.stringify({ chunks_number: 1, folder_path: 'x' }),
    })
    expect(stale.status).toBe(401)
    await startProcess(server, await tokenByKey(server, OTHER_KEY), 1)
  })
})

describe('folder upload process (§1.2)', () => {
  it('takes 2 chunks, goes UPLOADING → ADDING_TO_IPFS → SAVING_DATA → DONE with real CIDs', async () => {
    const server = await start({ stageDelayMs: 60 })
    const token = await tokenByKey(server)
    const files: Record<string, Uint8Array> = {
      'a.txt': Buffer.from('hello world'),
      'sub/deeper/b.bin': randomBytes(3 * 262_144 + 5),
      'sub/empty.txt': new Uint8Array(0),
      'Été/ünïcode 名前.txt': Buffer.from('unicode name\n'),
      'raw/ß.txt': Buffer.from('raw utf-8 filename'),
    }
    const uploadToken = await startProcess(server, token, 2, '/Backups/Laptop/')

    const first = await uploadChunk(server, token, uploadToken, [
      { filename: 'a.txt', content: files['a.txt'] ?? '' },
      { filename: 'sub/deeper/b.bin', field: 'anything', content: files['sub/deeper/b.bin'] ?? '' },
      { filename: 'sub/empty.txt', content: files['sub/empty.txt'] ?? '' },
    ])
    expect(first).toEqual({
      status: 200,
      body: { message: 'ok', upload_token: uploadToken, received: 3 },
    })
    expect((await getStatus(server, token, uploadToken)).body).toEqual({ status: 'UPLOADING' })

    const second = await uploadChunk(
      server,
      token,
      uploadToken,
      [
        {
          filename: 'Été/ünïcode 名前.txt',
          star: true,
          content: files['Été/ünïcode 名前.txt'] ?? '',
        },
        { filename: 'raw/ß.txt', content: files['raw/ß.txt'] ?? '' },
      ],
      '/v1/upload',
    )
    expect(second.status).toBe(200)
    expect(second.body.received).toBe(2)

    const { seen, last } = await pollUntilFinal(server, token, uploadToken)
    expect(seen).toEqual(['ADDING_TO_IPFS', 'SAVING_DATA', 'DONE'])

    const expected = await Promise.all(
      Object.entries(files).map(async ([name, content]) => ({
        Name: name,
        Hash: await cidOfFile(await localFile(name, content)),
        Size: content.length,
      })),
    )
    expect(expected[0]?.Hash).toBe('Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD')
    const rows = last.body.data as Array<Record<string, unknown>>
    expect(rows).toHaveLength(5)
    expect([...rows].sort(byName)).toEqual([...expected].sort(byName))

    const stored = server.listFiles(DSTOR_DEFAULT_EMAIL)
    expect(stored.map((f) => [f.folderPath, f.name, f.cid, f.size]).sort()).toEqual(
      expected.map((e) => ['Backups/Laptop', e.Name, e.Hash, e.Size]).sort(),
    )
    for (const file of stored) {
      const res = await fetch(`${server.url}/ipfs/${file.cid}`)
      expect(res.status).toBe(200)
      expect(Buffer.from(await res.arrayBuffer())).toEqual(Buffer.from(files[file.name] ?? ''))
      expect(await readFile(file.storedPath)).toEqual(Buffer.from(files[file.name] ?? ''))
    }
    expect(
      (await fetch(`${server.url}/ipfs/QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG`)).status,
    ).toBe(404)
    expect(server.router.log.count('dstor.upload')).toBe(2)
  })

  it('answers 409 to a chunk beyond chunks_number, and leaves the process intact', async () => {
    const server = await start()
    const token = await tokenByKey(server)
    const uploadToken = await startProcess(server, token, 1)
    expect(
      (await uploadChunk(server, token, uploadToken, [{ filename: 'a', content: 'a' }])).status,
    ).toBe(200)
    const extra = await uploadChunk(server, token, uploadToken, [{ filename: 'b', content: 'b' }])
    expect(extra.status).toBe(409)
    const { last } = await pollUntilFinal(server, token, uploadToken)
    expect((last.body.data as unknown[]).length).toBe(1)
    expect(server.listFiles().map((f) => f.name)).toEqual(['a'])
  })

  it('answers 409 to a file name repeated in the process or in one request', async () => {
    const server = await start()
    const token = await tokenByKey(server)
    const uploadToken = await startProcess(server, token, 3)
    expect(
      (await uploadChunk(server, token, uploadToken, [{ filename: 'x/a', content: '1' }])).status,
    ).toBe(200)
    const repeat = await uploadChunk(server, token, uploadToken, [
      { filename: 'x/b', content: '2' },
      { filename: 'x/a', content: '3' },
    ])
    expect(repeat.status).toBe(409)
    const twice = await uploadChunk(server, token, uploadToken, [
      { filename: 'y', content: '4' },
      { filename: 'y', content: '5' },
    ])
    expect(twice.status).toBe(409)
    // The refused requests were not counted, nor were their files kept.
    expect(server.processes()[0]?.chunksReceived).toBe(1)
    expect(
      (await uploadChunk(server, token, uploadToken, [{ filename: 'x/b', content: '2' }])).status,
    ).toBe(200)
  })

  it('answers 400 to names that are not clean relative paths', async () => {
    const server = await start()
    const token = await tokenByKey(server)
    const uploadToken = await startProcess(server, token, 1)
    for (const filename of ['../x', 'a/../x', './a', '/etc/passwd', 'a//b', 'a/', '.', '..']) {
      const answer = await uploadChunk(server, token, uploadToken, [{ filename, content: 'x' }])
      expect([filename, answer.status]).toEqual([filename, 400])
    }
    const noName = await uploadChunk(server, token, uploadToken, [{ field: 'file', content: 'x' }])
    expect(noName.status).toBe(400)
    const empty = multipart([])
    const none = await call(server, 'POST', '/v1/upload', {
      headers: bearer(token, { 'x-dstor-upload-token': uploadToken, 'content-type': empty.type }),
      body: empty.body,
    })
    expect(none.status).toBe(400)
    expect(
      (await uploadChunk(server, token, uploadToken, [{ filename: 'ok', content: 'x' }])).status,
    ).toBe(200)
  })

  it('refuses chunks_number above 10 000 and bodies over the limit with 413', async () => {
    const server = await start()
    const token = await tokenByKey(server)
    const big = await call(server, 'POST', '/v1/upload/get-token', {
      headers: bearer(token, { 'content-type': 'application/json' }),
      body: JSON.stringify({ chunks_number: 10_001, folder_path: 'x' }),
    })
    expect(big.status).toBe(413)
    for (const chunks of [0, 1.5, '2']) {
      const bad = await call(server, 'POST', '/v1/upload/get-token', {
        headers: bearer(token, { 'content-type': 'application/json' }),
        body: JSON.stringify({ chunks_number: chunks, folder_path: 'x' }),
      })
      expect(bad.status).toBe(400)
    }
    server.maxBodyBytes = 64 * 1024
    const uploadToken = await startProcess(server, token, 1)
    const over = await uploadChunk(server, token, uploadToken, [
      { filename: 'big.bin', content: randomBytes(100 * 1024) },
    ])
    expect(over.status).toBe(413)
    expect(server.processes()[0]?.chunksReceived).toBe(0)
  })

  it('counts a streamed body (no Content-Length) against the limit as it arrives', async () => {
    const server = await start()
    const token = await tokenByKey(server)
    server.maxBodyBytes = 256 * 1024
    const uploadToken = await startProcess(server, token, 1)
    const { body, type } = multipart([{ filename: 'big.bin', content: randomBytes(1024 * 1024) }])
    const res = await fetch(`${server.url}/v1/upload`, {
      method: 'POST',
      headers: bearer(token, { 'x-dstor-upload-token': uploadToken, 'content-type': type }),
      body: streamOf(body, 16 * 1024),
      duplex: 'half',
    } as RequestInit)
    expect(res.status).toBe(413)
    await res.arrayBuffer()
    expect(server.processes()[0]?.chunksReceived).toBe(0)
    expect(await readdir(join(server.storageDir, 'tmp', 'p1'))).toEqual([])
  })

  it('drops the files of a request whose connection is lost mid-body', async () => {
    const server = await start()
    const token = await tokenByKey(server)
    const uploadToken = await startProcess(server, token, 1)
    const { body, type } = multipart([
      { filename: 'first.bin', content: randomBytes(200 * 1024) },
      { filename: 'second.bin', content: randomBytes(200 * 1024) },
    ])
    const broken = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(body.subarray(0, 300 * 1024))
        setTimeout(() => controller.error(new Error('cable pulled')), 50)
      },
    })
    await expect(
      fetch(`${server.url}/v1/upload`, {
        method: 'POST',
        headers: bearer(token, { 'x-dstor-upload-token': uploadToken, 'content-type': type }),
        body: broken,
        duplex: 'half',
      } as RequestInit),
    ).rejects.toThrow()
    const deadline = Date.now() + 5000
    while ((await readdir(join(server.storageDir, 'tmp', 'p1'))).length > 0) {
      if (Date.now() > deadline) throw new Error('temp files left behind')
      await new Promise((r) => setTimeout(r, 10))
    }
    expect(server.processes()[0]?.chunksReceived).toBe(0)
    expect(
      (await uploadChunk(server, token, uploadToken, [{ filename: 'first.bin', content: 'x' }]))
        .status,
    ).toBe(200)
  })

  it('keeps each process to its account and wants the upload token header', async () => {
    const server = await start({
      accounts: [
        { id: 'one', apiKey: DSTOR_DEFAULT_API_KEY },
        { id: 'two', apiKey: OTHER_KEY },
      ],
    })
    const one = await tokenByKey(server)
    const two = await tokenByKey(server, OTHER_KEY)
    const uploadToken = await startProcess(server, one, 1)
    expect((await getStatus(server, two, uploadToken)).status).toBe(404)
    expect(
      (await uploadChunk(server, two, uploadToken, [{ filename: 'a', content: 'a' }])).status,
    ).toBe(404)
    const missing = await call(server, 'GET', '/v1/upload/get-status', { headers: bearer(one) })
    expect(missing.status).toBe(400)
  })

  it('reports ERROR with errorExplanation and errorAtStage when one is injected', async () => {
    const server = await start()
    const token = await tokenByKey(server)
    server.injectProcessError({ stage: 'SAVING_DATA', explanation: 'ipfs node unreachable' })
    const failing = await startProcess(server, token, 1)
    await uploadChunk(server, token, failing, [{ filename: 'a', content: 'a' }])
    const { seen, last } = await pollUntilFinal(server, token, failing)
    expect(seen.at(-1)).toBe('ERROR')
    expect(last.body).toEqual({
      status: 'ERROR',
      errorExplanation: 'ipfs node unreachable',
      errorAtStage: 'SAVING_DATA',
    })
    expect(server.listFiles()).toEqual([])

    // Only one was armed: the next process succeeds.
    const next = await startProcess(server, token, 1)
    await uploadChunk(server, token, next, [{ filename: 'a', content: 'a' }])
    expect((await pollUntilFinal(server, token, next)).last.body.status).toBe('DONE')
  })

  it('expires a process not completed in time: get-status and upload → 404', async () => {
    const server = await start({ processExpiryMs: 150 })
    const token = await tokenByKey(server)
    const uploadToken = await startProcess(server, token, 2)
    expect(
      (await uploadChunk(server, token, uploadToken, [{ filename: 'a', content: 'a' }])).status,
    ).toBe(200)
    expect((await getStatus(server, token, uploadToken)).status).toBe(200)
    await new Promise((r) => setTimeout(r, 200))
    expect((await getStatus(server, token, uploadToken)).status).toBe(404)
    expect(
      (await uploadChunk(server, token, uploadToken, [{ filename: 'b', content: 'b' }])).status,
    ).toBe(404)

    // A completed process keeps its status past the expiry time.
    const done = await startProcess(server, token, 1)
    await uploadChunk(server, token, done, [{ filename: 'c', content: 'c' }])
    await pollUntilFinal(server, token, done)
    await new Promise((r) => setTimeout(r, 200))
    expect((await getStatus(server, token, done)).body.status).toBe('DONE')
  })

  it('lets tests inject faults per route and counts requests', async () => {
    const server = await start()
    const token = await tokenByKey(server)
    server.router.faults.inject('dstor.status', { type: 'status', status: 503 })
    const uploadToken = await startProcess(server, token, 1)
    expect((await getStatus(server, token, uploadToken)).status).toBe(503)
    expect((await getStatus(server, token, uploadToken)).status).toBe(200)
    expect(server.router.log.count('dstor.status')).toBe(2)
    expect(server.router.log.count('dstor.get-token')).toBe(1)
    expect(server.router.log.count('dstor.token')).toBe(1)
  })

  it('keeps, for tests, every file part it received and the files of each process', async () => {
    const server = await start()
    const token = await tokenByKey(server)
    const uploadToken = await startProcess(server, token, 1, '/Backups/')
    const refused = await uploadChunk(server, token, uploadToken, [
      { filename: 'a.txt', content: 'one' },
      { filename: 'a.txt', content: 'two' },
    ])
    expect(refused.status).toBe(409)
    await uploadChunk(server, token, uploadToken, [
      { filename: 'a.txt', content: 'hello world' },
      { filename: 'sub/b.txt', content: '' },
    ])
    await pollUntilFinal(server, token, uploadToken)
    const { body, type } = multipart([{ filename: 'c.txt', content: 'c' }])
    await call(server, 'POST', server.singleFilePath, {
      headers: bearer(token, { 'content-type': type, 'x-dstor-folder-path': 'Backups/sub' }),
      body,
    })
    // Refused parts count too: they were sent.
    expect(server.receipts()).toEqual([
      { route: 'dstor.upload', token: uploadToken, folderPath: 'Backups', name: 'a.txt' },
      { route: 'dstor.upload', token: uploadToken, folderPath: 'Backups', name: 'a.txt' },
      { route: 'dstor.upload', token: uploadToken, folderPath: 'Backups', name: 'a.txt' },
      { route: 'dstor.upload', token: uploadToken, folderPath: 'Backups', name: 'sub/b.txt' },
      { route: 'dstor.single', folderPath: 'Backups/sub', name: 'c.txt' },
    ])
    expect(server.processes()[0]?.files).toEqual([
      { name: 'a.txt', cid: 'Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD', size: 11 },
      { name: 'sub/b.txt', cid: 'QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH', size: 0 },
    ])
  })
})

describe('single-file upload (§1.3)', () => {
  function single(
    server: DstorServer,
    token: string,
    headers: Record<string, string>,
    parts: readonly Part[],
    path = server.singleFilePath,
  ): Promise<Answer> {
    const { body, type } = multipart(parts)
    return call(server, 'POST', path, {
      headers: bearer(token, { 'content-type': type, ...headers }),
      body,
    })
  }

  it('stores one file under a percent-encoded unicode folder path and answers Name/Hash/Size', async () => {
    const server = await start()
    const token = await tokenByKey(server)
    const folder = 'Fotos/Été 2024/東京'
    const answer = await single(
      server,
      token,
      { 'x-dstor-folder-path': encodeURIComponent(folder), 'x-dstor-comment': 'from a test' },
      [{ filename: 'hello.txt', content: 'hello world' }],
    )
    expect(answer).toEqual({
      status: 200,
      body: {
        Name: 'hello.txt',
        Hash: 'Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD',
        Size: '19',
      },
    })
    const [stored] = server.listFiles()
    expect(stored).toMatchObject({ folderPath: folder, name: 'hello.txt', size: 11, via: 'single' })
    expect(stored?.comment).toBe('from a test')

    // The same folder by its numeric id, on the default path with a trailing slash.
    const id = server.folderId(folder)
    const byId = await single(
      server,
      token,
      { 'x-dstor-parent-id': String(id) },
      [{ filename: 'other.txt', content: 'hello world\n' }],
      `${server.singleFilePath}/`,
    )
    expect(byId.body.Hash).toBe('QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o')
    expect(server.listFiles().map((f) => [f.folderPath, f.name])).toEqual([
      [folder, 'hello.txt'],
      [folder, 'other.txt'],
    ])
    const root = await single(server, token, {}, [{ filename: 'top.txt', content: '' }])
    expect(root.body.Hash).toBe('QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH')
    expect(server.listFiles().find((f) => f.name === 'top.txt')?.folderPath).toBe('')
  })

  it('takes a file over the folder-process body limit: a single upload has its own, none by default', async () => {
    const server = await start({ maxBodyBytes: 64 * 1024 })
    const token = await tokenByKey(server)
    expect(server.maxSingleBodyBytes).toBe(Number.POSITIVE_INFINITY)
    const content = randomBytes(3 * 262_144 + 7)
    const part = [{ filename: 'big.bin', content }]
    // Too big for a folder-process chunk…
    const uploadToken = await startProcess(server, token, 1)
    expect((await uploadChunk(server, token, uploadToken, part)).status).toBe(413)
    // …but one request of the single-file upload takes it, whole.
    const answer = await single(server, token, {}, part)
    expect(answer.status).toBe(200)
    expect(answer.body.Hash).toBe(await cidOfFile(await localFile('big.bin', content)))
    const [stored] = server.listFiles()
    expect(stored).toMatchObject({ name: 'big.bin', size: content.length, via: 'single' })
    const served = await fetch(`${server.url}/ipfs/${String(answer.body.Hash)}`)
    expect(Buffer.from(await served.arrayBuffer()).equals(content)).toBe(true)

    // Its own limit, when one is set (option or at run time), answers 413 and stores nothing.
    const limited = await start({ maxSingleBodyBytes: 256 * 1024 })
    const limitedToken = await tokenByKey(limited)
    expect((await single(limited, limitedToken, {}, part)).status).toBe(413)
    limited.maxSingleBodyBytes = 1024 * 1024
    expect((await single(limited, limitedToken, {}, part)).status).toBe(200)
    server.maxSingleBodyBytes = 1024
    expect(
      (await single(server, token, {}, [{ filename: 'b.bin', content: 'x'.repeat(2000) }])).status,
    ).toBe(413)
    expect(server.listFiles()).toHaveLength(1)
    expect(await readdir(join(server.storageDir, 'tmp', 'single'))).toEqual([])
  })

  it('refuses both folder headers, bad encodings, unknown ids and anything but one file', async () => {
    const server = await start({ singleFilePath: '/custom/add' })
    const token = await tokenByKey(server)
    const file = [{ filename: 'a.txt', content: 'a' }]
    const both = await single(
      server,
      token,
      { 'x-dstor-folder-path': 'x', 'x-dstor-parent-id': '0' },
      file,
    )
    expect(both.status).toBe(400)
    expect((await single(server, token, { 'x-dstor-folder-path': '%E9%ZZ' }, file)).status).toBe(
      400,
    )
    expect((await single(server, token, { 'x-dstor-folder-path': 'a/../b' }, file)).status).toBe(
      400,
    )
    expect((await single(server, token, { 'x-dstor-parent-id': 'abc' }, file)).status).toBe(400)
    expect((await single(server, token, { 'x-dstor-parent-id': '999' }, file)).status).toBe(404)
    const two = await single(server, token, {}, [...file, { filename: 'b.txt', content: 'b' }])
    expect(two.status).toBe(400)
    expect((await single(server, token, {}, file, '/api/v0/add')).status).toBe(404)
    expect(server.listFiles()).toEqual([])
    const unauthenticated = await call(server, 'POST', '/custom/add', { body: 'x' })
    expect(unauthenticated).toEqual({ status: 401, body: { message: 'invalid token' } })
  })
})

function streamOf(bytes: Uint8Array, pieceSize: number): ReadableStream<Uint8Array> {
  let offset = 0
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= bytes.length) return controller.close()
      controller.enqueue(bytes.slice(offset, offset + pieceSize))
      offset += pieceSize
    },
  })
}

function byName(a: Record<string, unknown>, b: Record<string, unknown>): number {
  return String(a.Name).localeCompare(String(b.Name))
}
