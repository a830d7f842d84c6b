import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import ignore from 'ignore'
import { describe, expect, it } from 'vitest'
import { DEFAULT_EXCLUDES, ExcludeMatcher } from '../../main/sync/excludes.ts'
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
      'notes/#draft.org#',
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

  it('answers exactly as the ignore package does for every path, by-name shortcut or not', () => {
    const names = ['a.log', 'keep.log', 'b.txt', 'build', 'x.tmp', '#auto#', 'Thumbs.db', 'c~']
    const folders = ['', 'build', 'src', 'src/build', 'logs', 'src/logs/deep', 'node_modules/x']
    const ruleSets: string[][] = [
      [],
      ['*.log', '!keep.log'],
      ['build/', 'logs/'],
      ['*.log', 'build', '!*.tmp'],
      ['/b.txt', 'src/**/deep/'],
      ['node_modules/', '!c~', 'b.*'],
    ]
    let compared = 0
    for (const rules of ruleSets) {
      const matcher = new ExcludeMatcher(rules)
      const reference = ignore({ allowRelativePaths: false }).add([...DEFAULT_EXCLUDES, ...rules])
      for (const folder of folders) {
        for (const name of names) {
          const path = folder ? `${folder}/${name}` : name
          // Twice: the second answer may come from the by-name memory.
          for (let round = 0; round < 2; round++) {
            expect(matcher.excludes(path), `${path} with ${rules.join(' ')}`).toBe(
              reference.ignores(path),
            )
            compared++
          }
        }
        if (folder) expect(matcher.excludes(folder, true)).toBe(reference.ignores(`${folder}/`))
      }
    }
    expect(compared).toBe(ruleSets.length * folders.length * names.length * 2)
  })
})
