import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { rendererLocation } from '../../main/electron/renderer-location.ts'
import { registeringHandlers } from '../../main/electron/secret-registration.ts'
import { AppService } from '../../main/ipc/app-service.ts'
import { createHandlers } from '../../main/ipc/ipc-handlers.ts'
import { registerIpc, type IpcMainLike, type InvokeEventLike } from '../../main/ipc/ipc-router.ts'
import { SecretRedactor } from '../../main/platform/log-file.ts'
import { ConfSettingsStore } from '../../main/settings/conf-settings-store.ts'
import { MemorySecretStore } from '../helpers/memory-secret-store.ts'
import { createKalaServer } from '../servers/kala-server.ts'
import { tempDir } from '../helpers/tree.ts'

type Listener = (event: InvokeEventLike, ...args: unknown[]) => Promise<unknown>

/** ipcMain as far as the router uses it: the test plays the renderer by calling the listeners. */
class FakeIpcMain implements IpcMainLike {
  readonly listeners = new Map<string, Listener>()
  handle(channel: string, listener: Listener): void {
    if (this.listeners.has(channel)) throw new Error(`second handler for ${channel}`)
    this.listeners.set(channel, listener)
  }
  removeHandler(channel: string): void {
    this.listeners.delete(channel)
  }
  invoke(url: string | null, channel: string, ...args: unknown[]): Promise<unknown> {
    const listener = this.listeners.get(channel)
    if (!listener) throw new Error(`no handler for ${channel}`)
    return listener({ senderFrame: url === null ? null : { url } }, ...args)
  }
}

const RENDERER_DIR = '/opt/Ferry/resources/app.asar/out/renderer'
const PAGE = `file://${RENDERER_DIR}/index.html`

describe('the renderer location decides who may call main', () => {
  it('production: only the built index.html, whatever its route', () => {
    const where = rendererLocation({ rendererDir: RENDERER_DIR, isPackaged: true })
    expect(where.url).toBe(PAGE)
    expect(where.isTrusted(PAGE)).toBe(true)
    expect(where.isTrusted(`${PAGE}#/settings`)).toBe(true)
    for (const url of [
      'https://evil.example/',
      'file:///tmp/evil.html',
      `file://${RENDERER_DIR}/other.html`,
      `file://${RENDERER_DIR}/index.html/../../evil.html`,
      'file://remote-host/opt/Ferry/resources/app.asar/out/renderer/index.html',
      'http://localhost:5173/',
      'about:blank',
      'devtools://devtools/bundled/inspector.html',
      '',
      'not a url',
    ]) {
      expect(where.isTrusted(url), url).toBe(false)
    }
    expect(where.mayRequest('https://example.com/track.gif')).toBe(false)
  })

  it('a packaged app ignores ELECTRON_RENDERER_URL; development trusts the loopback dev server only', () => {
    const packaged = rendererLocation({
      rendererDir: RENDERER_DIR,
      devUrl: 'http://localhost:5173/',
      isPackaged: true,
    })
    expect(packaged.url).toBe(PAGE)
    expect(packaged.isTrusted('http://localhost:5173/')).toBe(false)

    const dev = rendererLocation({
      rendererDir: RENDERER_DIR,
      devUrl: 'http://localhost:5173/',
      isPackaged: false,
    })
    expect(dev.url).toBe('http://localhost:5173/')
    expect(dev.isTrusted('http://localhost:5173/#/home')).toBe(true)
    expect(dev.isTrusted('http://localhost:5174/')).toBe(false)
    expect(dev.isTrusted(PAGE)).toBe(false)
    expect(dev.mayRequest('ws://localhost:5173/')).toBe(true)
    expect(dev.mayRequest('https://example.com/')).toBe(false)
    expect(dev.csp).toContain('connect-src')

    const remote = rendererLocation({
      rendererDir: RENDERER_DIR,
      devUrl: 'https://evil.example/',
      isPackaged: false,
    })
    expect(remote.url).toBe(PAGE)
  })

  it("the CSP matches the page's own meta tag in production", async () => {
    const html = await readFile(
      join(import.meta.dirname, '..', '..', 'renderer', 'index.html'),
      'utf8',
    )
    const meta = /http-equiv="Content-Security-Policy"\s+content="([^"]+)"/.exec(html)?.[1]
    const where = rendererLocation({ rendererDir: RENDERER_DIR, isPackaged: true })
    const directives = (policy: string): Map<string, string> =>
      new Map(
        policy
          .split(';')
          .map((d) => d.trim().split(/\s+/))
          .filter((d) => d[0])
          .map(([name, ...values]) => [name as string, values.join(' ')]),
      )
    const header = directives(where.csp)
    // Every directive of the page's meta tag is in the header, at least as strict.
    for (const [name, value] of directives(meta ?? '')) {
      expect(header.get(name), name).toBe(value)
    }
  })
})

describe('IPC through registerIpc (fake ipcMain, real router, handlers and app service)', () => {
  let work: Awaited<ReturnType<typeof tempDir>>
  let ipc: FakeIpcMain
  let app: AppService
  let settings: ConfSettingsStore
  let chooseCalls: number
  let redactor: SecretRedactor
  let unregister: () => void
  const logged: string[] = []
  const where = rendererLocation({ rendererDir: RENDERER_DIR, isPackaged: true })

  beforeEach(async () => {
    work = await tempDir()
    chooseCalls = 0
    logged.length = 0
    const stateDir = join(work.path, 'state')
    settings = new ConfSettingsStore(stateDir)
    app = new AppService({
      settings,
      secrets: new MemorySecretStore(),
      stateDir,
      version: '0.1.0-test',
      chooseFolder: async () => {
        chooseCalls++
        return '/home/me/Photos'
      },
      chooseDiagnosticsFolder: async () => null,
      openPath: async () => undefined,
      setLaunchAtLogin: () => undefined,
    })
    ipc = new FakeIpcMain()
    redactor = new SecretRedactor()
    unregister = registerIpc(ipc, registeringHandlers(createHandlers(app), redactor), {
      isTrustedSender: where.isTrusted,
      redact: (text) => redactor.redact(text),
      log: (line) => void logged.push(line),
    })
  })

  afterEach(async () => {
    unregister()
    await work.dispose()
  })

  it('a good call from the app page reaches its handler', async () => {
    expect(await ipc.invoke(PAGE, 'folder:choose')).toEqual({ ok: true, value: '/home/me/Photos' })
    expect(chooseCalls).toBe(1)
    expect(await ipc.invoke(`${PAGE}#/settings`, 'sync:pause-all', true)).toEqual({
      ok: true,
      value: undefined,
    })
    expect(settings.read().paused).toBe(true)
    expect(await ipc.invoke(PAGE, 'app:state')).toMatchObject({
      ok: true,
      value: { version: '0.1.0-test', paused: true, sandboxAvailable: false },
    })
  })

  it('refuses calls from any other frame before the handler runs', async () => {
    for (const url of ['https://evil.example/', 'file:///tmp/evil.html', null]) {
      expect(await ipc.invoke(url, 'folder:choose')).toEqual({
        ok: false,
        error: { kind: 'forbidden', message: 'This window may not control Ferry' },
      })
      expect(await ipc.invoke(url, 'sync:pause-all', true)).toMatchObject({ ok: false })
    }
    expect(chooseCalls).toBe(0)
    expect(settings.read().paused).toBe(false)
    expect(logged.filter((l) => l.includes('untrusted'))).toHaveLength(6)
  })

  it('refuses bad arguments before the handler runs', async () => {
    const bad: [string, ...unknown[]][] = [
      ['sync:pause-all', 'yes'],
      ['sync:pause-all'],
      ['sync:pause-all', true, 'extra'],
      ['folder:pause', 42, true],
      ['queue:page', -1, 'ten'],
      ['preferences:set', { launchAtLogin: 'on' }],
      ['preferences:set', { bandwidthLimit: -5 }],
      ['folder:choose', 'unexpected'],
      ['account:add', { backend: 'ftp', server: 'x', auth: 'api-key', secret: 's' }],
    ]
    for (const [channel, ...args] of bad) {
      expect(
        await ipc.invoke(PAGE, channel, ...args),
        `${channel} ${JSON.stringify(args)}`,
      ).toMatchObject({
        ok: false,
        error: { kind: 'invalid' },
      })
    }
    expect(chooseCalls).toBe(0)
    expect(settings.read()).toMatchObject({
      paused: false,
      bandwidthLimit: 0,
      launchAtLogin: false,
    })
  })

  it('a secret typed into a form is registered for redaction before anything runs with it', async () => {
    const server = await createKalaServer({ apiKeys: ['the-right-key'] })
    const secret = 'typed-wrong-key-1234'
    const verdict = await ipc
      .invoke(PAGE, 'account:test', {
        backend: 'kala',
        server: server.url,
        auth: 'api-key',
        secret,
      })
      .finally(() => server.close())
    expect(verdict).toMatchObject({ ok: true, value: { ok: false } })
    expect(redactor.redact(`key was ${secret}`)).toBe('key was [redacted]')
    expect(logged.join('\n')).not.toContain(secret)
  })

  it('a server that echoes the key: the error and the verdict reach the page redacted', async () => {
    const secret = 'echoed-key-5678-abcd'
    const server = await createKalaServer({ apiKeys: [secret] })
    // Some servers repeat the request in their error; the key comes back inside the message.
    server.router.faults.inject(
      'kala.file',
      {
        type: 'status',
        status: 400,
        body: JSON.stringify({ message: `no such file for ${secret}` }),
      },
      { times: 10 },
    )
    const input = { backend: 'kala', server: server.url, auth: 'api-key', secret }
    try {
      const added = await ipc.invoke(PAGE, 'account:add', input)
      expect(added).toMatchObject({ ok: false, error: { kind: 'auth' } })
      expect((added as { error: { message: string } }).error.message).toContain(
        '“no such file for [redacted]”',
      )
      expect(JSON.stringify(added)).not.toContain(secret)

      const tested = await ipc.invoke(PAGE, 'account:test', input)
      expect(tested).toMatchObject({ ok: true, value: { ok: false } })
      expect((tested as { value: { message: string } }).value.message).toContain('[redacted]')
      expect(JSON.stringify(tested)).not.toContain(secret)
    } finally {
      await server.close()
    }
  })

  it('a value out of range is refused in words that say what is wrong with it', async () => {
    const tooHigh = await ipc.invoke(PAGE, 'preferences:set', { bandwidthLimit: 2e12 })
    expect(tooHigh).toEqual({
      ok: false,
      error: {
        kind: 'invalid',
        message:
          'The upload limit is too high: enter at most 1,000,000 MB/s, or leave it empty for no limit.',
      },
    })
    const negative = await ipc.invoke(PAGE, 'preferences:set', { bandwidthLimit: -1 })
    expect(negative).toMatchObject({ error: { message: /cannot be below 0/ } })
    // Nothing a person typed: a general message, the details in the log only.
    const odd = await ipc.invoke(PAGE, 'folder:pause', 42, true)
    expect((odd as { error: { message: string } }).error.message).not.toMatch(/folder:pause/)
    expect(logged.join('\n')).toMatch(/refused folder:pause: invalid arguments/)
    expect(settings.read().bandwidthLimit).toBe(0)
  })

  it('unregistering removes every handler', () => {
    expect(ipc.listeners.size).toBeGreaterThan(10)
    unregister()
    expect(ipc.listeners.size).toBe(0)
    unregister = () => undefined
  })
})
