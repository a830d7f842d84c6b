import { mkdir, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { Channel, IpcResult } from '../../preload/contract.ts'
import { AppService } from '../../main/ipc/app-service.ts'
import { createHandlers } from '../../main/ipc/ipc-handlers.ts'
import { dispatch } from '../../main/ipc/ipc-router.ts'
import { ConfSettingsStore } from '../../main/settings/conf-settings-store.ts'
import { createKalaServer, type KalaServer } from '../servers/kala-server.ts'
import { MemorySecretStore } from '../helpers/memory-secret-store.ts'
import { tempDir } from '../helpers/tree.ts'

const PAGE = 'file:///opt/Ferry/resources/app.asar/out/renderer/index.html'

/**
 * What the page may name: a compromised renderer must not get Ferry to list or upload a folder
 * the user never picked, and ids that name nothing are errors, never silent successes.
 */
describe('renderer input: folders the user chose, ids that exist (real app service and engine)', () => {
  let server: KalaServer
  let work: Awaited<ReturnType<typeof tempDir>>
  let app: AppService
  let settings: ConfSettingsStore
  let picked: string | null
  let accountId: string
  let docs: string

  beforeEach(async () => {
    server = await createKalaServer({ apiKeys: ['key-1'] })
    work = await tempDir()
    const stateDir = join(work.path, 'state')
    settings = new ConfSettingsStore(stateDir)
    picked = null
    app = new AppService({
      settings,
      secrets: new MemorySecretStore(),
      stateDir,
      version: '0.1.0-test',
      chooseFolder: async () => picked,
      chooseDiagnosticsFolder: async () => null,
      openPath: async () => undefined,
      setLaunchAtLogin: () => undefined,
      engine: { settleMs: 100 },
    })
    await app.start()
    accountId = (
      await app.addAccount({
        backend: 'kala',
        server: server.url,
        auth: 'api-key',
        secret: 'key-1',
      })
    ).id
    docs = join(work.path, 'Docs')
    await mkdir(docs)
    await writeFile(join(docs, 'a.txt'), 'a')
  })

  afterEach(async () => {
    await app.stop()
    await server.close()
    await work.dispose()
  })

  const call = (channel: Channel, ...args: unknown[]): Promise<IpcResult<unknown>> =>
    dispatch(channel, { senderFrame: { url: PAGE } }, args, createHandlers(app), {
      isTrustedSender: (url) => url === PAGE,
      redact: (text) => text,
    })

  it('folder:add refuses a path the user did not pick, and takes the one they did', async () => {
    for (const path of [homedir(), docs, join(work.path, 'Docs', '..', 'Docs')]) {
      expect(await call('folder:add', { path, accountId }), path).toEqual({
        ok: false,
        error: {
          kind: 'invalid',
          message: 'Choose the folder with “Choose folder…” first, then add it.',
        },
      })
    }
    expect(settings.read().folders).toEqual([])

    // Cancelling the picker allows nothing either.
    expect(await call('folder:choose')).toEqual({ ok: true, value: null })
    expect((await call('folder:add', { path: docs, accountId })).ok).toBe(false)

    picked = docs
    expect(await call('folder:choose')).toEqual({ ok: true, value: docs })
    // Picking one folder does not open the door to another.
    expect((await call('folder:add', { path: homedir(), accountId })).ok).toBe(false)
    expect(await call('folder:add', { path: docs, accountId })).toMatchObject({
      ok: true,
      value: { path: docs, accountId },
    })
    expect(settings.read().folders.map((f) => f.path)).toEqual([docs])
  })

  it('folder:preview-excludes walks only a synced folder, named by its id', async () => {
    for (const target of [homedir(), '/', docs]) {
      expect(await call('folder:preview-excludes', target, ['*']), target).toEqual({
        ok: false,
        error: { kind: 'invalid', message: 'That folder is no longer synced.' },
      })
    }
    const folder = app.addFolder({ path: docs, accountId })
    expect(await call('folder:preview-excludes', folder.id, ['*.txt'])).toEqual({
      ok: true,
      value: { scanned: 1, excludedCount: 1, excluded: ['a.txt'] },
    })
  })

  it('every call taking an id says so when the id names nothing, and changes nothing', async () => {
    const folder = app.addFolder({ path: docs, accountId })
    const before = JSON.stringify(settings.read())
    const noFolder = { kind: 'invalid', message: 'That folder is no longer synced.' }
    const noAccount = { kind: 'invalid', message: 'That storage account is no longer connected.' }
    const cases: [Channel, unknown[], object][] = [
      ['folder:set-excludes', ['folder-404', ['*.log']], noFolder],
      ['folder:preview-excludes', ['folder-404', []], noFolder],
      ['folder:pause', ['folder-404', true], noFolder],
      ['folder:remove', ['folder-404'], noFolder],
      ['folder:open', ['folder-404'], noFolder],
      ['queue:retry', ['folder-404'], noFolder],
      ['queue:retry', ['folder-404', 'a.txt'], noFolder],
      ['account:sign-in', ['kala-nowhere', 'key-1'], noAccount],
      ['account:remove', ['kala-nowhere'], noAccount],
    ]
    for (const [channel, args, error] of cases) {
      expect(await call(channel, ...args), `${channel} ${JSON.stringify(args)}`).toEqual({
        ok: false,
        error,
      })
    }
    picked = join(work.path, 'Other')
    await mkdir(picked)
    await call('folder:choose')
    expect(await call('folder:add', { path: picked, accountId: 'kala-nowhere' })).toEqual({
      ok: false,
      error: noAccount,
    })
    expect(await call('queue:retry', folder.id, 'never-existed.txt')).toEqual({
      ok: false,
      error: { kind: 'invalid', message: 'Ferry knows no file never-existed.txt in Docs.' },
    })
    expect(JSON.stringify(settings.read())).toBe(before)

    // The same calls with ids that exist go through.
    expect(await call('folder:set-excludes', folder.id, ['*.log'])).toEqual({
      ok: true,
      value: undefined,
    })
    expect(settings.read().folders[0]?.excludes).toEqual(['*.log'])
  })

  it('a settings rule broken by the page comes back as "invalid" with its reason', async () => {
    app.addFolder({ path: docs, accountId })
    picked = join(docs, 'inner')
    await mkdir(picked)
    await call('folder:choose')
    // ConfigError from the settings rules: the user's mistake, not Ferry failing.
    expect(await call('folder:add', { path: picked, accountId })).toEqual({
      ok: false,
      error: {
        kind: 'invalid',
        message: `${picked} overlaps ${docs}, which is already synced`,
      },
    })
  })
})
