import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createKalaServer, type KalaServer } from '../servers/kala-server.ts'
import { tempDir } from '../helpers/tree.ts'
import { runFerry } from './run-ferry.ts'

// Headless secrets with two accounts on two servers: each server may only ever see its own.
describe('ferry sync: secrets from the environment with several accounts', () => {
  let serverA: KalaServer
  let serverB: KalaServer
  let dir: Awaited<ReturnType<typeof tempDir>>
  let base: Record<string, string>

  beforeAll(async () => {
    serverA = await createKalaServer({ apiKeys: ['key-a'] })
    serverB = await createKalaServer({ apiKeys: ['key-b'] })
    dir = await tempDir()
    base = {
      FERRY_HOME: join(dir.path, 'state'),
      DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent',
    }
    for (const [name, server, key] of [
      ['alpha', serverA, 'key-a'],
      ['beta', serverB, 'key-b'],
    ] as const) {
      const folder = join(dir.path, name)
      await mkdir(folder)
      await writeFile(join(folder, `${name}.txt`), name)
      const add = await runFerry(
        ['account', 'add', '--backend', 'kala', '--server', server.url, '--name', name],
        { ...base, FERRY_SECRET: key },
      )
      expect(add.code, add.stderr).toBe(0)
      const folderAdd = await runFerry(['folder', 'add', folder, '--account', name], base)
      expect(folderAdd.code, folderAdd.stderr).toBe(0)
    }
    serverA.router.log.reset()
    serverB.router.log.reset()
  })

  afterAll(async () => {
    await serverA.close()
    await serverB.close()
    await dir.dispose()
  })

  it('plain FERRY_SECRET is not sent to every server: the other account needs its own', async () => {
    const run = await runFerry(['sync', '--once'], { ...base, FERRY_SECRET: 'key-a' })
    expect(run.code).toBe(3)
    expect(run.stderr).toContain('FERRY_SECRET_BETA')
    // Account beta got no secret at all, so its server saw no request (and never key-a).
    expect(serverB.router.log.all()).toEqual({})
    expect(serverB.files()).toEqual([])
  })

  it('FERRY_SECRET_<ID> gives each account its own secret', async () => {
    const run = await runFerry(['sync', '--once'], {
      ...base,
      FERRY_SECRET_ALPHA: 'key-a',
      FERRY_SECRET_BETA: 'key-b',
    })
    expect(run.code, run.stderr).toBe(0)
    expect(serverA.files().map((f) => f.originalFilename)).toEqual(['alpha.txt'])
    expect(serverB.files().map((f) => f.originalFilename)).toEqual(['beta.txt'])
  })
})
