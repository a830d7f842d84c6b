import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decodeJwt, decodeProtectedHeader } from 'jose'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { kalaHash } from '../../main/backends/kala/hash.ts'
import { createKalaServer } from './kala-server.ts'
import type { KalaServer, KalaServerOptions } from './kala-server.ts'
import { KalaSessionStore } from './kala-sessions.ts'

const USER = 'ada'
const PASSWORD = 'correct horse'
const API_KEY = 'k'.repeat(40)
const SESSIONS = '/api/manage/filestore/sessions'

let server: KalaServer
let now = Date.now()

async function start(options: KalaServerOptions = {}): Promise<KalaServer> {
  now = Date.now()
  server = await createKalaServer({
    users: { [USER]: PASSWORD },
    apiKeys: [API_KEY],
    clock: () => now,
    ...options,
  })
  return server
}

beforeEach(async () => {
  await start()
})

afterEach(async () => {
  await server.close()
})

const keyAuth = (): Record<string, string> => ({ 'X-API-Key': API_KEY })

function postJson(
  path: string,
  body: unknown,
  headers: Record<string, string> = keyAuth(),
): Promise<Response> {
  return fetch(server.url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
}

async function login(username = USER, password = PASSWORD): Promise<Response> {
  return postJson('/api/auth/access-token', { username, password }, {})
}

async function token(): Promise<string> {
  const res = await login()
  expect(res.status).toBe(200)
  const body = (await res.json()) as { data: { access_token: string } }
  return body.data.access_token
}

const hashOf = (bytes: Uint8Array): string => kalaHash(createHash('sha256').update(bytes).digest())

async function createSession(bytes: Uint8Array, overrides: object = {}): Promise<string> {
  const res = await postJson(SESSIONS, {
    originalFilename: 'notes.txt',
    fileSize: bytes.length,
    hash: hashOf(bytes),
    ...overrides,
  })
  expect(res.status).toBe(200)
  const body = (await res.json()) as { data: string }
  expect(body.data).toMatch(/^[0-9a-f-]{36}$/)
  return body.data
}

function write(
  uuid: string,
  mode: string,
  bytes: Uint8Array,
  headers = keyAuth(),
): Promise<Response> {
  const form = new FormData()
  form.append('mode', mode)
  // Copy into a fresh ArrayBuffer: Blob's typing refuses views of shared buffers.
  form.append('file', new Blob([new Uint8Array(bytes)]), 'chunk')
  return fetch(`${server.url}${SESSIONS}/${uuid}/write`, { method: 'POST', headers, body: form })
}

function closeSession(uuid: string, headers = keyAuth()): Promise<Response> {
  return fetch(`${server.url}${SESSIONS}/${uuid}/close`, { method: 'POST', headers })
}

function getFile(uuid: string, headers = keyAuth()): Promise<Response> {
  return fetch(`${server.url}/api/manage/filestore/files/${uuid}`, { headers })
}

async function expectMessage(res: Response, status: number, message?: string): Promise<void> {
  expect(res.status).toBe(status)
  const body = (await res.json()) as { message: unknown }
  expect(typeof body.message).toBe('string')
  if (message !== undefined) expect(body.message).toBe(message)
}

/** Hand-built multipart, for bodies fetch will not send (chunked, cut off, odd part order). */
const BOUNDARY = 'ferry-test-boundary'
function part(name: string, content: string | Uint8Array, filename?: string): Buffer {
  const disposition = `form-data; name="${name}"${filename ? `; filename="${filename}"` : ''}`
  const type = filename ? 'Content-Type: application/octet-stream\r\n' : ''
  return Buffer.concat([
    Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: ${disposition}\r\n${type}\r\n`),
    Buffer.from(content),
    Buffer.from('\r\n'),
  ])
}
const END = Buffer.from(`--${BOUNDARY}--\r\n`)

interface RawAnswer {
  readonly status: number
  readonly body: string
}

/** Sends a raw multipart write; `chunked` omits Content-Length. */
function rawWrite(uuid: string, body: Buffer, chunked = false): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(`${server.url}${SESSIONS}/${uuid}/write`, {
      method: 'POST',
      headers: {
        ...keyAuth(),
        'content-type': `multipart/form-data; boundary=${BOUNDARY}`,
        ...(chunked ? {} : { 'content-length': String(body.length) }),
      },
    })
    req.on('response', (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
      )
    })
    req.on('error', reject)
    if (chunked) {
      // Several chunks, so the server sees the body arrive over time.
      for (let i = 0; i < body.length; i += 1000) req.write(body.subarray(i, i + 1000))
      req.end()
    } else req.end(body)
  })
}

/** Bytes the session's file holds on disk, which must always agree with what it reports. */
async function onDisk(uuid: string): Promise<number> {
  const info = server.session(uuid)
  const { size } = await stat(info?.storedPath ?? '')
  expect(size).toBe(info?.size)
  return size
}

async function waitFor(check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 10))
  expect(check()).toBe(true)
}

describe('auth', () => {
  it('issues a real HS256 JWT with exp that opens /api/manage', async () => {
    const jwt = await token()
    expect(decodeProtectedHeader(jwt).alg).toBe('HS256')
    const claims = decodeJwt(jwt)
    expect(claims.sub).toBe(USER)
    expect(claims.exp).toBe((claims.iat ?? 0) + 3600)
    const res = await postJson(
      SESSIONS,
      { fileSize: 0, hash: hashOf(new Uint8Array()) },
      {
        authorization: `Bearer ${jwt}`,
      },
    )
    expect(res.status).toBe(200)
  })

  it('refuses wrong credentials with 401 Unauthorized and a malformed login with 400', async () => {
    await expectMessage(await login(USER, 'wrong'), 401, 'Unauthorized')
    await expectMessage(await login('nobody', PASSWORD), 401, 'Unauthorized')
    await expectMessage(await postJson('/api/auth/access-token', { username: USER }, {}), 400)
    await expectMessage(await postJson('/api/auth/access-token', '{nope', {}), 400)
  })

  it('answers 401 on every /api/manage endpoint without a valid credential', async () => {
    const uuid = await createSession(new Uint8Array())
    const bad: Record<string, string>[] = [
      {},
      { authorization: 'Bearer not-a-jwt' },
      { 'X-API-Key': 'wrong' },
    ]
    for (const headers of bad) {
      await expectMessage(
        await postJson(SESSIONS, { fileSize: 0, hash: hashOf(new Uint8Array()) }, headers),
        401,
        'Unauthorized',
      )
      await expectMessage(
        await write(uuid, 'WRITE', new Uint8Array(), headers),
        401,
        'Unauthorized',
      )
      await expectMessage(await closeSession(uuid, headers), 401, 'Unauthorized')
      await expectMessage(await getFile(uuid, headers), 401, 'Unauthorized')
    }
    expect(server.session(uuid)).toMatchObject({ state: 'open', writes: 0 })
  })

  it('rejects a token once it expires', async () => {
    await server.close()
    await start({ accessTokenLifetimeSeconds: 2 })
    const headers = { authorization: `Bearer ${await token()}` }
    const body = { fileSize: 0, hash: hashOf(new Uint8Array()) }
    expect((await postJson(SESSIONS, body, headers)).status).toBe(200)
    now += 3000
    await expectMessage(await postJson(SESSIONS, body, headers), 401, 'Unauthorized')
  })

  it('rejects tokens after invalidateTokens and after the user is removed', async () => {
    const body = { fileSize: 0, hash: hashOf(new Uint8Array()) }
    let headers = { authorization: `Bearer ${await token()}` }
    server.invalidateTokens()
    expect((await postJson(SESSIONS, body, headers)).status).toBe(401)
    headers = { authorization: `Bearer ${await token()}` }
    expect((await postJson(SESSIONS, body, headers)).status).toBe(200)
    server.removeUser(USER)
    expect((await postJson(SESSIONS, body, headers)).status).toBe(401)
  })

  it('follows password changes and API key revocation at run time', async () => {
    server.setPassword(USER, 'new secret')
    expect((await login()).status).toBe(401)
    expect((await login(USER, 'new secret')).status).toBe(200)

    const body = { fileSize: 0, hash: hashOf(new Uint8Array()) }
    server.revokeApiKey(API_KEY)
    expect((await postJson(SESSIONS, body)).status).toBe(401)
    server.addApiKey(API_KEY)
    expect((await postJson(SESSIONS, body)).status).toBe(200)
  })

  it('reads API keys from a configurable header', async () => {
    await server.close()
    await start({ apiKeyHeader: 'Authorization-Key' })
    const body = { fileSize: 0, hash: hashOf(new Uint8Array()) }
    expect((await postJson(SESSIONS, body)).status).toBe(401)
    expect((await postJson(SESSIONS, body, { 'authorization-key': API_KEY })).status).toBe(200)
  })
})

describe('upload sessions', () => {
  it('takes a WRITE/APPEND/APPEND upload, closes it and serves identical bytes', async () => {
    const bytes = randomBytes(300_000)
    const uuid = await createSession(bytes)
    const chunks = [
      bytes.subarray(0, 100_000),
      bytes.subarray(100_000, 250_000),
      bytes.subarray(250_000),
    ]
    const sizes: number[] = []
    for (const [i, chunk] of chunks.entries()) {
      const res = await write(uuid, i === 0 ? 'WRITE' : 'APPEND', chunk)
      expect(res.status).toBe(200)
      sizes.push(((await res.json()) as { data: { size: number } }).data.size)
    }
    expect(sizes).toEqual([100_000, 250_000, 300_000])
    expect(server.files()).toEqual([])

    const closed = await closeSession(uuid)
    expect(closed.status).toBe(200)
    expect(await closed.json()).toEqual({ data: uuid })

    const file = await getFile(uuid)
    expect(file.status).toBe(200)
    expect(file.headers.get('content-length')).toBe('300000')
    expect(file.headers.get('content-type')).toBe('application/octet-stream')
    expect(Buffer.from(await file.arrayBuffer()).equals(bytes)).toBe(true)

    const [stored] = server.files()
    expect(stored).toMatchObject({
      uuid,
      originalFilename: 'notes.txt',
      size: 300_000,
      sha256hex: createHash('sha256').update(bytes).digest('hex'),
    })
    expect((await readFile(stored?.storedPath ?? '')).equals(bytes)).toBe(true)
    expect(server.session(uuid)).toMatchObject({ writes: 3, peakConcurrentWrites: 1 })
    expect(server.router.log.all()).toMatchObject({
      'kala.session': 1,
      'kala.write': 3,
      'kala.close': 1,
      'kala.file': 1,
    })
  })

  it('WRITE replaces what the session held', async () => {
    const bytes = Buffer.from('hello world')
    const uuid = await createSession(bytes)
    expect((await write(uuid, 'WRITE', Buffer.from('garbage'))).status).toBe(200)
    expect((await write(uuid, 'WRITE', bytes)).status).toBe(200)
    expect((await closeSession(uuid)).status).toBe(200)
    expect(Buffer.from(await (await getFile(uuid)).arrayBuffer()).toString()).toBe('hello world')
  })

  it('keeps a session open after a size mismatch, so more bytes and a close succeed', async () => {
    const bytes = randomBytes(5000)
    const uuid = await createSession(bytes)
    expect((await write(uuid, 'WRITE', bytes.subarray(0, 3000))).status).toBe(200)
    await expectMessage(await closeSession(uuid), 400, 'File size does not match the expected size')
    expect(server.session(uuid)?.state).toBe('open')
    expect((await write(uuid, 'APPEND', bytes.subarray(3000))).status).toBe(200)
    expect((await closeSession(uuid)).status).toBe(200)
    expect(Buffer.from(await (await getFile(uuid)).arrayBuffer()).equals(bytes)).toBe(true)
  })

  it('refuses to close when the bytes do not match the hash, and stays open', async () => {
    const bytes = Buffer.from('hello world')
    const uuid = await createSession(bytes)
    expect((await write(uuid, 'WRITE', Buffer.from('hello World'))).status).toBe(200)
    await expectMessage(await closeSession(uuid), 400, 'File hash does not match the expected hash')
    expect(server.session(uuid)?.state).toBe('open')
    expect(server.files()).toEqual([])
    await expectMessage(await getFile(uuid), 404)
    expect((await write(uuid, 'WRITE', bytes)).status).toBe(200)
    expect((await closeSession(uuid)).status).toBe(200)
  })

  it('closes an empty file without any write', async () => {
    const uuid = await createSession(new Uint8Array())
    expect((await closeSession(uuid)).status).toBe(200)
    const file = await getFile(uuid)
    expect(file.headers.get('content-length')).toBe('0')
  })

  it('answers 409 to writes and closes on a closed session', async () => {
    const bytes = Buffer.from('hello world')
    const uuid = await createSession(bytes)
    expect((await write(uuid, 'WRITE', bytes)).status).toBe(200)
    expect((await closeSession(uuid)).status).toBe(200)
    await expectMessage(await write(uuid, 'APPEND', Buffer.from('!')), 409)
    await expectMessage(await closeSession(uuid), 409)
    expect(server.files()[0]?.size).toBe(11)
  })

  it('refuses a write past fileSize with 400 and undoes it', async () => {
    const bytes = randomBytes(1000)
    const uuid = await createSession(bytes)
    expect((await write(uuid, 'WRITE', bytes.subarray(0, 600))).status).toBe(200)
    await expectMessage(await write(uuid, 'APPEND', bytes.subarray(0, 401)), 400)
    expect(await onDisk(uuid)).toBe(600)
    await expectMessage(await write(uuid, 'WRITE', randomBytes(1001)), 400)
    expect(await onDisk(uuid)).toBe(0)
    expect((await write(uuid, 'WRITE', bytes)).status).toBe(200)
    expect((await closeSession(uuid)).status).toBe(200)
  })

  it('answers 404 for unknown uuids, and for files whose session is still open', async () => {
    const unknown = '00000000-0000-4000-8000-000000000000'
    await expectMessage(await write(unknown, 'WRITE', Buffer.from('x')), 404)
    await expectMessage(await closeSession(unknown), 404)
    await expectMessage(await getFile(unknown), 404)
    const uuid = await createSession(Buffer.from('x'))
    await expectMessage(await getFile(uuid), 404)
  })

  it('expires sessions left open for 24 h', async () => {
    const bytes = Buffer.from('hello world')
    const uuid = await createSession(bytes)
    expect((await write(uuid, 'WRITE', bytes)).status).toBe(200)
    now += 24 * 60 * 60 * 1000
    await expectMessage(await write(uuid, 'WRITE', bytes), 404)
    await expectMessage(await closeSession(uuid), 404)
    expect(server.session(uuid)).toBeUndefined()

    const other = await createSession(bytes)
    server.expireSession(other)
    await expectMessage(await closeSession(other), 404)
  })

  it.each([
    ['not JSON', '{"fileSize": 1,'],
    ['an array', '[]'],
    ['no fileSize', { hash: hashOf(new Uint8Array()) }],
    ['a negative fileSize', { fileSize: -1, hash: hashOf(new Uint8Array()) }],
    ['a fractional fileSize', { fileSize: 1.5, hash: hashOf(new Uint8Array()) }],
    ['a string fileSize', { fileSize: '11', hash: hashOf(new Uint8Array()) }],
    ['no hash', { fileSize: 0 }],
    ['a hex hash', { fileSize: 0, hash: `sha256:${createHash('sha256').digest('hex')}` }],
    ['an unpadded hash', { fileSize: 0, hash: hashOf(new Uint8Array()).replace(/=$/, '') }],
    ['a hash without prefix', { fileSize: 0, hash: hashOf(new Uint8Array()).slice(7) }],
    ['a short digest', { fileSize: 0, hash: `sha256:${Buffer.alloc(20).toString('base64')}` }],
    [
      'a numeric originalFilename',
      { originalFilename: 7, fileSize: 0, hash: hashOf(new Uint8Array()) },
    ],
  ])('refuses a create body with %s (400)', async (_label, body) => {
    await expectMessage(await postJson(SESSIONS, body), 400)
    expect(server.sessions()).toEqual([])
  })

  it('refuses a create body that is not sent as application/json (400)', async () => {
    const res = await fetch(server.url + SESSIONS, {
      method: 'POST',
      headers: keyAuth(),
      body: JSON.stringify({ fileSize: 0, hash: hashOf(new Uint8Array()) }),
    })
    await expectMessage(res, 400)
  })

  it('accepts a session without originalFilename', async () => {
    const uuid = await createSession(new Uint8Array(), { originalFilename: undefined })
    expect(server.session(uuid)?.originalFilename).toBeUndefined()
  })
})

describe('write requests', () => {
  it('answers 413 from Content-Length when the body exceeds the limit, writing nothing', async () => {
    await server.close()
    await start({ maxBodyBytes: 4096 })
    const bytes = randomBytes(6000)
    const uuid = await createSession(bytes)
    await expectMessage(await write(uuid, 'WRITE', bytes), 413)
    expect(server.session(uuid)?.size).toBe(0)
    expect((await write(uuid, 'WRITE', bytes.subarray(0, 3000))).status).toBe(200)
    expect((await write(uuid, 'APPEND', bytes.subarray(3000))).status).toBe(200)
    expect((await closeSession(uuid)).status).toBe(200)
  })

  it('answers 413 to a chunked body once it passes the limit, and undoes the APPEND', async () => {
    const bytes = randomBytes(20_000)
    const uuid = await createSession(bytes)
    expect((await write(uuid, 'WRITE', bytes.subarray(0, 5000))).status).toBe(200)
    server.maxBodyBytes = 8000
    const body = Buffer.concat([
      part('mode', 'APPEND'),
      part('file', bytes.subarray(5000), 'c'),
      END,
    ])
    const answer = await rawWrite(uuid, body, true)
    expect(answer.status).toBe(413)
    expect(await onDisk(uuid)).toBe(5000)
  })

  it('needs mode before the file part, and refuses anything else with 400', async () => {
    const bytes = Buffer.from('hello world hello')
    const uuid = await createSession(bytes)
    expect((await write(uuid, 'WRITE', bytes.subarray(0, 11))).status).toBe(200)
    const tail = bytes.subarray(11)
    const bodies = [
      Buffer.concat([part('file', tail, 'c'), part('mode', 'APPEND'), END]),
      Buffer.concat([part('mode', 'REPLACE'), part('file', tail, 'c'), END]),
      Buffer.concat([part('mode', 'append'), part('file', tail, 'c'), END]),
      Buffer.concat([part('mode', 'APPEND'), END]),
      Buffer.concat([part('file', tail, 'c'), END]),
      Buffer.concat([part('mode', 'APPEND'), part('mode', 'APPEND'), part('file', tail, 'c'), END]),
      Buffer.concat([part('mode', 'APPEND'), part('chunk', tail, 'c'), END]),
      Buffer.concat([
        part('mode', 'APPEND'),
        part('file', tail, 'c'),
        part('file', tail, 'd'),
        END,
      ]),
      // These two reach the disk before the problem shows, so they test the undo.
      Buffer.concat([part('mode', 'APPEND'), part('file', tail, 'c'), part('extra', 'x'), END]),
      Buffer.concat([part('mode', 'APPEND'), part('file', tail, 'c')]),
    ]
    for (const body of bodies) {
      const answer = await rawWrite(uuid, body)
      expect(answer.status, body.toString()).toBe(400)
      expect(JSON.parse(answer.body)).toHaveProperty('message')
      expect(await onDisk(uuid), body.toString()).toBe(11)
    }
    const ok = await rawWrite(
      uuid,
      Buffer.concat([part('mode', 'APPEND'), part('file', tail, 'c'), END]),
    )
    expect(ok).toEqual({ status: 200, body: '{"data":{"size":17}}' })
    expect((await closeSession(uuid)).status).toBe(200)
  })

  it('refuses a body that is not multipart with 400', async () => {
    const uuid = await createSession(Buffer.from('x'))
    const res = await fetch(`${server.url}${SESSIONS}/${uuid}/write`, {
      method: 'POST',
      headers: { ...keyAuth(), 'content-type': 'application/octet-stream' },
      body: 'x',
    })
    await expectMessage(res, 400)
  })

  it('keeps the bytes that arrived when the connection drops mid-body', async () => {
    const bytes = randomBytes(200_000)
    const uuid = await createSession(bytes)
    const body = Buffer.concat([part('mode', 'WRITE'), part('file', bytes, 'c'), END])
    const sent = 120_000
    const req = request(`${server.url}${SESSIONS}/${uuid}/write`, {
      method: 'POST',
      headers: {
        ...keyAuth(),
        'content-type': `multipart/form-data; boundary=${BOUNDARY}`,
        'content-length': String(body.length),
      },
    })
    req.on('error', () => undefined)
    req.write(body.subarray(0, sent))
    const header = part('mode', 'WRITE').length + part('file', '', 'c').length - 2
    // Busboy holds back a few bytes that could start the boundary, so wait for nearly all.
    await waitFor(() => (server.session(uuid)?.size ?? 0) >= sent - header - 100)
    req.destroy()
    await waitFor(() => server.session(uuid)?.inFlightWrites === 0)
    const partial = server.session(uuid)
    expect(partial?.state).toBe('open')
    expect(partial?.size).toBeGreaterThan(0)
    expect(partial?.size).toBeLessThanOrEqual(sent - header)
    const held = await readFile(partial?.storedPath ?? '')
    expect(held.equals(bytes.subarray(0, held.length))).toBe(true)
    expect(held.length).toBe(partial?.size)

    expect((await write(uuid, 'WRITE', bytes)).status).toBe(200)
    expect((await closeSession(uuid)).status).toBe(200)
  })

  it('breakNextWrite leaves exactly the given partial state and drops the connection', async () => {
    const bytes = randomBytes(50_000)
    const uuid = await createSession(bytes)
    expect((await write(uuid, 'WRITE', bytes.subarray(0, 10_000))).status).toBe(200)
    server.breakNextWrite(7000)
    await expect(write(uuid, 'APPEND', bytes.subarray(10_000))).rejects.toThrow()
    await waitFor(() => server.session(uuid)?.size === 17_000)
    const held = await readFile(server.session(uuid)?.storedPath ?? '')
    expect(held.equals(bytes.subarray(0, 17_000))).toBe(true)
    expect((await write(uuid, 'WRITE', bytes)).status).toBe(200)
    expect((await closeSession(uuid)).status).toBe(200)
  })

  it('runs overlapping writes on one session one after another and records the overlap', async () => {
    const bytes = randomBytes(4000)
    const uuid = await createSession(bytes)
    const body = Buffer.concat([
      part('mode', 'WRITE'),
      part('file', bytes.subarray(0, 2000), 'c'),
      END,
    ])
    const first = request(`${server.url}${SESSIONS}/${uuid}/write`, {
      method: 'POST',
      headers: {
        ...keyAuth(),
        'content-type': `multipart/form-data; boundary=${BOUNDARY}`,
        'content-length': String(body.length),
      },
    })
    const firstAnswer = new Promise<number>((resolve) =>
      first.on('response', (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      }),
    )
    first.write(body.subarray(0, 500))
    await waitFor(() => server.session(uuid)?.writes === 1)
    const second = write(uuid, 'APPEND', bytes.subarray(2000))
    await waitFor(() => server.session(uuid)?.peakConcurrentWrites === 2)
    first.end(body.subarray(500))
    expect(await firstAnswer).toBe(200)
    expect((await second).status).toBe(200)
    expect((await closeSession(uuid)).status).toBe(200)
  })

  it('honours injected faults by route name', async () => {
    const bytes = Buffer.from('hello world')
    const uuid = await createSession(bytes)
    server.router.faults.inject('kala.write', { type: 'status', status: 503 })
    expect((await write(uuid, 'WRITE', bytes)).status).toBe(503)
    expect(server.session(uuid)?.writes).toBe(0)
    expect((await write(uuid, 'WRITE', bytes)).status).toBe(200)
    server.router.faults.inject('kala.close', {
      type: 'rewrite',
      rewrite: () => ({ data: 'other' }),
    })
    expect(await (await closeSession(uuid)).json()).toEqual({ data: 'other' })
    expect(server.router.log.count('kala.write')).toBe(2)
  })
})

describe('running hash (close checks without reading the file again)', () => {
  it('an undone APPEND (past fileSize, or over the body limit) hashes on from what is held', async () => {
    const bytes = randomBytes(30_000)
    const uuid = await createSession(bytes)
    expect((await write(uuid, 'WRITE', bytes.subarray(0, 10_000))).status).toBe(200)
    await expectMessage(await write(uuid, 'APPEND', randomBytes(20_001)), 400)
    server.maxBodyBytes = 8000
    const over = Buffer.concat([part('mode', 'APPEND'), part('file', randomBytes(9000), 'c'), END])
    expect((await rawWrite(uuid, over, true)).status).toBe(413)
    server.maxBodyBytes = 10 * 1024 * 1024
    expect(await onDisk(uuid)).toBe(10_000)
    expect((await write(uuid, 'APPEND', bytes.subarray(10_000))).status).toBe(200)
    expect((await closeSession(uuid)).status).toBe(200)
    expect(server.files()[0]?.sha256hex).toBe(createHash('sha256').update(bytes).digest('hex'))
  })

  it('an undone WRITE empties the session and its hash', async () => {
    const bytes = randomBytes(1000)
    const uuid = await createSession(bytes)
    expect((await write(uuid, 'WRITE', randomBytes(500))).status).toBe(200)
    await expectMessage(await write(uuid, 'WRITE', randomBytes(1001)), 400)
    expect(await onDisk(uuid)).toBe(0)
    expect((await write(uuid, 'APPEND', bytes)).status).toBe(200)
    expect((await closeSession(uuid)).status).toBe(200)
  })

  it('after a break mid-write, APPENDing the rest of the bytes closes', async () => {
    const bytes = randomBytes(50_000)
    const uuid = await createSession(bytes)
    expect((await write(uuid, 'WRITE', bytes.subarray(0, 10_000))).status).toBe(200)
    server.breakNextWrite(7000)
    await expect(write(uuid, 'APPEND', bytes.subarray(10_000))).rejects.toThrow()
    await waitFor(() => server.session(uuid)?.inFlightWrites === 0)
    expect(await onDisk(uuid)).toBe(17_000)
    expect((await write(uuid, 'APPEND', bytes.subarray(17_000))).status).toBe(200)
    expect((await closeSession(uuid)).status).toBe(200)
  })

  it('after the client drops mid-body, APPENDing from what is held closes', async () => {
    const bytes = randomBytes(200_000)
    const uuid = await createSession(bytes)
    const body = Buffer.concat([part('mode', 'WRITE'), part('file', bytes, 'c'), END])
    const req = request(`${server.url}${SESSIONS}/${uuid}/write`, {
      method: 'POST',
      headers: {
        ...keyAuth(),
        'content-type': `multipart/form-data; boundary=${BOUNDARY}`,
        'content-length': String(body.length),
      },
    })
    req.on('error', () => undefined)
    req.write(body.subarray(0, 120_000))
    await waitFor(() => (server.session(uuid)?.size ?? 0) > 100_000)
    req.destroy()
    await waitFor(() => server.session(uuid)?.inFlightWrites === 0)
    const held = await onDisk(uuid)
    expect((await write(uuid, 'APPEND', bytes.subarray(held))).status).toBe(200)
    expect((await closeSession(uuid)).status).toBe(200)
  })

  it('a close after a failed hash check, then more writes, still checks the right bytes', async () => {
    const bytes = randomBytes(2000)
    const uuid = await createSession(bytes)
    expect((await write(uuid, 'WRITE', bytes.subarray(0, 1000))).status).toBe(200)
    expect((await write(uuid, 'APPEND', randomBytes(1000))).status).toBe(200)
    await expectMessage(await closeSession(uuid), 400, 'File hash does not match the expected hash')
    expect((await write(uuid, 'WRITE', bytes.subarray(0, 1000))).status).toBe(200)
    await expectMessage(await closeSession(uuid), 400, 'File size does not match the expected size')
    expect((await write(uuid, 'APPEND', bytes.subarray(1000))).status).toBe(200)
    expect((await closeSession(uuid)).status).toBe(200)
  })

  it('falls back to reading the file once a failed write left the running hash unsure', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-kala-test-'))
    try {
      const store = new KalaSessionStore({ dir, expiryMs: 60_000, clock: Date.now })
      const bytes = Buffer.from('hello world')
      const digest = createHash('sha256').update(bytes).digest()
      const session = await store.create({
        originalFilename: undefined,
        fileSize: bytes.length,
        hash: hashOf(bytes),
        digest,
      })
      await writeFile(session.path, bytes)
      session.wrote(bytes)
      session.unsure()
      // From now on the disk decides, not what was recorded.
      await writeFile(session.path, 'hello World')
      await expect(store.close(session)).rejects.toThrow('File hash does not match')
      await writeFile(session.path, bytes)
      await store.close(session)
      expect(session.state).toBe('closed')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('storage', () => {
  it('removes its own temp folder on close but keeps a given one', async () => {
    const own = server.storageDir
    await server.close()
    expect(existsSync(own)).toBe(false)

    const dir = await mkdtemp(join(tmpdir(), 'ferry-kala-test-'))
    try {
      await start({ storageDir: dir })
      const uuid = await createSession(Buffer.from('x'))
      expect((await write(uuid, 'WRITE', Buffer.from('x'))).status).toBe(200)
      expect((await closeSession(uuid)).status).toBe(200)
      expect(server.files()[0]?.storedPath.startsWith(dir)).toBe(true)
      await server.close()
      expect(existsSync(join(dir, uuid))).toBe(true)
    } finally {
      await rm(dir, { recursive: true, force: true })
      await start()
    }
  })
})
