import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createKalaServer, type KalaServer } from '../servers/kala-server.ts'
import { tempDir } from '../helpers/tree.ts'
import { runFerry } from './run-ferry.ts'

interface FolderJson {
  id: string
  path: string
  accountId: string
  remotePath: string
  excludes: string[]
  paused: boolean
}

describe('ferry account / folder (real processes, one settings file)', () => {
  let server: KalaServer
  let dir: Awaited<ReturnType<typeof tempDir>>
  let env: Record<string, string>

  beforeAll(async () => {
    server = await createKalaServer({ apiKeys: ['good-key'] })
    dir = await tempDir()
    env = {
      FERRY_HOME: join(dir.path, 'state'),
      // No keychain in this test: headless use, secrets from FERRY_SECRET.
      DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent',
    }
    await mkdir(join(dir.path, 'Photos/2024'), { recursive: true })
    await mkdir(join(dir.path, 'Docs'), { recursive: true })
  })

  afterAll(async () => {
    await server.close()
    await dir.dispose()
  })

  const ferry = (args: string[], extra: Record<string, string> = {}) =>
    runFerry(args, { ...env, ...extra })
  const folders = async (): Promise<FolderJson[]> =>
    (await ferry(['folder', 'list', '--json'])).json<FolderJson[]>()

  it('walks through accounts and folders as a headless user would', async () => {
    const addAccount = [
      'account',
      'add',
      '--backend',
      'kala',
      '--server',
      server.url,
      '--name',
      'home',
    ]

    const bad = await ferry(addAccount, { FERRY_SECRET: 'bad-key' })
    expect(bad.code).toBe(3)
    expect((await ferry(['account', 'list', '--json'])).json()).toEqual([])

    const good = await ferry(addAccount, { FERRY_SECRET: 'good-key' })
    expect(good.code, good.stderr).toBe(0)
    expect(good.stderr).toContain('FERRY_SECRET')
    expect((await ferry(addAccount, { FERRY_SECRET: 'good-key' })).code).toBe(2)
    expect((await ferry(['account', 'list', '--json'])).json()).toEqual([
      {
        id: 'home',
        backend: 'kala',
        server: server.url,
        auth: 'api-key',
        allowInsecureHttp: false,
        vivify: false,
      },
    ])

    const photos = join(dir.path, 'Photos')
    const add = await ferry([
      'folder',
      'add',
      photos,
      '--account',
      'home',
      '--remote-path',
      '/pics',
      '--exclude',
      '*.tmp',
      '--exclude',
      '!keep.tmp',
    ])
    expect(add.code, add.stderr).toBe(0)
    expect(await folders()).toEqual([
      {
        id: 'folder-1',
        path: photos,
        accountId: 'home',
        remotePath: '/pics',
        excludes: ['*.tmp', '!keep.tmp'],
        paused: false,
      },
    ])
    // Overlapping, unknown account, missing folder: refused, nothing changes.
    expect(
      (await ferry(['folder', 'add', join(photos, '2024'), '--account', 'home'])).stderr,
    ).toContain('overlaps')
    expect((await ferry(['folder', 'add', join(dir.path, 'Docs'), '--account', 'work'])).code).toBe(
      2,
    )
    expect((await ferry(['folder', 'add', join(dir.path, 'nope'), '--account', 'home'])).code).toBe(
      2,
    )
    expect(await folders()).toHaveLength(1)

    expect((await ferry(['folder', 'pause', photos])).code).toBe(0)
    expect((await folders())[0]?.paused).toBe(true)
    expect((await ferry(['folder', 'resume', 'folder-1'])).code).toBe(0)
    expect((await folders())[0]?.paused).toBe(false)

    const busy = await ferry(['account', 'remove', 'home'])
    expect(busy.code).toBe(2)
    expect(busy.stderr).toContain(photos)
    expect((await ferry(['folder', 'remove', photos])).code).toBe(0)
    expect((await ferry(['account', 'remove', 'home'])).code).toBe(0)

    const file = await readFile(join(dir.path, 'state', 'config.json'), 'utf8')
    expect(JSON.parse(file)).toMatchObject({ accounts: [], folders: [] })
    expect(file).not.toContain('good-key')
    expect((await ferry(['folder', 'frobnicate'])).code).toBe(2)
  })
})
