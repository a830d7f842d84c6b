import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, readFile, readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { readStatus } from '../../main/cli/status.ts'
import { syncIndexPath } from '../../main/cli/sync.ts'
import { ConfSettingsStore } from '../../main/settings/conf-settings-store.ts'
import { addAccount, addFolder } from '../../main/settings/edit-settings.ts'
import { SyncIndex } from '../../main/sync/sync-index.ts'
import { tempDir } from '../helpers/tree.ts'

/**
 * The state folder's files with their mtimes and contents. SQLite's reader files (-shm, and an
 * empty -wal) are left out: any reader of a WAL database may make them; they hold no data.
 */
async function stateOf(dir: string): Promise<string> {
  const wal = join(dir, 'sync.sqlite-wal')
  if (existsSync(wal)) expect((await stat(wal)).size).toBe(0)
  const names = (await readdir(dir)).filter((n) => !/-(shm|wal)$/.test(n)).sort()
  const parts: string[] = []
  for (const name of names) {
    const path = join(dir, name)
    const info = await stat(path)
    const hash = info.isFile()
      ? createHash('sha256')
          .update(await readFile(path))
          .digest('hex')
      : ''
    parts.push(`${name} ${info.mtimeMs} ${hash}`)
  }
  return parts.join('\n')
}

describe('ferry status only reads', () => {
  it('copes with a missing index and never creates or changes one', async () => {
    const dir = await tempDir()
    try {
      const stateDir = join(dir.path, 'state')
      const folder = join(dir.path, 'Docs')
      await mkdir(folder)
      const settings = new ConfSettingsStore(stateDir)
      settings.update((s) =>
        addAccount(s, {
          id: 'acct',
          backend: 'kala',
          server: 'http://127.0.0.1:9',
          auth: 'api-key',
        }),
      )
      settings.update((s) => addFolder(s, { path: folder, accountId: 'acct' }))
      const id = settings.read().folders[0]?.id as string

      // Never synced: no index yet, and status does not make one.
      const fresh = readStatus(stateDir, settings)
      expect(fresh.running).toBe(false)
      expect(fresh.folders.map((f) => [f.state, f.filesRemaining])).toEqual([['idle', 0]])
      expect(existsSync(syncIndexPath(stateDir))).toBe(false)

      // An index as the engine leaves it: read, not changed.
      const index = new SyncIndex(syncIndexPath(stateDir))
      index.seen(id, { relPath: 'a.txt', size: 5, mtimeMs: 1, ino: 1 }, Date.now())
      index.close()
      const before = await stateOf(stateDir)
      const status = readStatus(stateDir, settings)
      expect(status.folders[0]?.filesRemaining).toBe(1)
      expect(status.folders[0]?.bytesRemaining).toBe(5)
      expect(await stateOf(stateDir)).toBe(before)
    } finally {
      await dir.dispose()
    }
  })
})
