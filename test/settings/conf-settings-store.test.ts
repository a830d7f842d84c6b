import { readFile, writeFile, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ConfSettingsStore } from '../../main/settings/conf-settings-store.ts'
import { DEFAULT_SETTINGS } from '../../main/settings/settings-schema.ts'
import { tempDir } from '../helpers/tree.ts'

describe('ConfSettingsStore', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  beforeEach(async () => {
    dir = await tempDir()
  })
  afterEach(async () => {
    await dir.dispose()
  })

  it('starts from the defaults and writes config.json where electron-store would', async () => {
    const store = new ConfSettingsStore(dir.path)
    expect(store.read()).toEqual(DEFAULT_SETTINGS)
    let seen = 0
    const stop = store.onDidChange(() => seen++)
    store.update((s) => ({ ...s, bandwidthLimit: 1_000_000 }))
    stop()
    expect(seen).toBe(1)
    expect(store.path).toBe(join(dir.path, 'config.json'))
    const file = JSON.parse(await readFile(store.path, 'utf8'))
    expect(file.bandwidthLimit).toBe(1_000_000)
    expect(new ConfSettingsStore(dir.path).read().bandwidthLimit).toBe(1_000_000)
  })

  it('refuses an invalid change and keeps the file as it was', () => {
    const store = new ConfSettingsStore(dir.path)
    expect(() => store.update((s) => ({ ...s, bandwidthLimit: -5 }))).toThrow()
    expect(store.read().bandwidthLimit).toBe(0)
  })

  it('migrates a file from before folders had excludes and a paused flag', async () => {
    await mkdir(dir.path, { recursive: true })
    await writeFile(
      join(dir.path, 'config.json'),
      JSON.stringify({
        accounts: [{ id: 'a', backend: 'kala', server: 'https://k.example', auth: 'api-key' }],
        folders: [{ id: 'folder-1', path: '/home/me/Photos', accountId: 'a' }],
        __internal__: { migrations: { version: '0.9.0' } },
      }),
    )
    const store = new ConfSettingsStore(dir.path)
    expect(store.read().folders).toEqual([
      {
        id: 'folder-1',
        path: '/home/me/Photos',
        accountId: 'a',
        remotePath: '/',
        excludes: [],
        paused: false,
      },
    ])
  })
})
