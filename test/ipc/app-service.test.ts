import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { AccountInput } from '../../preload/contract.ts'
import { AppService } from '../../main/ipc/app-service.ts'
import { createHandlers } from '../../main/ipc/ipc-handlers.ts'
import { dispatch } from '../../main/ipc/ipc-router.ts'
import { ConfSettingsStore } from '../../main/settings/conf-settings-store.ts'
import { createKalaServer, type KalaServer } from '../servers/kala-server.ts'
import { MemorySecretStore } from '../helpers/memory-secret-store.ts'
import { tempDir } from '../helpers/tree.ts'

const RENDERER = 'file:///opt/Ferry/resources/app.asar/out/renderer/index.html'

describe('AppService and the IPC router (real engine, real server)', () => {
  let server: KalaServer
  let work: Awaited<ReturnType<typeof tempDir>>
  let secrets: MemorySecretStore
  let app: AppService
  let chosen: string | null
  const opened: string[] = []
  const launchAtLogin: boolean[] = []

  beforeEach(async () => {
    server = await createKalaServer({ apiKeys: ['right-key'] })
    work = await tempDir()
    secrets = new MemorySecretStore()
    chosen = null
    const stateDir = join(work.path, 'state')
    app = new AppService({
      settings: new ConfSettingsStore(stateDir),
      secrets,
      stateDir,
      version: '0.1.0-test',
      chooseFolder: async () => chosen,
      chooseDiagnosticsFolder: async () => work.path,
      openPath: async (path) => void opened.push(path),
      setLaunchAtLogin: (enabled) => void launchAtLogin.push(enabled),
      engine: { settleMs: 100 },
    })
    await app.start()
  })

  afterEach(async () => {
    await app.stop()
    await server.close()
    await work.dispose()
  })

  const call = (channel: Parameters<typeof dispatch>[0], args: unknown[], url = RENDERER) =>
    dispatch(channel, { senderFrame: { url } }, args, createHandlers(app), {
      isTrustedSender: (frame) => frame === RENDERER,
      redact: (text) => text,
    })

  const kala = (secret: string): AccountInput => ({
    backend: 'kala',
    server: server.url,
    auth: 'api-key',
    secret,
  })

  it('refuses untrusted frames and invalid arguments before any handler runs', async () => {
    expect(await call('app:state', [], 'https://evil.example/')).toEqual({
      ok: false,
      error: { kind: 'forbidden', message: 'This window may not control Ferry' },
    })
    const bad = await call('folder:pause', ['folder-1', 'yes'])
    expect(bad.ok).toBe(false)
    const extra = await call('account:add', [{ ...kala('right-key'), evil: true }])
    expect(extra).toMatchObject({ ok: false, error: { kind: 'invalid' } })
    expect(secrets.entries.size).toBe(0)
  })

  it('onboarding: a wrong key gets a readable verdict, the right one an account and a keychain entry', async () => {
    const wrong = await call('account:test', [kala('wrong-key')])
    expect(wrong).toMatchObject({ ok: true, value: { ok: false } })
    expect((wrong as { value: { message: string } }).value.message).toMatch(/did not accept/)
    expect((await call('account:add', [kala('wrong-key')])).ok).toBe(false)
    expect(secrets.entries.size).toBe(0)

    const added = await call('account:add', [kala('right-key')])
    expect(added).toMatchObject({ ok: true, value: { backend: 'kala', state: 'ok' } })
    expect([...secrets.entries.values()]).toEqual(['right-key'])
    const state = app.appState()
    expect(JSON.stringify(state)).not.toContain('right-key')
    expect(state.accounts).toHaveLength(1)
  })

  it('adds a folder, uploads it, and removing the account clears its keychain entry', async () => {
    const folder = join(work.path, 'Docs')
    await mkdir(folder)
    await writeFile(join(folder, 'hello.txt'), 'hello')
    const account = await app.addAccount(kala('right-key'))
    chosen = folder
    expect(await call('folder:choose', [])).toEqual({ ok: true, value: folder })
    const added = await call('folder:add', [{ path: folder, accountId: account.id }])
    expect(added.ok).toBe(true)
    const deadline = Date.now() + 15_000
    while (server.files().length === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50))
    }
    expect(server.files().map((f) => f.originalFilename)).toEqual(['hello.txt'])
    // The server holds the bytes a moment before the engine records its confirmation.
    let page = await call('queue:page', [0, 50])
    while ((page as { value?: { total: number } }).value?.total !== 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50))
      page = await call('queue:page', [0, 50])
    }
    expect(page).toMatchObject({ ok: true, value: { total: 0 } })

    const folderId = app.appState().folders[0]?.id as string
    expect((await call('folder:open', [folderId])).ok).toBe(true)
    expect(opened).toEqual([folder])
    const preview = await call('folder:preview-excludes', [folderId, ['*.txt']])
    expect(preview).toMatchObject({
      ok: true,
      value: { excludedCount: 1, excluded: ['hello.txt'] },
    })

    expect((await call('preferences:set', [{ launchAtLogin: true }])).ok).toBe(true)
    expect(launchAtLogin).toEqual([true])
    const bundle = await call('diagnostics:export', [])
    expect(bundle.ok).toBe(true)
    const dir = (bundle as { value: string }).value
    const files = await readdir(dir)
    expect(files.sort()).toEqual(['about.txt', 'settings.json', 'status.json'])
    for (const file of files) {
      expect(await readFile(join(dir, file), 'utf8')).not.toContain('right-key')
    }

    expect((await call('account:remove', [account.id])).ok).toBe(true)
    expect(app.appState().accounts).toEqual([])
    expect(app.appState().folders).toEqual([])
    expect(secrets.entries.size).toBe(0)
  })
})
