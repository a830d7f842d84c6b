import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { appendFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, describe, expect, it } from 'vitest'
import {
  createPerkeepServer,
  type PerkeepServer,
  type PerkeepServerOptions,
} from './perkeep-server.ts'

// A deliberately small client, independent of Ferry's, so the server is tested on its own.

const USER = 'alice'
const PASSWORD = 'pass3179'
const TOKEN = 'tok-0123456789'
const basic = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`
const MiB = 1024 * 1024

function ref(bytes: Buffer | string, hash = 'sha224'): string {
  return `${hash}-${createHash(hash).update(bytes).digest('hex')}`
}

interface TestPart {
  readonly name: string
  readonly data: Buffer
  readonly filename?: string | null
  readonly type?: string | null
}

function multipart(parts: readonly TestPart[]): {
  body: Uint8Array<ArrayBuffer>
  type: string
} {
  const boundary = `----test${randomBytes(8).toString('hex')}`
  const pieces: Buffer[] = []
  const add = (text: string): void => {
    pieces.push(Buffer.from(text))
  }
  for (const part of parts) {
    const filename = part.filename === undefined ? part.name : part.filename
    const type = part.type === undefined ? 'application/octet-stream' : part.type
    add(
      `--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"` +
        (filename === null ? '' : `; filename="${filename}"`) +
        '\r\n' +
        (type === null ? '' : `Content-Type: ${type}\r\n`) +
        '\r\n',
    )
    pieces.push(part.data)
    add('\r\n')
  }
  add(`--${boundary}--\r\n`)
  // A fresh ArrayBuffer-backed copy, which is what fetch's BodyInit type accepts.
  return {
    body: new Uint8Array(Buffer.concat(pieces)),
    type: `multipart/form-data; boundary=${boundary}`,
  }
}

function blobPart(data: Buffer | string): TestPart {
  const bytes = Buffer.from(data)
  return { name: ref(bytes), data: bytes }
}

/** Go's MarshalIndent for plain ASCII maps, with camliVersion first (PROTOCOLS.md §3.5). */
function canonical(map: Record<string, unknown>): string {
  const sort = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(sort)
      : typeof v === 'object' && v !== null
        ? Object.fromEntries(
            Object.keys(v)
              .sort()
              .map((k) => [k, sort((v as Record<string, unknown>)[k])]),
          )
        : v
  return JSON.stringify(sort(map), null, 2).replace(/^\{\n/, '{"camliVersion": 1,\n')
}

function statBody(refs: readonly string[], extra = ''): string {
  return `camliversion=1&${refs.map((r, i) => `blob${i + 1}=${r}`).join('&')}${extra}`
}

describe('reference Perkeep server', () => {
  const servers: PerkeepServer[] = []
  const dirs: string[] = []

  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()))
    await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
  })

  async function start(options: PerkeepServerOptions = {}): Promise<PerkeepServer> {
    const server = await createPerkeepServer({
      auth: { user: USER, password: PASSWORD },
      ...options,
    })
    servers.push(server)
    return server
  }

  function blobUrl(server: PerkeepServer, path: string): string {
    return `${server.url}${server.blobRoot}${path}`
  }

  async function upload(
    server: PerkeepServer,
    parts: readonly TestPart[],
    headers: Record<string, string> = {},
    url = blobUrl(server, 'camli/upload'),
  ): Promise<Response> {
    const { body, type } = multipart(parts)
    return fetch(url, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': type, ...headers },
      body,
    })
  }

  async function stat(server: PerkeepServer, body: string): Promise<Response> {
    return fetch(blobUrl(server, 'camli/stat'), {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
      body,
    })
  }

  async function put(
    server: PerkeepServer,
    blobRef: string,
    data: Buffer | string,
  ): Promise<Response> {
    return fetch(blobUrl(server, `camli/${blobRef}`), {
      method: 'PUT',
      headers: { authorization: basic },
      body: Buffer.from(data),
    })
  }

  describe('discovery', () => {
    it('answers the config Accept header and ?camli.mode=config with text/javascript JSON', async () => {
      const server = await start()
      const res = await fetch(`${server.url}/`, {
        headers: { accept: 'text/x-camli-configuration', authorization: basic },
      })
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toBe('text/javascript')
      const doc = (await res.json()) as Record<string, unknown>
      expect(doc.blobRoot).toBe('/bs-and-maybe-also-index/')
      expect(doc.searchRoot).toBe('/my-search/')
      expect(doc.jsonSignRoot).toBe('/sighelper/')
      expect(doc.downloadHelper).toBe('/ui/download/')
      expect(doc.storageGeneration).toMatch(/^[0-9a-f]{40}$/)
      expect(doc.signing).toMatchObject({ signHandler: '/sighelper/camli/sig/sign' })

      const byQuery = await fetch(`${server.url}/?camli.mode=config`, {
        headers: { authorization: basic },
      })
      expect(((await byQuery.json()) as Record<string, unknown>).blobRoot).toBe(
        '/bs-and-maybe-also-index/',
      )
      expect(server.router.log.count('perkeep.discovery')).toBe(2)
    })

    it('serves a plain HTML page otherwise, and honours a custom blobRoot', async () => {
      const server = await start({ blobRoot: '/bs' })
      const page = await fetch(`${server.url}/`)
      expect(page.headers.get('content-type')).toContain('text/html')
      expect(await page.text()).toContain('Perkeep')
      const doc = await fetch(`${server.url}/?camli.mode=config`, {
        headers: { authorization: basic },
      })
      expect(((await doc.json()) as Record<string, unknown>).blobRoot).toBe('/bs/')
      expect((await put(server, ref('x'), 'x')).status).toBe(204)
      const old = await fetch(`${server.url}/bs-and-maybe-also-index/camli/${ref('x')}`, {
        headers: { authorization: basic },
      })
      expect(old.status).toBe(404)
    })
  })

  describe('auth', () => {
    it('wants Basic credentials, and answers 401 with a Basic challenge otherwise', async () => {
      const server = await start()
      const url = `${server.url}/?camli.mode=config`
      const none = await fetch(url)
      expect(none.status).toBe(401)
      expect(none.headers.get('www-authenticate')).toBe('Basic realm="perkeep"')
      const wrong = `Basic ${Buffer.from(`${USER}:nope`).toString('base64')}`
      expect((await fetch(url, { headers: { authorization: wrong } })).status).toBe(401)
      expect((await fetch(url, { headers: { authorization: `Token ${TOKEN}` } })).status).toBe(401)
      expect((await fetch(url, { headers: { authorization: basic } })).status).toBe(200)
      const body = multipart([blobPart('secret')])
      const unauthorised = await fetch(blobUrl(server, 'camli/upload'), {
        method: 'POST',
        headers: { 'content-type': body.type },
        body: body.body,
      })
      expect(unauthorised.status).toBe(401)
      expect(server.has(ref('secret'))).toBe(false)
    })

    it('accepts Authorization: Token when configured with a token', async () => {
      const server = await start({ auth: { token: TOKEN } })
      const url = blobUrl(server, `camli/stat?camliversion=1&blob1=${ref('a')}`)
      expect((await fetch(url, { headers: { authorization: `Token ${TOKEN}` } })).status).toBe(200)
      expect((await fetch(url, { headers: { authorization: 'Token other' } })).status).toBe(401)
      expect((await fetch(url, { headers: { authorization: basic } })).status).toBe(401)
    })
  })

  describe('stat', () => {
    it('lists what the server has and stops at the first gap in the numbering', async () => {
      const server = await start()
      for (const text of ['one', 'two', 'four'])
        expect((await put(server, ref(text), text)).status).toBe(204)
      const refs = [ref('one'), ref('missing'), ref('two')]
      const res = await stat(server, `${statBody(refs)}&blob5=${ref('four')}`)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toBe('text/javascript')
      const body = (await res.json()) as {
        stat: { blobRef: string; size: number }[]
        canLongPoll: boolean
      }
      expect(body.canLongPoll).toBe(true)
      expect(body.stat).toEqual([
        { blobRef: ref('one'), size: 3 },
        { blobRef: ref('two'), size: 3 },
      ])
      const empty = (await (await stat(server, statBody([ref('missing')]))).json()) as {
        stat: unknown[]
      }
      expect(empty.stat).toEqual([])
    })

    it('also answers GET with the form in the query', async () => {
      const server = await start()
      await put(server, ref('q'), 'q')
      const res = await fetch(blobUrl(server, `camli/stat?${statBody([ref('q')])}`), {
        headers: { authorization: basic },
      })
      expect(((await res.json()) as { stat: unknown[] }).stat).toEqual([
        { blobRef: ref('q'), size: 1 },
      ])
    })

    it('takes 1000 refs, rejects 1001, a missing camliversion and a bogus ref', async () => {
      const server = await start()
      const refs = Array.from({ length: 1001 }, (_, i) => ref(`blob ${i}`))
      expect((await stat(server, statBody(refs.slice(0, 1000)))).status).toBe(200)
      expect((await stat(server, statBody(refs))).status).toBe(400)
      expect((await stat(server, `blob1=${ref('a')}`)).status).toBe(400)
      expect((await stat(server, statBody(['sha224-ABC']))).status).toBe(400)
      expect((await stat(server, statBody([ref('a', 'md5')]))).status).toBe(400)
    })
  })

  describe('multipart upload', () => {
    it('stores good parts of every accepted hash and lists them in received', async () => {
      const server = await start()
      const parts = [
        blobPart('hello'),
        { name: ref('sha1 blob', 'sha1'), data: Buffer.from('sha1 blob') },
      ]
      parts.push({ name: ref('sha256 blob', 'sha256'), data: Buffer.from('sha256 blob') })
      const res = await upload(server, parts)
      expect(res.status).toBe(200)
      const body = (await res.json()) as Record<string, unknown>
      expect(body).toEqual({
        received: [
          { blobRef: ref('hello'), size: 5 },
          { blobRef: ref('sha1 blob', 'sha1'), size: 9 },
          { blobRef: ref('sha256 blob', 'sha256'), size: 11 },
        ],
      })
      expect((await server.readBlob(ref('hello'))).toString()).toBe('hello')
      expect(server.blobCount()).toBe(3)
      expect(server.uploads()).toEqual([
        { route: 'perkeep.upload', stored: parts.map((p) => p.name), blobBytes: 25 },
      ])
    })

    it('stops at a part whose bytes do not match its ref: errorText, rest not stored', async () => {
      const server = await start()
      const bad = { name: ref('expected'), data: Buffer.from('actual') }
      const res = await upload(server, [blobPart('first'), bad, blobPart('third')])
      expect(res.status).toBe(200)
      const body = (await res.json()) as { received: unknown[]; errorText: string }
      expect(body.received).toEqual([{ blobRef: ref('first'), size: 5 }])
      expect(body.errorText).toContain(ref('expected'))
      expect(body.errorText).toContain("digest doesn't match")
      expect(server.has(ref('first'))).toBe(true)
      expect(server.has(ref('expected'))).toBe(false)
      expect(server.has(ref('actual'))).toBe(false)
      expect(server.has(ref('third'))).toBe(false)
      // Nothing of the rejected parts reached the disk: it holds exactly the stored blob.
      const usage = await server.store.diskUsage()
      expect(usage.onDisk).toBe(usage.indexed)
      expect(usage.indexed).toBeGreaterThan(5)
    })

    it('rejectNext makes a good part fail like a digest mismatch, once', async () => {
      const server = await start()
      server.rejectNext(ref('victim'))
      const first = (await (
        await upload(server, [blobPart('victim'), blobPart('after')])
      ).json()) as {
        received: unknown[]
        errorText?: string
      }
      expect(first.received).toEqual([])
      expect(first.errorText).toContain(ref('victim'))
      expect(server.has(ref('after'))).toBe(false)
      const second = (await (await upload(server, [blobPart('victim')])).json()) as {
        errorText?: string
      }
      expect(second.errorText).toBeUndefined()
      expect(server.has(ref('victim'))).toBe(true)
    })

    it('insists on filename = blobref and Content-Type application/octet-stream', async () => {
      const server = await start()
      for (const part of [
        { ...blobPart('named'), filename: 'blob1' },
        { ...blobPart('named'), filename: null },
        { ...blobPart('named'), type: null },
        { ...blobPart('named'), type: 'text/plain' },
        { name: 'not-a-ref', data: Buffer.from('named'), filename: 'not-a-ref' },
      ]) {
        const body = (await (await upload(server, [part, blobPart('later')])).json()) as {
          received: unknown[]
          errorText?: string
        }
        expect(body.received).toEqual([])
        expect(body.errorText).toBeTruthy()
      }
      expect(server.blobCount()).toBe(0)
    })

    it('accepts a blob of exactly 16 MiB and rejects 16 MiB + 1 with the rest of the request', async () => {
      const server = await start()
      const exact = randomBytes(16 * MiB)
      const ok = (await (await upload(server, [blobPart(exact)])).json()) as { received: unknown[] }
      expect(ok.received).toEqual([{ blobRef: ref(exact), size: 16 * MiB }])
      const over = Buffer.concat([exact, Buffer.from([7])])
      const res = (await (await upload(server, [blobPart(over), blobPart('small')])).json()) as {
        received: unknown[]
        errorText: string
      }
      expect(res.received).toEqual([])
      expect(res.errorText).toContain('over the limit of 16777216 bytes')
      expect(server.has(ref(over))).toBe(false)
      expect(server.has(ref('small'))).toBe(false)
    }, 30_000)

    it('answers 400 to a body that is not multipart', async () => {
      const server = await start()
      const res = await fetch(blobUrl(server, 'camli/upload'), {
        method: 'POST',
        headers: { authorization: basic, 'content-type': 'application/octet-stream' },
        body: 'hello',
      })
      expect(res.status).toBe(400)
    })

    it('can answer with a 303 redirect to the JSON, which a GET then reads', async () => {
      const server = await start({ uploadRedirect: 303 })
      const { body, type } = multipart([blobPart('redirected')])
      const manual = await fetch(blobUrl(server, 'camli/upload'), {
        method: 'POST',
        headers: { authorization: basic, 'content-type': type },
        body,
        redirect: 'manual',
      })
      expect(manual.status).toBe(303)
      const location = manual.headers.get('location') ?? ''
      expect(location).toMatch(/^\/camli-upload-result\//)
      expect((await fetch(new URL(location, server.url))).status).toBe(401)
      const followed = await upload(server, [blobPart('followed')])
      expect(followed.redirected).toBe(true)
      expect(await followed.json()).toEqual({ received: [{ blobRef: ref('followed'), size: 8 }] })
      server.setUploadRedirect(undefined)
      expect((await upload(server, [blobPart('direct')])).redirected).toBe(false)
    })

    it('vivifies a complete file schema with a mtime and names it in X-Camlistore-Vivified', async () => {
      const server = await start()
      const chunk = Buffer.from('file content')
      await upload(server, [blobPart(chunk)])
      const schema = canonical({
        camliType: 'file',
        fileName: 'a.txt',
        parts: [{ blobRef: ref(chunk), size: chunk.length }],
        unixMtime: '2024-05-06T07:08:09Z',
      })
      const res = await upload(server, [blobPart(schema)], { 'x-camlistore-vivify': '1' })
      expect(res.headers.get('x-camlistore-vivified')).toBe(ref(schema))
      expect(((await res.json()) as { errorText?: string }).errorText).toBeUndefined()
      const permanode = server.vivified().get(ref(schema)) ?? ''
      expect((await server.readSchema(permanode, 'permanode')).key).toBe(ref(schema))

      const noMtime = canonical({ camliType: 'file', fileName: 'b', parts: [] })
      const failed = await upload(server, [blobPart(noMtime)], { 'x-camlistore-vivify': '1' })
      expect(failed.headers.get('x-camlistore-vivified')).toBeNull()
      expect(((await failed.json()) as { errorText?: string }).errorText).toContain('unixMtime')
    })

    it('keeps the parts that fully arrived when the connection drops mid-request', async () => {
      const server = await start()
      const { body, type } = multipart([blobPart('arrived'), blobPart(randomBytes(64 * 1024))])
      const { port } = new URL(server.url)
      const socket = connect(Number(port), '127.0.0.1')
      await once(socket, 'connect')
      socket.write(
        `POST ${server.blobRoot}camli/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${basic}\r\n` +
          `Content-Type: ${type}\r\nContent-Length: ${body.length}\r\n\r\n`,
      )
      socket.write(body.subarray(0, body.length - 1000))
      for (let i = 0; i < 100 && !server.has(ref('arrived')); i++) await sleep(10)
      socket.destroy()
      expect(server.has(ref('arrived'))).toBe(true)
      // Wait for the server to see the drop (an upload record appears only for whole requests).
      await sleep(50)
      const usage = await server.store.diskUsage()
      expect(usage.onDisk).toBe(usage.indexed)
      expect(usage.indexed).toBeLessThan(1000)
      expect(server.blobCount()).toBe(1)
    })

    it('answers faults injected on its route names', async () => {
      const server = await start()
      server.router.faults.inject('perkeep.upload', { type: 'status', status: 503 })
      expect((await upload(server, [blobPart('x')])).status).toBe(503)
      expect((await upload(server, [blobPart('x')])).status).toBe(200)
      expect(server.router.log.count('perkeep.upload')).toBe(2)
    })
  })

  describe('what a test can count', () => {
    it('logs every blob part as it arrives and counts those it already held', async () => {
      const server = await start()
      await upload(server, [blobPart('first')])
      const bad = { name: ref('expected'), data: Buffer.from('actual') }
      // The same blob twice in one request, a bad part, and a part after the bad one.
      await upload(server, [blobPart('first'), blobPart('second'), blobPart('second')])
      await upload(server, [bad, blobPart('third')])
      expect((await put(server, ref('third'), 'third')).status).toBe(204)
      expect((await put(server, ref('third'), 'third')).status).toBe(204)
      expect(server.received()).toEqual([
        { route: 'perkeep.upload', ref: ref('first'), alreadyHad: false },
        { route: 'perkeep.upload', ref: ref('first'), alreadyHad: true },
        { route: 'perkeep.upload', ref: ref('second'), alreadyHad: false },
        { route: 'perkeep.upload', ref: ref('second'), alreadyHad: true },
        { route: 'perkeep.upload', ref: ref('expected'), alreadyHad: false },
        { route: 'perkeep.upload', ref: ref('third'), alreadyHad: false },
        { route: 'perkeep.put', ref: ref('third'), alreadyHad: false },
        { route: 'perkeep.put', ref: ref('third'), alreadyHad: true },
      ])
      expect(server.resentCount()).toBe(3)
    })
  })

  describe('PUT, GET and HEAD', () => {
    it('PUT stores one blob (204), GET reads it back, HEAD gives its size, missing → 404', async () => {
      const server = await start()
      const data = randomBytes(1000)
      expect((await put(server, ref(data), data)).status).toBe(204)
      const get = await fetch(blobUrl(server, `camli/${ref(data)}`), {
        headers: { authorization: basic },
      })
      expect(get.status).toBe(200)
      expect(Buffer.from(await get.arrayBuffer()).equals(data)).toBe(true)
      const head = await fetch(blobUrl(server, `camli/${ref(data)}`), {
        method: 'HEAD',
        headers: { authorization: basic },
      })
      expect(head.status).toBe(200)
      expect(head.headers.get('content-length')).toBe('1000')
      const missing = await fetch(blobUrl(server, `camli/${ref('nothing')}`), {
        method: 'HEAD',
        headers: { authorization: basic },
      })
      expect(missing.status).toBe(404)
      expect(server.router.log.count('perkeep.head')).toBe(2)
    })

    it('PUT rejects wrong bytes, a bad ref and an oversized blob with 400', async () => {
      const server = await start()
      expect((await put(server, ref('right'), 'wrong')).status).toBe(400)
      expect((await put(server, 'sha224-123', 'x')).status).toBe(400)
      const big = Buffer.alloc(16 * MiB + 1)
      expect((await put(server, ref(big), big)).status).toBe(400)
      expect(server.blobCount()).toBe(0)
    })

    it('keeps blobs across a restart on the same storage folder', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'ferry-pk-test-'))
      dirs.push(dir)
      const first = await start({ storageDir: dir })
      await put(first, ref('kept'), 'kept')
      await first.close()
      const second = await start({ storageDir: dir })
      expect(second.has(ref('kept'))).toBe(true)
    })

    it('after a restart, ignores a record cut short by a crash and reads older blob files', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'ferry-pk-test-'))
      dirs.push(dir)
      const first = await start({ storageDir: dir })
      const big = randomBytes(100_000)
      expect((await put(first, ref(big), big)).status).toBe(204)
      expect((await upload(first, [blobPart('one'), blobPart('')])).status).toBe(200)
      await first.close()
      // A crash mid-write: a record whose bytes stop short, in a pack of its own…
      const cut = randomBytes(1000)
      const packs = join(dir, 'packs')
      const header = Buffer.from(`[${ref(cut)} ${cut.length}]`)
      await writeFile(
        join(packs, '999999999999999-cut.pack'),
        Buffer.concat([header, cut.subarray(0, 999)]),
      )
      // …and a header cut short at the end of another.
      const [pack] = await readdir(packs)
      await appendFile(join(packs, pack ?? ''), `[${ref('x')} 1`)
      // The older layout: one file per blob.
      await mkdir(join(dir, 'blobs'))
      await writeFile(join(dir, 'blobs', ref('old layout')), 'old layout')

      const second = await start({ storageDir: dir })
      expect(
        second
          .blobs()
          .map((b) => b.ref)
          .sort(),
      ).toEqual([ref(big), ref('one'), ref(''), ref('old layout')].sort())
      expect((await second.readBlob(ref(big))).equals(big)).toBe(true)
      expect((await second.readBlob(ref(''))).length).toBe(0)
      expect((await second.readBlob(ref('old layout'))).toString()).toBe('old layout')
      const get = await fetch(blobUrl(second, `camli/${ref(big)}`), {
        headers: { authorization: basic },
      })
      expect(Buffer.from(await get.arrayBuffer()).equals(big)).toBe(true)
      const empty = await fetch(blobUrl(second, `camli/${ref('')}`), {
        headers: { authorization: basic },
      })
      expect([empty.status, (await empty.arrayBuffer()).byteLength]).toEqual([200, 0])
      // The cut record can be sent again, and lands whole.
      expect((await put(second, ref(cut), cut)).status).toBe(204)
      expect((await second.readBlob(ref(cut))).equals(cut)).toBe(true)
      await second.close()
      const third = await start({ storageDir: dir })
      expect(third.blobCount()).toBe(5)
      expect((await third.readBlob(ref(cut))).equals(cut)).toBe(true)
    })
  })

  describe('legacy preupload mode', () => {
    async function preupload(server: PerkeepServer, refs: readonly string[]): Promise<Response> {
      return fetch(`${server.url}/camli/preupload`, {
        method: 'POST',
        headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
        body: statBody(refs),
      })
    }

    interface LegacyAnswer {
      alreadyHave?: { blobRef: string; size: number }[]
      received?: { blobRef: string; size: number }[]
      maxUploadSize: number
      uploadUrl: string
      uploadUrlExpirationSeconds: number
    }

    it('has no discovery, stat or fixed upload path', async () => {
      const server = await start({ mode: 'legacy' })
      const config = await fetch(`${server.url}/`, {
        headers: { accept: 'text/x-camli-configuration', authorization: basic },
      })
      expect(config.status).toBe(404)
      expect((await stat(server, statBody([ref('a')]))).status).toBe(404)
      expect((await upload(server, [blobPart('a')], {}, `${server.url}/camli/upload`)).status).toBe(
        404,
      )
    })

    it('preupload → upload → fresh uploadUrl; superseded URLs answer 404', async () => {
      const server = await start({
        mode: 'legacy',
        maxUploadSize: 4096,
        uploadUrlExpirationSeconds: 60,
      })
      const first = (await (await preupload(server, [ref('a'), ref('b')])).json()) as LegacyAnswer
      expect(first).toMatchObject({
        alreadyHave: [],
        maxUploadSize: 4096,
        uploadUrlExpirationSeconds: 60,
      })
      expect(first.uploadUrl.startsWith(`${server.url}/`)).toBe(true)

      const res = await upload(server, [blobPart('a')], {}, first.uploadUrl)
      expect(res.status).toBe(200)
      const second = (await res.json()) as LegacyAnswer
      expect(second.received).toEqual([{ blobRef: ref('a'), size: 1 }])
      expect(second.maxUploadSize).toBe(4096)
      expect(second.uploadUrl).not.toBe(first.uploadUrl)
      expect(server.currentUploadUrl()).toBe(second.uploadUrl)

      expect((await upload(server, [blobPart('b')], {}, first.uploadUrl)).status).toBe(404)
      expect(server.has(ref('b'))).toBe(false)
      const unauthorised = await fetch(second.uploadUrl, { method: 'POST', body: 'x' })
      expect(unauthorised.status).toBe(401)

      const again = (await (await preupload(server, [ref('a'), ref('b')])).json()) as LegacyAnswer
      expect(again.alreadyHave).toEqual([{ blobRef: ref('a'), size: 1 }])
      expect((await upload(server, [blobPart('b')], {}, second.uploadUrl)).status).toBe(404)
      expect((await upload(server, [blobPart('b')], {}, again.uploadUrl)).status).toBe(200)
      expect(server.has(ref('b'))).toBe(true)
    })

    it('an expired uploadUrl answers 404', async () => {
      let clock = 1_000_000
      const server = await start({
        mode: 'legacy',
        uploadUrlExpirationSeconds: 10,
        now: () => clock,
      })
      const { uploadUrl } = (await (await preupload(server, [ref('late')])).json()) as LegacyAnswer
      clock += 10_000
      const inTime = (await (
        await upload(server, [blobPart('in time')], {}, uploadUrl)
      ).json()) as LegacyAnswer
      clock += 10_001
      expect((await upload(server, [blobPart('late')], {}, inTime.uploadUrl)).status).toBe(404)
      expect(server.has(ref('late'))).toBe(false)
      expect(server.currentUploadUrl()).toBeUndefined()
    })

    it('counts blob bytes, not framing, against maxUploadSize; over it → 400, nothing stored', async () => {
      const server = await start({ mode: 'legacy', maxUploadSize: MiB })
      const chunk = randomBytes(MiB)
      const { uploadUrl } = (await (await preupload(server, [ref(chunk)])).json()) as LegacyAnswer
      const ok = await upload(server, [blobPart(chunk)], {}, uploadUrl)
      expect(ok.status).toBe(200)
      const next = (await ok.json()) as LegacyAnswer
      expect(next.received).toEqual([{ blobRef: ref(chunk), size: MiB }])

      const halves = [randomBytes(MiB / 2), randomBytes(MiB / 2 + 1)]
      const over = await upload(server, halves.map(blobPart), {}, next.uploadUrl)
      expect(over.status).toBe(400)
      expect(halves.some((h) => server.has(ref(h)))).toBe(false)
      // The rejected request does not use up the URL.
      expect(
        (await upload(server, [blobPart(halves[0] as Buffer)], {}, next.uploadUrl)).status,
      ).toBe(200)
    })
  })

  describe('schema readers', () => {
    it('reassembles a two-part file and a file with a bytes subtree, checking sizes', async () => {
      const server = await start()
      const a = randomBytes(3000)
      const b = randomBytes(1234)
      const c = randomBytes(77)
      const twoPart = canonical({
        camliType: 'file',
        fileName: 'two.bin',
        parts: [
          { blobRef: ref(a), size: a.length },
          { blobRef: ref(b), size: b.length },
        ],
      })
      const bytes = canonical({
        camliType: 'bytes',
        parts: [
          { blobRef: ref(a), size: a.length },
          { blobRef: ref(b), size: b.length },
        ],
      })
      const nested = canonical({
        camliType: 'file',
        fileName: 'nested.bin',
        parts: [
          { bytesRef: ref(bytes), size: a.length + b.length },
          { blobRef: ref(c), size: c.length },
        ],
      })
      const lying = canonical({
        camliType: 'file',
        fileName: 'x',
        parts: [{ blobRef: ref(c), size: 78 }],
      })
      const absent = canonical({
        camliType: 'file',
        fileName: 'y',
        parts: [{ blobRef: ref('gone'), size: 4 }],
      })
      await upload(server, [a, b, c, twoPart, bytes, nested, lying, absent].map(blobPart))

      expect((await server.fileBytes(ref(twoPart))).equals(Buffer.concat([a, b]))).toBe(true)
      expect((await server.fileBytes(ref(nested))).equals(Buffer.concat([a, b, c]))).toBe(true)
      const digest = createHash('sha256')
        .update(Buffer.concat([a, b, c]))
        .digest('hex')
      expect(await server.fileDigest(ref(nested))).toEqual({ size: 4311, digest })
      await expect(server.fileBytes(ref(lying))).rejects.toThrow(/78/)
      await expect(server.fileBytes(ref(absent))).rejects.toThrow(/missing/)
      await expect(server.fileBytes(ref(a))).rejects.toThrow(/schema/)
    })

    it('walks directory → static-set (with mergeSets) → members', async () => {
      const server = await start()
      const content = Buffer.from('hi\n')
      const file = canonical({
        camliType: 'file',
        fileName: 'hello.txt',
        parts: [{ blobRef: ref(content), size: 3 }],
      })
      const link = canonical({ camliType: 'symlink', fileName: 'link', symlinkTarget: 'hello.txt' })
      const emptySet = canonical({ camliType: 'static-set', members: [] })
      const sub = canonical({ camliType: 'directory', entries: ref(emptySet), fileName: 'sub' })
      const setA = canonical({ camliType: 'static-set', members: [ref(file), ref(link)] })
      const setB = canonical({ camliType: 'static-set', members: [ref(sub)] })
      const merged = canonical({ camliType: 'static-set', mergeSets: [ref(setA), ref(setB)] })
      const root = canonical({ camliType: 'directory', entries: ref(merged), fileName: 'root' })
      await upload(
        server,
        [content, file, link, emptySet, sub, setA, setB, merged, root].map(blobPart),
      )

      const tree = await server.readDirectory(ref(root))
      const shape = (node: typeof tree): unknown => ({
        name: node.name,
        type: node.type,
        ...(node.fileRef ? { fileRef: node.fileRef, size: node.size } : {}),
        ...(node.symlinkTarget ? { target: node.symlinkTarget } : {}),
        ...(node.children ? { children: node.children.map(shape) } : {}),
      })
      expect(shape(tree)).toEqual({
        name: 'root',
        type: 'directory',
        children: [
          { name: 'hello.txt', type: 'file', fileRef: ref(file), size: 3 },
          { name: 'link', type: 'symlink', target: 'hello.txt' },
          { name: 'sub', type: 'directory', children: [] },
        ],
      })
      await expect(server.readDirectory(ref(file))).rejects.toThrow(/expected directory/)
    })
  })
})
