import { describe, expect, it } from 'vitest'
import { SyncIndex, type SeenFile } from '../../main/sync/sync-index.ts'

const remote = { uuid: 'u-1' }

/** An index with `a.txt` confirmed at version `v1`. */
function syncedIndex(v1: SeenFile): SyncIndex {
  const index = new SyncIndex(':memory:')
  index.seen('f', v1, 1)
  index.markUploading('f', [index.get('f', v1.relPath)!])
  expect(index.confirmed('f', v1, { sha256: 'a'.repeat(64), remote }, 2)).toBe('synced')
  return index
}

describe('sync index: a content check lands only on the row it checked', () => {
  const v1: SeenFile = { relPath: 'a.txt', size: 10, mtimeMs: 1000, ino: 7 }
  // A touch the scan saw, and hashed: same bytes as v1.
  const touched: SeenFile = { ...v1, mtimeMs: 2000 }
  // An edit the watcher recorded while that hash ran.
  const edited: SeenFile = { ...v1, size: 12, mtimeMs: 3000 }

  it('a newer record (pending, then uploading) is not overwritten by the older check', () => {
    const index = syncedIndex(v1)
    try {
      const checked = index.get('f', 'a.txt')!
      expect(index.seen('f', edited, 3)).toBe(true)
      expect(index.confirmSameContent('f', touched, checked)).toBe(false)
      expect(index.unchangedSince('f', checked)).toBe(false)
      let row = index.get('f', 'a.txt')!
      expect([row.state, row.size, row.mtimeMs]).toEqual(['pending', 12, 3000])

      expect(index.markUploading('f', [row])).toHaveLength(1)
      expect(index.confirmSameContent('f', touched, checked)).toBe(false)
      row = index.get('f', 'a.txt')!
      expect([row.state, row.size, row.mtimeMs]).toEqual(['uploading', 12, 3000])
    } finally {
      index.close()
    }
  })

  it('an unchanged row takes the check: synced for the new mtime, nothing to upload', () => {
    const index = syncedIndex(v1)
    try {
      const checked = index.get('f', 'a.txt')!
      expect(index.unchangedSince('f', checked)).toBe(true)
      expect(index.confirmSameContent('f', touched, checked)).toBe(true)
      const row = index.get('f', 'a.txt')!
      expect([row.state, row.mtimeMs, row.synced?.mtimeMs, row.synced?.sha256]).toEqual([
        'synced',
        2000,
        2000,
        'a'.repeat(64),
      ])
    } finally {
      index.close()
    }
  })
})
