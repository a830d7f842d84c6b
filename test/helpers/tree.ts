import { createHash, randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import type { LocalFile } from '../../main/backends/backend.ts'
import { walkFolder } from '../../main/sync/walk.ts'

/** A file of the sample tree: relative path and exact content. */
export interface SampleFile {
  readonly relPath: string
  readonly content: Buffer
}

/** A temp folder removed by `dispose()`. */
export async function tempDir(
  prefix = 'ferry-test-',
): Promise<{ path: string; dispose(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix))
  return { path, dispose: () => rm(path, { recursive: true, force: true }) }
}

/**
 * The tree every backend must carry intact: nested folders, unicode and `&`/`<` names, an empty
 * file, exactly 256 KiB, and (unless `small`) a file over 16 MiB.
 */
export function sampleTree(options: { small?: boolean } = {}): SampleFile[] {
  const files: SampleFile[] = [
    { relPath: 'hello.txt', content: Buffer.from('hello world') },
    { relPath: 'empty.bin', content: Buffer.alloc(0) },
    { relPath: 'exact-256k.bin', content: randomBytes(256 * 1024) },
    { relPath: 'nested/deeper/deepest/note.md', content: Buffer.from('# deep\n') },
    { relPath: 'nested/Ünïcødé — 日本語.txt', content: Buffer.from('unicode name ✓\n') },
    { relPath: 'nested/a & b <c>.txt', content: Buffer.from('ampersand & angle <brackets>\n') },
    { relPath: 'photos/img 001.jpg', content: randomBytes(300_000) },
  ]
  if (!options.small)
    files.push({ relPath: 'big/over-16MiB.bin', content: randomBytes(17 * 1024 * 1024 + 123) })
  return files
}

export async function writeTree(root: string, files: readonly SampleFile[]): Promise<void> {
  for (const file of files) {
    await mkdir(dirname(join(root, file.relPath)), { recursive: true })
    await writeFile(join(root, file.relPath), file.content)
  }
}

/** The folder's files as LocalFiles, as push hands them to a backend. */
export async function localFiles(root: string): Promise<LocalFile[]> {
  return (await walkFolder(root)).files
}

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}
