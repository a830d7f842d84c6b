import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createKalaServer, type KalaServer } from '../servers/kala-server.ts'
import { tempDir } from '../helpers/tree.ts'
import { FERRY_SOURCE, runFerry } from './run-ferry.ts'

interface StatusJson {
  state: string
  message: string
  filesRemaining: number
  folders: { state: string; filesRemaining: number; failed: number }[]
  failed: { relPath: string; reason: string }[]
}

describe('ferry sync and ferry status (real processes, real server)', () => {
  let server: KalaServer
  let dir: Awaited<ReturnType<typeof tempDir>>
  let env: Record<string, string>
  let folder: string

  beforeAll(async () => {
    server = await createKalaServer({ apiKeys: ['good-key'] })
    dir = await tempDir()
    folder = join(dir.path, 'Docs')
    env = {
      FERRY_HOME: join(dir.path, 'state'),
      FERRY_SECRET: 'good-key',
      DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent',
    }
    await mkdir(join(folder, 'sub'), { recursive: true })
    await writeFile(join(folder, 'a.txt'), 'alpha')
    await writeFile(join(folder, 'sub', 'b.txt'), 'beta')
  })

  afterAll(async () => {
    await server.close()
    await dir.dispose()
  })

  const ferry = (args: string[], extra: Record<string, string> = {}) =>
    runFerry(args, { ...env, ...extra })

  it('says what to do when there is nothing to sync', async () => {
    const run = await ferry(['sync', '--once'])
    expect(run.code).toBe(2)
    expect(run.stderr).toContain('ferry folder add')
  })

  it('sync --once uploads every folder and exits; status tells the truth', async () => {
    const add = await ferry([
      'account',
      'add',
      '--backend',
      'kala',
      '--server',
      server.url,
      '--name',
      'k',
    ])
    expect(add.code, add.stderr).toBe(0)
    expect((await ferry(['folder', 'add', folder, '--account', 'k'])).code).toBe(0)

    const before = await ferry(['status', '--json'])
    expect(before.code).toBe(0)
    expect(JSON.parse(before.stdout).running).toBe(false)
    expect((await ferry(['status'])).stdout).toContain('not syncing')

    const run = await ferry(['sync', '--once'])
    expect(run.code, run.stderr).toBe(0)
    expect(
      server
        .files()
        .map((f) => f.originalFilename)
        .sort(),
    ).toEqual(['a.txt', 'b.txt'])

    const after = JSON.parse((await ferry(['status', '--json'])).stdout) as StatusJson
    expect(after.filesRemaining).toBe(0)
    expect(after.folders[0]?.state).toBe('idle')
    const text = await ferry(['status'])
    expect(text.stdout).toContain('Everything is stored')

    // Nothing new: nothing sent.
    expect((await ferry(['sync', '--once'])).code).toBe(0)
    expect(server.files()).toHaveLength(2)
  })

  it('an unreadable file is reported (exit 1), not fatal, and goes out once readable', async () => {
    const locked = join(folder, 'locked.txt')
    await writeFile(locked, 'secret')
    await chmod(locked, 0)
    // Root reads anything: drop that bypass, as a normal user runs Ferry.
    const wrapper =
      process.getuid?.() === 0 ? ['setpriv', '--bounding-set=-dac_override,-dac_read_search'] : []
    const run = await runFerry(['sync', '--once'], env, { wrapper })
    expect(run.code, run.stderr).toBe(1)
    const status = JSON.parse((await ferry(['status', '--json'])).stdout) as StatusJson
    expect(status.failed.map((f) => f.relPath)).toEqual(['locked.txt'])
    expect(status.failed[0]?.reason).toMatch(/permission/i)
    expect((await ferry(['status'])).stdout).toContain('locked.txt')

    await chmod(locked, 0o644)
    const retry = await runFerry(['sync', '--once'], env, { wrapper })
    expect(retry.code, retry.stderr).toBe(0)
    expect(server.files().map((f) => f.originalFilename)).toContain('locked.txt')
  })

  it('sync watches until Ctrl-C, refuses a second engine, and stops cleanly', async () => {
    const child = spawn(process.execPath, [FERRY_SOURCE, 'sync'], {
      env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (out += d.toString()))
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
    try {
      const lock = join(env['FERRY_HOME'] as string, 'sync.pid')
      await waitFor(() => existsSync(lock) && out.includes('idle'))
      const second = await ferry(['sync'])
      expect(second.code).toBe(1)
      expect(second.stderr).toContain('already keeping these folders stored')

      await writeFile(join(folder, 'new.txt'), 'fresh')
      await waitFor(() => server.files().some((f) => f.originalFilename === 'new.txt'))
      await waitFor(() => out.includes('uploaded Docs/new.txt'))
      const live = JSON.parse((await ferry(['status', '--json'])).stdout) as StatusJson
      expect((live as unknown as { running: boolean }).running).toBe(true)

      const stopAt = Date.now()
      child.kill('SIGINT')
      expect(await exited).toBe(0)
      expect(Date.now() - stopAt).toBeLessThan(5000)
      expect(existsSync(lock)).toBe(false)
    } finally {
      child.kill('SIGKILL')
    }
  }, 60_000)
})

async function waitFor(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting')
    await new Promise((r) => setTimeout(r, 25))
  }
}

describe('ferry bandwidth', () => {
  it('reads rates people write, and refuses nonsense', async () => {
    const { parseRate } = await import('../../main/cli/bandwidth.ts')
    expect(parseRate('2MB')).toBe(2_000_000)
    expect(parseRate('500 KiB/s')).toBe(512_000)
    expect(parseRate('1.5m')).toBe(1_500_000)
    expect(parseRate('off')).toBe(0)
    expect(() => parseRate('fast')).toThrow(/rate/)
  })

  it('sets the limit in the settings a running sync reads', async () => {
    const dir = await tempDir()
    try {
      const env = { FERRY_HOME: dir.path }
      const set = await runFerry(['bandwidth', '2MB'], env)
      expect(set.code, set.stderr).toBe(0)
      expect(set.stdout).toContain('limited to')
      const config = JSON.parse(await readFile(join(dir.path, 'config.json'), 'utf8'))
      expect(config.bandwidthLimit).toBe(2_000_000)
      expect((await runFerry(['bandwidth', 'nonsense'], env)).code).toBe(2)
      expect((await runFerry(['bandwidth', 'off'], env)).stdout).toContain('not limited')
    } finally {
      await dir.dispose()
    }
  })
})
