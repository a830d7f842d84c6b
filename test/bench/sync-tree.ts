/** The sync benchmark's watched tree: many tiny files in folders, made once and reusable. */
import { readdirSync } from 'node:fs'
import { mkdir, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/** Regular files under `folder` (0 when it does not exist). */
export function countFiles(folder: string): number {
  let entries
  try {
    entries = readdirSync(folder, { withFileTypes: true })
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return 0
    throw error
  }
  let count = 0
  for (const entry of entries) {
    if (entry.isDirectory()) count += countFiles(join(folder, entry.name))
    else if (entry.isFile()) count++
  }
  return count
}

/**
 * Makes `files` tiny files (a few bytes each) in folders of `perFolder`, unless `folder`
 * already holds exactly that many files (a tree kept from an earlier run). A folder holding
 * anything else is left alone: the benchmark refuses it rather than touch someone's files.
 * Returns whether the tree was written now.
 */
export async function prepareTree(
  folder: string,
  files: number,
  perFolder: number,
): Promise<boolean> {
  const existing = countFiles(folder)
  if (existing === files) return false
  const empty = await readdir(folder).then(
    (names) => names.length === 0,
    () => true,
  )
  if (!empty) {
    throw new Error(
      `${folder} holds ${existing} files, not ${files}: give --tree an empty or missing folder`,
    )
  }
  const folders = Math.ceil(files / perFolder)
  const width = String(folders - 1).length
  for (let d = 0; d < folders; d++) {
    const dir = join(folder, `d${String(d).padStart(width, '0')}`)
    await mkdir(dir, { recursive: true })
    const inThis = Math.min(perFolder, files - d * perFolder)
    await Promise.all(
      Array.from({ length: inThis }, (_, i) =>
        writeFile(join(dir, `f${String(i).padStart(3, '0')}.txt`), `${d}/${i}\n`),
      ),
    )
  }
  return true
}
