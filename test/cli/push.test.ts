import { appendFile, chmod, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createDstorServer,
  DSTOR_DEFAULT_API_KEY,
  type DstorServer,
} from '../servers/dstor-server.ts'
import { createKalaServer, type KalaServer } from '../servers/kala-server.ts'
import { createPerkeepServer, type PerkeepServer } from '../servers/perkeep-server.ts'
import type { TreeNode } from '../servers/perkeep-schema-reader.ts'
import { sampleTree, sha256Hex, tempDir, writeTree, type SampleFile } from '../helpers/tree.ts'
import { runFerry, type PushJson } from './run-ferry.ts'

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting')
    await new Promise((r) => setTimeout(r, 5))
  }
}

interface Case {
  readonly backend: 'dstor' | 'kala' | 'perkeep'
  readonly secret: string
  /** The server's stored tree: relPath → sha256 of the bytes it holds. */
  readonly stored: (json: PushJson) => Promise<Map<string, string>>
  readonly uploadRoute: string
}

describe('ferry push (real process, real servers)', () => {
  let dstor: DstorServer
  let kala: KalaServer
  let perkeep: PerkeepServer
  let work: Awaited<ReturnType<typeof tempDir>>

  beforeAll(async () => {
    dstor = await createDstorServer({ stageDelayMs: 1 })
    kala = await createKalaServer({ apiKeys: ['kala-key'], users: { alice: 'pw' } })
    perkeep = await createPerkeepServer({ auth: { user: 'ferry', password: 'pk-pw' } })
    work = await tempDir()
  })

  afterAll(async () => {
    await Promise.all([dstor.close(), kala.close(), perkeep.close()])
    await work.dispose()
  })

  const cases: Case[] = [
    {
      backend: 'dstor',
      secret: DSTOR_DEFAULT_API_KEY,
      uploadRoute: 'dstor.upload',
      stored: async () => {
        const out = new Map<string, string>()
        for (const file of dstor.listFiles())
          out.set(file.name, sha256Hex(await readFile(file.storedPath)))
        return out
      },
    },
    {
      backend: 'kala',
      secret: 'kala-key',
      uploadRoute: 'kala.write',
      stored: async (json) => {
        const byUuid = new Map(kala.files().map((f) => [f.uuid, f]))
        const out = new Map<string, string>()
        for (const file of json.files) {
          const stored = byUuid.get(file.remote['uuid'] as string)
          if (stored) out.set(file.path, sha256Hex(await readFile(stored.storedPath)))
        }
        return out
      },
    },
    {
      backend: 'perkeep',
      secret: 'pk-pw',
      uploadRoute: 'perkeep.upload',
      stored: async (json) => {
        const out = new Map<string, string>()
        const walk = async (node: TreeNode, prefix: string): Promise<void> => {
          for (const child of node.children ?? []) {
            const rel = prefix ? `${prefix}/${child.name}` : child.name
            if (child.type === 'directory') await walk(child, rel)
            else if (child.fileRef) out.set(rel, sha256Hex(await perkeep.fileBytes(child.fileRef)))
          }
        }
        await walk(await perkeep.readDirectory(json.root as string), '')
        return out
      },
    },
  ]

  const urlOf = (backend: Case['backend']): string =>
    backend === 'dstor' ? dstor.url : backend === 'kala' ? kala.url : perkeep.url

  for (const c of cases) {
    describe(c.backend, () => {
      let folder: string
      let home: string
      let tree: SampleFile[]
      const push = (extra: string[] = [], env: Record<string, string> = {}) =>
        runFerry(
          [
            'push',
            folder,
            '--backend',
            c.backend,
            '--server',
            urlOf(c.backend),
            '--json',
            ...extra,
          ],
          { FERRY_SECRET: c.secret, FERRY_HOME: home, ...env },
        )

      beforeAll(async () => {
        folder = join(work.path, `${c.backend}-tree`)
        home = join(work.path, `${c.backend}-home`)
        tree = sampleTree()
        await writeTree(folder, tree)
      })

      it('uploads every file; the server holds exactly the local tree', async () => {
        const run = await push()
        expect(run.code, run.stderr).toBe(0)
        const json = run.json()
        expect(json.uploaded).toBe(tree.length)
        expect(json.failed).toEqual([])
        expect(json.files.map((f) => f.path).sort()).toEqual(tree.map((f) => f.relPath).sort())
        for (const file of json.files) {
          const local = tree.find((f) => f.relPath === file.path) as SampleFile
          expect(file.size).toBe(local.content.length)
          expect(file.sha256).toBe(sha256Hex(local.content))
          expect(Object.keys(file.remote)).toEqual([
            c.backend === 'dstor' ? 'cid' : c.backend === 'kala' ? 'uuid' : 'fileRef',
          ])
        }
        if (c.backend === 'perkeep') expect(json.root).toMatch(/^sha224-[0-9a-f]{56}$/)
        else expect(json.root).toBeUndefined()
        expect(await c.stored(json)).toEqual(
          new Map(tree.map((f) => [f.relPath, sha256Hex(f.content)])),
        )
      })

      it('a second push of the unchanged folder sends nothing', async () => {
        const before = (
          c.backend === 'dstor' ? dstor : c.backend === 'kala' ? kala : perkeep
        ).router.log.count(c.uploadRoute)
        const run = await push()
        expect(run.code, run.stderr).toBe(0)
        expect(run.json()).toMatchObject({ uploaded: 0, skipped: tree.length, failed: [] })
        const router = (c.backend === 'dstor' ? dstor : c.backend === 'kala' ? kala : perkeep)
          .router
        expect(router.log.count(c.uploadRoute)).toBe(before)
      })

      it('a changed file goes again, and so does a touched one (new mtime)', async () => {
        await writeFile(join(folder, 'hello.txt'), 'hello again')
        const note = join(folder, 'nested/deeper/deepest/note.md')
        await writeFile(note, await readFile(note))
        const run = await push()
        expect(run.code, run.stderr).toBe(0)
        expect(run.json()).toMatchObject({ uploaded: 2, skipped: tree.length - 2 })
        const stored = await c.stored(run.json())
        expect(stored.get('hello.txt')).toBe(sha256Hex(Buffer.from('hello again')))
      })

      it('wrong credentials: exit 3 and nothing uploaded', async () => {
        await appendFile(join(folder, 'hello.txt'), '!')
        const router = (c.backend === 'dstor' ? dstor : c.backend === 'kala' ? kala : perkeep)
          .router
        const before = router.log.count(c.uploadRoute)
        const run = await push([], { FERRY_SECRET: 'definitely-wrong' })
        expect(run.code).toBe(3)
        expect(run.stderr).toMatch(/401|refused|sign/i)
        expect(run.stderr).not.toContain('definitely-wrong')
        expect(router.log.count(c.uploadRoute)).toBe(before)
      })
    })
  }

  it('no secret anywhere: exit 3 with the way out', async () => {
    const folder = join(work.path, 'nosecret')
    await writeTree(folder, [{ relPath: 'a.txt', content: Buffer.from('a') }])
    const run = await runFerry(['push', folder, '--backend', 'kala', '--server', kala.url], {
      FERRY_HOME: join(work.path, 'nosecret-home'),
      // No keychain reachable: a private, empty D-Bus address.
      DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent',
    })
    expect(run.code).toBe(3)
    expect(run.stderr).toContain('FERRY_SECRET')
    expect(run.stderr).toContain('ferry login')
  })

  it('usage and configuration errors: exit 2', async () => {
    const home = { FERRY_HOME: join(work.path, 'usage-home'), FERRY_SECRET: 'x' }
    const missing = await runFerry(
      ['push', join(work.path, 'nope'), '--backend', 'kala', '--server', kala.url],
      home,
    )
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain('is not a folder')
    expect(
      (await runFerry(['push', work.path, '--backend', 'ftp', '--server', kala.url], home)).code,
    ).toBe(2)
    expect((await runFerry(['push', work.path, '--backend', 'kala'], home)).code).toBe(2)
    expect((await runFerry(['frobnicate'], home)).code).toBe(2)
    expect(
      (
        await runFerry(
          ['push', work.path, '--backend', 'kala', '--server', kala.url, '--auth', 'token'],
          home,
        )
      ).code,
    ).toBe(2)
    const insecure = await runFerry(
      ['push', work.path, '--backend', 'kala', '--server', 'http://example.com'],
      home,
    )
    expect(insecure.code).toBe(2)
    expect(insecure.stderr).toContain('http://')
    const help = await runFerry(['--help'], home)
    expect(help.code).toBe(0)
    expect(help.stdout).toContain('ferry push <folder>')
  })

  it('a file changed during the push: exit 1, the rest uploaded, the next push converges', async () => {
    const folder = join(work.path, 'changing')
    const home = join(work.path, 'changing-home')
    await writeTree(folder, [
      { relPath: 'stable.txt', content: Buffer.from('stable') },
      { relPath: 'growing.log', content: Buffer.alloc(1024 * 1024, 1) },
    ])
    // Slow every write so the test can change the file while it is on the wire.
    kala.router.faults.inject('kala.write', { type: 'delay', ms: 400 }, { times: 2 })
    const env = { FERRY_SECRET: 'kala-key', FERRY_HOME: home }
    const args = [
      'push',
      folder,
      '--backend',
      'kala',
      '--server',
      kala.url,
      '--json',
      '--concurrency',
      '1',
    ]
    const writesBefore = kala.router.log.count('kala.write')
    const pending = runFerry(args, env)
    // growing.log is sent first (name order); change it while its bytes are on the wire.
    await waitFor(() => kala.router.log.count('kala.write') > writesBefore)
    await appendFile(join(folder, 'growing.log'), 'more')
    const first = await pending
    expect(first.code, first.stderr).toBe(1)
    const json = first.json()
    expect(json.failed.map((f) => f.path)).toEqual(['growing.log'])
    expect(json.failed[0]?.error).toMatch(/changed/)
    expect(json.uploaded).toBe(1)
    const second = await runFerry(args, env)
    expect(second.code, second.stderr).toBe(0)
    expect(second.json()).toMatchObject({ uploaded: 1, skipped: 1 })
  })

  it('a file deleted before its turn is reported, and the push still exits 1 cleanly', async () => {
    const folder = join(work.path, 'deleting')
    await writeTree(folder, [
      { relPath: 'a.txt', content: Buffer.alloc(2 * 1024 * 1024, 2) },
      { relPath: 'b.txt', content: Buffer.from('to be deleted') },
    ])
    kala.router.faults.inject('kala.write', { type: 'delay', ms: 400 })
    const env = { FERRY_SECRET: 'kala-key', FERRY_HOME: join(work.path, 'deleting-home') }
    const writesBefore = kala.router.log.count('kala.write')
    const pending = runFerry(
      ['push', folder, '--backend', 'kala', '--server', kala.url, '--json', '--concurrency', '1'],
      env,
    )
    await waitFor(() => kala.router.log.count('kala.write') > writesBefore)
    await rm(join(folder, 'b.txt'))
    const run = await pending
    expect(run.code, run.stderr).toBe(1)
    expect(run.json().failed).toEqual([{ path: 'b.txt', error: expect.stringMatching(/deleted/) }])
  })

  it('an unreadable file is reported with its reason; the rest is uploaded; exit 1', async () => {
    const folder = join(work.path, 'unreadable')
    await writeTree(folder, [
      { relPath: 'ok.txt', content: Buffer.from('fine') },
      { relPath: 'locked.txt', content: Buffer.from('no entry') },
    ])
    await chmod(join(folder, 'locked.txt'), 0o000)
    // Root reads anything: drop the capabilities that let it, so permissions apply as for a user.
    const wrapper =
      process.getuid?.() === 0 ? ['setpriv', '--bounding-set=-dac_override,-dac_read_search'] : []
    const env = { FERRY_SECRET: 'kala-key', FERRY_HOME: join(work.path, 'unreadable-home') }
    const args = ['push', folder, '--backend', 'kala', '--server', kala.url, '--json']
    const run = await runFerry(args, env, { wrapper })
    expect(run.code, run.stderr).toBe(1)
    expect(run.json().failed).toEqual([
      { path: 'locked.txt', error: expect.stringMatching(/permission denied/) },
    ])
    expect(run.json().files.map((f) => f.path)).toEqual(['ok.txt'])
    await chmod(join(folder, 'locked.txt'), 0o644)
    const again = await runFerry(args, env, { wrapper })
    expect(again.code, again.stderr).toBe(0)
    expect(again.json()).toMatchObject({ uploaded: 1, skipped: 1 })
  })

  it('a server answering with a wrong CID: not recorded, exit 1', async () => {
    const folder = join(work.path, 'wrong-cid')
    await writeTree(folder, [{ relPath: 'only.txt', content: Buffer.from('just me') }])
    dstor.router.faults.inject('dstor.single', {
      type: 'rewrite',
      rewrite: (body) => ({
        ...(body as object),
        Hash: 'QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH',
      }),
    })
    const env = {
      FERRY_SECRET: DSTOR_DEFAULT_API_KEY,
      FERRY_HOME: join(work.path, 'wrong-cid-home'),
    }
    const args = ['push', folder, '--backend', 'dstor', '--server', dstor.url, '--json']
    const run = await runFerry(args, env)
    expect(run.code, run.stderr).toBe(1)
    expect(run.json().failed[0]?.error).toMatch(/QmbFMke1/)
    expect(run.json().files).toEqual([])
    // Nothing was recorded: the next push sends it again and succeeds.
    const again = await runFerry(args, env)
    expect(again.code, again.stderr).toBe(0)
    expect(again.json()).toMatchObject({ uploaded: 1, skipped: 0 })
  })

  it('malformed JSON from the server: not recorded, exit 1', async () => {
    const folder = join(work.path, 'malformed')
    await writeTree(folder, [
      { relPath: 'x.txt', content: Buffer.from('x') },
      { relPath: 'y.txt', content: Buffer.from('y') },
    ])
    dstor.router.faults.inject('dstor.status', { type: 'malformed' }, { times: 10 })
    const env = {
      FERRY_SECRET: DSTOR_DEFAULT_API_KEY,
      FERRY_HOME: join(work.path, 'malformed-home'),
    }
    const run = await runFerry(
      ['push', folder, '--backend', 'dstor', '--server', dstor.url, '--json'],
      env,
    )
    dstor.router.faults.clear()
    expect(run.code, run.stderr).toBe(1)
    expect(run.json().files).toEqual([])
    expect(run.json().failed.length).toBe(2)
  })
})
