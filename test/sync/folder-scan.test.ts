import { execFileSync } from 'node:child_process'
import { chmod, mkdir, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CancelledError } from '../../main/backends/errors.ts'
import { ExcludeMatcher } from '../../main/sync/excludes.ts'
import { FOLDER_MISSING, scanFolder, type FolderScan } from '../../main/sync/folder-scan.ts'
import { walkAsync, walkSync } from '../../main/sync/scan-walk.ts'
import { tempDir } from '../helpers/tree.ts'

const sorted = (scan: FolderScan) => ({
  files: scan.files.map((f) => f.relPath).sort(),
  special: [...scan.special].sort((a, b) => a.relPath.localeCompare(b.relPath)),
  unreadable: [...scan.unreadable].sort((a, b) => a.relPath.localeCompare(b.relPath)),
  folders: [...scan.folders].sort(),
})

describe('scanFolder (a scan thread with blocking calls; promise-based on this thread as fallback)', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let root: string
  // Patterns and a .ferryignore, so the scan thread must rebuild the same matcher.
  const excludes = new ExcludeMatcher(['*.log', '!keep.log', 'build/'], 'secret/\n')

  beforeAll(async () => {
    dir = await tempDir()
    root = join(dir.path, 'Folder')
    await mkdir(join(root, 'a', 'b'), { recursive: true })
    await mkdir(join(root, 'build'), { recursive: true })
    await mkdir(join(root, 'secret'), { recursive: true })
    await mkdir(join(root, 'locked'), { recursive: true })
    await writeFile(join(root, 'top.txt'), 'top')
    await writeFile(join(root, 'a', 'b', 'deep.txt'), 'deep')
    await writeFile(join(root, 'a', 'noise.log'), 'noise')
    await writeFile(join(root, 'a', 'keep.log'), 'keep')
    await writeFile(join(root, 'build', 'out.bin'), 'out')
    await writeFile(join(root, 'secret', 'hidden.txt'), 'hidden')
    await writeFile(join(root, 'locked', 'inside.txt'), 'inside')
    await writeFile(join(root, '.DS_Store'), 'default exclude')
    await symlink('top.txt', join(root, 'link.txt'))
    execFileSync('mkfifo', [join(root, 'pipe')])
    await chmod(join(root, 'locked'), 0o000)
  })

  afterAll(async () => {
    await chmod(join(root, 'locked'), 0o755)
    await dir.dispose()
  })

  it('finds what the rules leave in, and nothing they leave out', async () => {
    const scan = await scanFolder(root, excludes)
    const files = scan.files.map((f) => f.relPath).sort()
    // Root reads the locked folder anyway; anyone else gets it reported as unreadable.
    const asRoot = process.getuid?.() === 0
    expect(files).toEqual([
      'a/b/deep.txt',
      'a/keep.log',
      ...(asRoot ? ['locked/inside.txt'] : []),
      'top.txt',
    ])
    expect(sorted(scan).special).toEqual([
      { relPath: 'link.txt', kind: 'symlink' },
      { relPath: 'pipe', kind: 'other' },
    ])
    const top = scan.files.find((f) => f.relPath === 'top.txt')
    expect(top).toMatchObject({ size: 3 })
    expect(top?.ino).toBeGreaterThan(0)
    expect(top?.mtimeMs).toBeGreaterThan(0)
  })

  it('gives exactly the same answer on the thread, blocking, and promise-based', async () => {
    const threaded = sorted(await scanFolder(root, excludes))
    expect(sorted(walkSync(root, excludes))).toEqual(threaded)
    expect(sorted(await walkAsync(root, excludes))).toEqual(threaded)
  })

  it('reports a missing folder as missing, not as empty', async () => {
    const scan = await scanFolder(join(dir.path, 'not-plugged-in'), excludes)
    expect(scan.files).toEqual([])
    expect(scan.unreadable).toEqual([{ relPath: '', reason: FOLDER_MISSING }])
  })

  it('stops at once when aborted, even mid-walk of a big tree', async () => {
    const big = join(dir.path, 'Big')
    for (let d = 0; d < 100; d++) {
      await mkdir(join(big, `d${d}`), { recursive: true })
      await Promise.all(
        Array.from({ length: 200 }, (_, i) => writeFile(join(big, `d${d}`, `f${i}`), 'x')),
      )
    }
    const controller = new AbortController()
    const started = performance.now()
    const scanning = scanFolder(big, new ExcludeMatcher(), controller.signal)
    setTimeout(() => controller.abort(), 5)
    await expect(scanning).rejects.toBeInstanceOf(CancelledError)
    expect(performance.now() - started).toBeLessThan(200)
    // Not aborted, the same tree is listed whole.
    expect((await scanFolder(big, new ExcludeMatcher())).files).toHaveLength(20_000)
  })
})
