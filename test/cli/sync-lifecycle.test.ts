import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ConfSettingsStore } from '../../main/settings/conf-settings-store.ts'
import { EngineLock } from '../../main/sync/engine-lock.ts'
import { SyncIndex } from '../../main/sync/sync-index.ts'
import { createKalaServer, type KalaServer } from '../servers/kala-server.ts'
import { sha256Hex, tempDir } from '../helpers/tree.ts'
import { FERRY_SOURCE, runFerry } from './run-ferry.ts'

/** A `ferry` command left running, with everything it printed so far. */
interface Running {
  readonly child: ChildProcess
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  out(): string
}

function start(args: readonly string[], env: Record<string, string>): Running {
  const child = spawn(process.execPath, [FERRY_SOURCE, ...args], {
    env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  )
  return { child, exited, out: () => out }
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

describe('ferry sync and status: signals, live status, revoked keys (real processes)', () => {
  let server: KalaServer
  let dir: Awaited<ReturnType<typeof tempDir>>
  let env: Record<string, string>
  let folder: string
  let settings: ConfSettingsStore
  const running: Running[] = []

  /** Files of `size` bytes, each with its own content. */
  async function addFiles(names: readonly string[], size: number): Promise<Map<string, string>> {
    const digests = new Map<string, string>()
    for (const name of names) {
      const content = Buffer.alloc(size, `${name} `)
      await writeFile(join(folder, name), content)
      digests.set(name, sha256Hex(content))
    }
    return digests
  }

  const sync = (args: string[] = []): Running => {
    const run = start(['sync', ...args], env)
    running.push(run)
    return run
  }

  beforeEach(async () => {
    server = await createKalaServer({ apiKeys: ['good-key'] })
    dir = await tempDir()
    folder = join(dir.path, 'Docs')
    await mkdir(folder)
    env = {
      FERRY_HOME: join(dir.path, 'state'),
      FERRY_SECRET: 'good-key',
      DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent',
    }
    const add = await runFerry(
      ['account', 'add', '--backend', 'kala', '--server', server.url, '--name', 'k'],
      env,
    )
    expect(add.code, add.stderr).toBe(0)
    expect((await runFerry(['folder', 'add', folder, '--account', 'k'], env)).code).toBe(0)
    settings = new ConfSettingsStore(env['FERRY_HOME'] as string)
  })

  afterEach(async () => {
    for (const run of running.splice(0)) {
      run.child.kill('SIGKILL')
      await run.exited
    }
    await server.close()
    await dir.dispose()
  })

  it('SIGTERM stops `ferry sync` mid-upload: exit 0 within 5 s, index consistent, lock free', async () => {
    // 1 MiB/s for 8 MiB: uploads are in flight when the signal comes.
    const digests = await addFiles(
      Array.from({ length: 8 }, (_, i) => `big-${i}.bin`),
      1024 * 1024,
    )
    settings.update((s) => ({ ...s, bandwidthLimit: 1024 * 1024 }))
    const run = sync()
    const stateDir = env['FERRY_HOME'] as string
    await waitFor(
      () => server.sessions().some((s) => s.writes > 0 && s.state === 'open'),
      'an upload in flight',
    )
    const stopAt = Date.now()
    run.child.kill('SIGTERM')
    const { code, signal } = await run.exited
    expect({ code, signal }, run.out()).toEqual({ code: 0, signal: null })
    expect(Date.now() - stopAt).toBeLessThan(5000)
    expect(run.out()).toContain('[sync] stopping')

    // The lock is free: no owner, no pid file, and another engine may start.
    expect(new EngineLock(stateDir).owner()).toBeUndefined()
    expect(existsSync(join(stateDir, 'sync.pid'))).toBe(false)

    // Consistent: nothing left "uploading", and what is synced is on the server as recorded.
    const index = new SyncIndex(join(stateDir, 'sync.sqlite'), { readonly: true })
    const [folderId] = index.folderIds()
    const rows = [...index.all(folderId as string).values()]
    index.close()
    expect(rows).toHaveLength(8)
    const stored = new Map(server.files().map((f) => [f.uuid, f]))
    const states = rows.map((row) => row.state)
    expect(
      states.every((state) => state === 'synced' || state === 'pending'),
      `${states}`,
    ).toBe(true)
    // Cut short, not finished: at 1 MiB/s the 8 MiB cannot all have gone.
    expect(states).toContain('pending')
    for (const row of rows.filter((r) => r.state === 'synced')) {
      const file = stored.get((row.synced?.remote as { uuid: string }).uuid)
      expect(file?.sha256hex, row.relPath).toBe(digests.get(row.relPath))
    }

    // What was cut short goes out on the next run, each file once.
    settings.update((s) => ({ ...s, bandwidthLimit: 0 }))
    const rest = await runFerry(['sync', '--once'], env)
    expect(rest.code, rest.stderr).toBe(0)
    const names = server
      .files()
      .map((f) => f.originalFilename)
      .sort()
    expect(names).toEqual([...digests.keys()].sort())
  }, 40_000)

  it('`ferry status --watch` shows the running sync live, and exits on SIGINT', async () => {
    await addFiles(
      Array.from({ length: 8 }, (_, i) => `doc-${i}.bin`),
      512 * 1024,
    )
    // About 4 s of uploads at 1 MiB/s: several status updates.
    settings.update((s) => ({ ...s, bandwidthLimit: 1024 * 1024 }))
    const watch = start(['status', '--watch'], env)
    running.push(watch)
    await waitFor(() => watch.out().includes('not syncing'), 'the first status')
    const engine = sync()
    await waitFor(() => server.files().length === 8, 'the uploads', 30_000)
    // Stored, as the view says once the engine reports it (after the last upload frame).
    const lastUploading = (text: string): number =>
      Math.max(-1, ...[...text.matchAll(/^Uploading \d+ files?/gm)].map((m) => m.index))
    await waitFor(
      () => watch.out().lastIndexOf('Everything is stored') > lastUploading(watch.out()),
      'the view to say everything is stored',
    )
    const frames = watch.out()
    // Not running, then uploading, then stored: the view followed the sync as it went.
    const notRunning = frames.indexOf('not syncing')
    const uploading = frames.search(/^Uploading \d+ files?/m)
    expect(notRunning, frames).toBeGreaterThanOrEqual(0)
    expect(uploading, frames).toBeGreaterThan(notRunning)
    expect(frames.lastIndexOf('Everything is stored')).toBeGreaterThan(uploading)
    expect(frames).toMatch(/^ {2}Docs +uploading/m)
    // Live: the files uploaded so far went up from frame to frame while the sync ran.
    const uploaded = [...frames.matchAll(/(\d+) files? uploaded/g)].map((m) => Number(m[1]))
    expect(new Set(uploaded).size, frames).toBeGreaterThanOrEqual(2)
    expect(
      uploaded.every((n, i) => i === 0 || n >= (uploaded[i - 1] as number)),
      `${uploaded}`,
    ).toBe(true)
    expect(uploaded.at(-1)).toBe(8)

    const stopAt = Date.now()
    watch.child.kill('SIGINT')
    expect(await watch.exited).toEqual({ code: 0, signal: null })
    expect(Date.now() - stopAt).toBeLessThan(2000)
    // The sync it watched runs on.
    expect(engine.child.exitCode).toBeNull()
  }, 40_000)

  it('`ferry sync --once` exits 3 when the key is revoked, and syncs once it works again', async () => {
    await addFiles(['first.txt'], 100)
    expect((await runFerry(['sync', '--once'], env)).code).toBe(0)

    server.revokeApiKey('good-key')
    await addFiles(['second.txt'], 100)
    const revoked = await runFerry(['sync', '--once'], env)
    expect(revoked.code, revoked.stderr).toBe(3)
    expect(revoked.stderr).toMatch(/account k: needs-sign-in \(Kala answered 401/)
    expect(server.files().map((f) => f.originalFilename)).toEqual(['first.txt'])
    // The file waits, not failed: a new key fixes it without a retry from the user.
    const index = new SyncIndex(join(env['FERRY_HOME'] as string, 'sync.sqlite'), {
      readonly: true,
    })
    const [folderId] = index.folderIds()
    expect(index.get(folderId as string, 'second.txt')?.state).toBe('pending')
    index.close()

    server.addApiKey('good-key')
    const again = await runFerry(['sync', '--once'], env)
    expect(again.code, again.stderr).toBe(0)
    expect(
      server
        .files()
        .map((f) => f.originalFilename)
        .sort(),
    ).toEqual(['first.txt', 'second.txt'])
  }, 30_000)
})
