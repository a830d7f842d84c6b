import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HttpClient, type AuthProvider } from '../../../main/backends/http/client.ts'
import { multipartBody } from '../../../main/backends/http/multipart.ts'
import { listen, Router, type RunningServer } from '../../servers/kit.ts'

const fast = { retries: 3, baseDelayMs: 10, maxDelayMs: 50, maxRetryAfterMs: 5_000 }

describe('HttpClient', () => {
  const router = new Router()
  let server: RunningServer
  let dir: string
  let seenAuth: string[] = []
  let uploaded: Buffer = Buffer.alloc(0)

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferry-http-'))
    router
      .add('echo', 'GET', '/echo', (ctx) => ctx.json(200, { ok: true }))
      .add('auth', 'GET', '/auth', (ctx) => {
        const header = ctx.req.headers.authorization ?? ''
        seenAuth.push(header)
        if (header !== 'Bearer fresh') ctx.json(401, { message: 'invalid token' })
        else ctx.json(200, { ok: true })
      })
      .add('bad', 'POST', '/bad', async (ctx) => {
        await ctx.body()
        ctx.json(400, { message: 'folder_path is required' })
      })
      .add('upload', 'POST', '/upload', async (ctx) => {
        uploaded = await ctx.body(64 * 1024 * 1024)
        ctx.json(200, { size: uploaded.length })
      })
      .add('redirect', 'POST', '/redirect', async (ctx) => {
        await ctx.body()
        ctx.res.writeHead(303, { location: '/echo' })
        ctx.res.end()
      })
      .add('text', 'GET', '/text', (ctx) => {
        ctx.res.writeHead(200, { 'content-type': 'text/plain' })
        ctx.res.end('not json')
      })
    server = await listen(router)
  })

  afterAll(async () => {
    await server.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('retries a 503 and honours Retry-After', async () => {
    const client = new HttpClient({ retry: fast })
    router.faults.inject('echo', { type: 'status', status: 503, headers: { 'retry-after': '1' } })
    const before = router.log.count('echo')
    const started = Date.now()
    const { body } = await client.json<{ ok: boolean }>({
      method: 'GET',
      url: `${server.url}/echo`,
    })
    expect(body.ok).toBe(true)
    expect(router.log.count('echo') - before).toBe(2)
    expect(Date.now() - started).toBeGreaterThanOrEqual(950)
    await client.close()
  })

  it('retries a dropped connection on an idempotent request', async () => {
    const client = new HttpClient({ retry: fast })
    router.faults.inject('echo', { type: 'drop' }, { times: 2 })
    const { body } = await client.json<{ ok: boolean }>({
      method: 'GET',
      url: `${server.url}/echo`,
    })
    expect(body.ok).toBe(true)
    await client.close()
  })

  it('does not retry a POST by itself, and types the failure as retryable', async () => {
    const client = new HttpClient({ retry: fast })
    router.faults.inject('upload', { type: 'drop', afterBytes: 10 })
    const before = router.log.count('upload')
    await expect(
      client.request({ method: 'POST', url: `${server.url}/upload`, body: Buffer.alloc(100_000) }),
    ).rejects.toMatchObject({ kind: 'retryable' })
    expect(router.log.count('upload') - before).toBe(1)
    await client.close()
  })

  it('gives up after the policy and reports the last error', async () => {
    const client = new HttpClient({ retry: fast, serviceName: 'dStor' })
    router.faults.inject('echo', { type: 'status', status: 500 }, { times: 10 })
    await expect(
      client.request({ method: 'GET', url: `${server.url}/echo` }),
    ).rejects.toMatchObject({ kind: 'retryable', status: 500 })
    router.faults.clear()
    await client.close()
  })

  it('refreshes credentials once after a 401', async () => {
    const client = new HttpClient({ retry: fast })
    let token = 'stale'
    let refreshes = 0
    const auth: AuthProvider = {
      headers: async () => ({ authorization: `Bearer ${token}` }),
      refresh: async () => {
        refreshes++
        token = 'fresh'
      },
    }
    seenAuth = []
    await client.request({ method: 'GET', url: `${server.url}/auth`, auth })
    expect(refreshes).toBe(1)
    expect(seenAuth).toEqual(['Bearer stale', 'Bearer fresh'])

    token = 'revoked'
    const stuck: AuthProvider = { ...auth, refresh: async () => void refreshes++ }
    await expect(
      client.request({ method: 'GET', url: `${server.url}/auth`, auth: stuck }),
    ).rejects.toMatchObject({ kind: 'auth', status: 401 })
    await client.close()
  })

  it('maps a 4xx to a permanent error carrying the server message', async () => {
    const client = new HttpClient({ retry: fast, serviceName: 'dStor' })
    const error = await client
      .request({ method: 'POST', url: `${server.url}/bad`, body: '{}' })
      .catch((e: unknown) => e)
    expect(error).toMatchObject({
      kind: 'permanent',
      status: 400,
      serverMessage: 'folder_path is required',
    })
    expect(String((error as Error).message)).toContain(
      'dStor answered 400: folder_path is required',
    )
    await client.close()
  })

  it('turns an answer that is not JSON into an integrity error', async () => {
    const client = new HttpClient({ retry: fast })
    await expect(client.json({ method: 'GET', url: `${server.url}/text` })).rejects.toMatchObject({
      kind: 'integrity',
    })
    await client.close()
  })

  it('follows a 303 after a POST with a GET', async () => {
    const client = new HttpClient({ retry: fast })
    const { response, body } = await client.json<{ ok: boolean }>({
      method: 'POST',
      url: `${server.url}/redirect`,
      body: 'x',
    })
    expect(body.ok).toBe(true)
    expect(response.url).toBe(`${server.url}/echo`)
    await client.close()
  })

  it('sends no header or body of ours to another origin on a redirect', async () => {
    const other = new Router()
    let seen: Record<string, unknown> = {}
    other.add('landing', 'GET', '/landing', (ctx) => {
      seen = { ...ctx.req.headers }
      ctx.json(200, { ok: true })
    })
    other.add('landing-post', 'POST', '/landing', (ctx) => ctx.json(200, { ok: true }))
    const elsewhere = await listen(other, { host: '127.0.0.2' })
    router.add('away', 'POST', '/away', async (ctx) => {
      await ctx.body()
      ctx.res.writeHead(Number(ctx.url.searchParams.get('status')), {
        location: `${elsewhere.url}/landing`,
      })
      ctx.res.end()
    })
    const client = new HttpClient({ retry: fast })
    const auth: AuthProvider = {
      headers: async () => ({ authorization: 'Bearer t' }),
      refresh: async () => {},
    }
    await client.request({
      method: 'POST',
      url: `${server.url}/away?status=303`,
      headers: { 'api-key': 'the-key', 'content-type': 'application/json' },
      body: '{"password":"p"}',
      auth,
    })
    expect(seen['api-key']).toBeUndefined()
    expect(seen['authorization']).toBeUndefined()
    await expect(
      client.request({
        method: 'POST',
        url: `${server.url}/away?status=307`,
        body: '{"password":"p"}',
      }),
    ).rejects.toMatchObject({ kind: 'permanent' })
    expect(other.log.count('landing-post')).toBe(0)
    await elsewhere.close()
    await client.close()
  })

  it('types a 403 as permanent, except where credentials are presented', async () => {
    const client = new HttpClient({ retry: fast })
    router.faults.inject('echo', { type: 'status', status: 403 }, { times: 2 })
    await expect(
      client.request({ method: 'GET', url: `${server.url}/echo` }),
    ).rejects.toMatchObject({
      kind: 'permanent',
      status: 403,
    })
    await expect(
      client.request({ method: 'GET', url: `${server.url}/echo`, authEndpoint: true }),
    ).rejects.toMatchObject({ kind: 'auth', status: 403 })
    await client.close()
  })

  it('refuses plain http to a non-loopback host, and credentials stay out of messages', async () => {
    const client = new HttpClient()
    await expect(
      client.request({ method: 'GET', url: 'http://example.com/x' }),
    ).rejects.toMatchObject({ kind: 'config' })
    const insecure = new HttpClient({ allowInsecureHttp: true })
    expect(insecure.checkUrl('http://example.com/x').host).toBe('example.com')
    await client.close()
    await insecure.close()
  })

  it('cancels with an AbortSignal', async () => {
    const client = new HttpClient({ retry: fast })
    router.faults.inject('echo', { type: 'delay', ms: 2_000 })
    const controller = new AbortController()
    setTimeout(() => controller.abort(), 50)
    await expect(
      client.request({ method: 'GET', url: `${server.url}/echo`, signal: controller.signal }),
    ).rejects.toMatchObject({ kind: 'cancelled' })
    await client.close()
  })

  it('streams a multipart body from disk with exact length and progress', async () => {
    const path = join(dir, 'a.bin')
    const content = Buffer.alloc(3 * 1024 * 1024 + 17, 7)
    await writeFile(path, content)
    const body = multipartBody([
      { name: 'mode', source: { bytes: Buffer.from('WRITE') } },
      {
        name: 'file',
        filename: 'dir/ü "q".bin',
        source: { path, start: 5, length: content.length - 5 },
      },
    ])
    let sent = 0
    const client = new HttpClient({ retry: fast })
    const { body: answer } = await client.json<{ size: number }>({
      method: 'POST',
      url: `${server.url}/upload`,
      body,
      onBytesSent: (n) => (sent += n),
    })
    expect(answer.size).toBe(body.length)
    expect(sent).toBe(body.length)
    const text = uploaded.toString('latin1')
    expect(text).toContain(`filename*=UTF-8''dir%2F%C3%BC%20%22q%22.bin`)
    expect(uploaded.includes(content.subarray(5))).toBe(true)
    await client.close()
  })

  it('fails clearly when a file shrinks while it is sent', async () => {
    const path = join(dir, 'b.bin')
    await writeFile(path, Buffer.alloc(1000))
    const body = multipartBody([{ name: 'file', filename: 'b', source: { path, length: 5000 } }])
    const client = new HttpClient({ retry: fast })
    await expect(
      client.request({ method: 'POST', url: `${server.url}/upload`, body }),
    ).rejects.toMatchObject({ kind: 'local' })
    await client.close()
  })
})
