import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ExcludeMatcher } from '../../main/sync/excludes.ts'
import { tempDir } from '../helpers/tree.ts'

describe('ExcludeMatcher', () => {
  it('leaves out OS, editor and partial-download files by default', () => {
    const m = new ExcludeMatcher()
    for (const path of [
      '.DS_Store',
      'sub/.DS_Store',
      'Thumbs.db',
      'doc/._report.pdf',
      'notes.txt.swp',
      'draft.md~',
      'letters/~$letter.docx',
      '.~lock.budget.ods#',
      'movie.mkv.part',
      'Downloads/setup.exe.crdownload',
      'cache.tmp',
    ]) {
      expect(m.excludes(path), path).toBe(true)
    }
    expect(m.excludes('.Spotlight-V100', true)).toBe(true)
    expect(m.excludes('photos/img.jpg')).toBe(false)
    expect(m.excludes('report.pdf')).toBe(false)
    expect(m.excludes('.ferryignore')).toBe(false)
  })

  it('applies user patterns in .gitignore syntax, negation included', () => {
    const m = new ExcludeMatcher(['build/', '*.log', '!important.log', '/top-only.txt'])
    expect(m.excludes('build', true)).toBe(true)
    expect(m.excludes('app/build', true)).toBe(true)
    expect(m.excludes('x/debug.log')).toBe(true)
    expect(m.excludes('x/important.log')).toBe(false)
    expect(m.excludes('top-only.txt')).toBe(true)
    expect(m.excludes('deep/top-only.txt')).toBe(false)
    // A default can be overridden.
    expect(new ExcludeMatcher(['!*.tmp']).excludes('keep.tmp')).toBe(false)
  })

  it('reads the folder’s .ferryignore after its settings’ patterns', async () => {
    const dir = await tempDir()
    try {
      await writeFile(
        join(dir.path, '.ferryignore'),
        '# raw footage stays local\n*.mov\n!final.mov\n',
      )
      const m = await ExcludeMatcher.forFolder(dir.path, ['*.mp4'])
      expect(m.excludes('clips/a.mov')).toBe(true)
      expect(m.excludes('clips/final.mov')).toBe(false)
      expect(m.excludes('b.mp4')).toBe(true)
      const none = await ExcludeMatcher.forFolder(join(dir.path, 'nowhere'))
      expect(none.excludes('clips/a.mov')).toBe(false)
    } finally {
      await dir.dispose()
    }
  })
})
