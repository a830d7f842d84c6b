import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { claimSingleInstance, guardQuit } from '../../main/electron/app-lifecycle.ts'
import { AppService } from '../../main/ipc/app-service.ts'
import { ConfSettingsStore } from '../../main/settings/conf-settings-store.ts'
import { EngineLock } from '../../main/sync/engine-lock.ts'
import { MemorySecretStore } from '../helpers/memory-secret-store.ts'
import { tempDir } from '../helpers/tree.ts'
import { createKalaServer } from '../servers/kala-server.ts'
import { app, resetFakeElectron } from './fake-electron.ts'

vi.mock('electron', async () => (await import('./fake-electron.ts')).fakeElectronModule())

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => undefined
  const promise = new Promise<void>((r) => (resolve = r))
  return { promise, resolve }
}

async function waitFor(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 20))
  }
}

describe('single instance (electron mocked)', () => {
  beforeEach(resetFakeElectron)

  it('a second launch quits at once and leaves the first one alone', () => {
    app.singleInstance = false
    let shown = 0
    expect(claimSingleInstance(() => shown++)).toBe(false)
    expect(app.listenerCount('second-instance')).toBe(0)
    expect(shown).toBe(0)
  })

  it('the first instance brings its window forward when launched again', () => {
    let shown = 0
    expect(claimSingleInstance(() => shown++)).toBe(true)
    app.emit('second-instance', {}, ['ferry'], '/home/me')
    app.emit('second-instance', {}, ['ferry'], '/home/me')
    expect(shown).toBe(2)
  })
})

describe('quit waits for in-flight work (electron mocked)', () => {
  const logged: string[] = []
  beforeEach(() => {
    resetFakeElectron()
    logged.length = 0
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('holds the quit back until stop is done, then cleans up and exits', async () => {
    const stopping = deferred()
    const order: string[] = []
    const guard = guardQuit({
      stop: async () => {
        order.push('stop started')
        await stopping.promise
        order.push('stop done')
      },
      cleanUp: () => void order.push('clean up'),
      log: (line) => void logged.push(line),
    })
    expect(guard.quitting).toBe(false)
    expect(app.quit()).toBe(false) // prevented: Electron does not quit on its own
    expect(guard.quitting).toBe(true)
    // A second request while stopping (Cmd+Q twice) is held back too, and stops nothing twice.
    expect(app.quit()).toBe(false)
    await new Promise((r) => setTimeout(r, 50))
    expect(app.exits).toEqual([])
    expect(order).toEqual(['stop started'])

    stopping.resolve()
    await guard.exited
    expect(order).toEqual(['stop started', 'stop done', 'clean up'])
    expect(app.exits).toEqual([0])
    expect(logged.some((l) => /stopped in \d+ ms/.test(l))).toBe(true)
  })

  it('exits anyway when stop hangs, after the bound', async () => {
    vi.useFakeTimers()
    const guard = guardQuit({
      stop: () => new Promise<void>(() => undefined),
      timeoutMs: 5000,
      log: (line) => void logged.push(line),
    })
    app.quit()
    await vi.advanceTimersByTimeAsync(4900)
    expect(app.exits).toEqual([])
    await vi.advanceTimersByTimeAsync(200)
    await guard.exited
    expect(app.exits).toEqual([0])
    expect(logged).toContain('[app] still stopping after 5000 ms: exiting anyway')
  })

  it('a failing stop still lets the app exit', async () => {
    const guard = guardQuit({
      stop: async () => {
        throw new Error('index busy')
      },
      log: (line) => void logged.push(line),
    })
    app.quit()
    await guard.exited
    expect(app.exits).toEqual([0])
    expect(logged.some((l) => l.includes('index busy'))).toBe(true)
  })

  it('with the real app service: an upload in flight finishes, the index and lock are left clean', async () => {
    const server = await createKalaServer({ apiKeys: ['right-key'] })
    const work = await tempDir()
    try {
      const stateDir = join(work.path, 'state')
      const folder = join(work.path, 'Docs')
      await mkdir(folder)
      await writeFile(join(folder, 'big.bin'), Buffer.alloc(2 * 1024 * 1024, 7))
      const make = (): AppService =>
        new AppService({
          settings: new ConfSettingsStore(stateDir),
          secrets,
          stateDir,
          version: 'test',
          chooseFolder: async () => null,
          chooseDiagnosticsFolder: async () => null,
          openPath: async () => undefined,
          setLaunchAtLogin: () => undefined,
          engine: { settleMs: 50 },
        })
      const secrets = new MemorySecretStore()
      const service = make()
      await service.start()
      const account = await service.addAccount({
        backend: 'kala',
        server: server.url,
        auth: 'api-key',
        secret: 'right-key',
      })
      // The server takes its time to confirm the upload: quit comes while it is on the wire.
      server.router.faults.inject('kala.close', { type: 'delay', ms: 1200 })
      service.addFolder({ path: folder, accountId: account.id })
      await waitFor(() => service.queuePage(0, 10).items.some((i) => i.state === 'uploading'))

      let stopped = false
      const guard = guardQuit({
        stop: async () => {
          await service.stop()
          stopped = true
        },
        timeoutMs: 10_000,
      })
      app.quit()
      expect(app.exits).toEqual([])
      await guard.exited
      expect(stopped).toBe(true)
      expect(app.exits).toEqual([0])
      // The upload was let finish, not cut short…
      expect(server.files().map((f) => f.originalFilename)).toEqual(['big.bin'])
      // …the lock is free, and the index knows the file is stored (nothing queued again).
      expect(new EngineLock(stateDir).owner()).toBeUndefined()
      const again = make()
      await again.start()
      try {
        expect(again.queuePage(0, 10).total).toBe(0)
      } finally {
        await again.stop()
      }
      expect(server.router.log.count('kala.close')).toBe(1)
    } finally {
      await server.close()
      await work.dispose()
    }
  })
})
