import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { ElectronSettingsStore as Store } from '../../main/electron/electron-settings-store.ts'
import { ConfSettingsStore } from '../../main/settings/conf-settings-store.ts'
import { findFolder, setFolderPaused } from '../../main/settings/edit-settings.ts'
import type { Settings } from '../../main/settings/settings-schema.ts'
import { tempDir } from '../helpers/tree.ts'

// electron-store imports `electron` from node_modules, where vi.mock does not reach. Outside
// Electron that package only resolves the binary's path: pointing it at a folder (that need not
// exist) keeps it from trying to download one. electron-store then runs for real, on the
// absolute `cwd` it is given, exactly as it does in the app.
process.env['ELECTRON_OVERRIDE_DIST_PATH'] ??= '/nonexistent-electron-dist'

let ElectronSettingsStore: typeof Store
beforeAll(async () => {
  ;({ ElectronSettingsStore } = await import('../../main/electron/electron-settings-store.ts'))
})

async function waitFor(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 25))
  }
}

const ACCOUNT = { id: 'kala-a', backend: 'kala', server: 'https://k.example', auth: 'api-key' }

describe('ElectronSettingsStore', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let app: Store | undefined
  beforeEach(async () => {
    dir = await tempDir()
  })
  afterEach(async () => {
    app?.close()
    app = undefined
    await dir.dispose()
  })

  it('opens the very file the CLI uses, with the same schema', async () => {
    app = new ElectronSettingsStore(dir.path)
    const cli = new ConfSettingsStore(dir.path)
    expect(app.path).toBe(join(dir.path, 'config.json'))
    expect(app.path).toBe(cli.path)

    app.update((s) => ({ ...s, bandwidthLimit: 500_000, notifications: false }))
    expect(cli.read()).toMatchObject({ bandwidthLimit: 500_000, notifications: false })
    const file = JSON.parse(await readFile(app.path, 'utf8')) as Record<string, unknown>
    expect(file['bandwidthLimit']).toBe(500_000)
    // One version stamp for both (conf's migrations key), so neither migrates the other's file.
    expect(file['__internal__']).toEqual({ migrations: { version: '1.0.0' } })

    expect(() => app?.update((s) => ({ ...s, bandwidthLimit: -1 }))).toThrow()
    expect(cli.read().bandwidthLimit).toBe(500_000)
  })

  it('migrates an old file the same way the CLI does', async () => {
    await mkdir(dir.path, { recursive: true })
    await writeFile(
      join(dir.path, 'config.json'),
      JSON.stringify({
        accounts: [ACCOUNT],
        folders: [{ id: 'folder-1', path: '/home/me/Photos', accountId: 'kala-a' }],
        __internal__: { migrations: { version: '0.9.0' } },
      }),
    )
    app = new ElectronSettingsStore(dir.path)
    expect(app.read().folders).toEqual([
      {
        id: 'folder-1',
        path: '/home/me/Photos',
        accountId: 'kala-a',
        remotePath: '/',
        excludes: [],
        paused: false,
      },
    ])
  })

  it('sees `ferry folder pause` from the CLI while the app runs', async () => {
    const cli = new ConfSettingsStore(dir.path)
    cli.update((s) => ({
      ...s,
      accounts: [ACCOUNT as Settings['accounts'][number]],
      folders: [
        {
          id: 'folder-1',
          path: '/home/me/Photos',
          accountId: 'kala-a',
          remotePath: '/',
          excludes: [],
          paused: false,
        },
      ],
    }))
    app = new ElectronSettingsStore(dir.path)
    const seen: Settings[] = []
    app.onDidChange((s) => void seen.push(s))

    // What `ferry folder pause /home/me/Photos` does, from another process's store.
    cli.update((s) => setFolderPaused(s, '/home/me/Photos', true))
    await waitFor(() => seen.some((s) => s.folders[0]?.paused === true))
    expect(findFolder(app.read(), 'folder-1').paused).toBe(true)
  })
})
