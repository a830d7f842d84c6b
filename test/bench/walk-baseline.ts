/**
 * The sync benchmark's yardstick for the initial scan, run as a child process of the driver:
 *   walk-baseline.ts <folder>
 * A plain recursive walk of the tree: readdir of each folder, then lstat of all its files at
 * once (fs/promises), folders one after another. Then, for reference, the same walk with the
 * synchronous calls (readdirSync + lstatSync), which shows what the kernel alone costs.
 * Prints `{ files, asyncSeconds, syncSeconds }` as JSON on stdout.
 */
import { lstatSync, readdirSync } from 'node:fs'
import { lstat, readdir } from 'node:fs/promises'
import { join } from 'node:path'

async function walk(folder: string): Promise<number> {
  const entries = await readdir(folder, { withFileTypes: true })
  const files = entries.filter((entry) => !entry.isDirectory())
  await Promise.all(files.map((entry) => lstat(join(folder, entry.name))))
  let count = files.length
  for (const entry of entries)
    if (entry.isDirectory()) count += await walk(join(folder, entry.name))
  return count
}

function walkSync(folder: string): number {
  let count = 0
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name)
    if (entry.isDirectory()) count += walkSync(path)
    else {
      lstatSync(path)
      count++
    }
  }
  return count
}

const folder = process.argv[2]
if (!folder) throw new Error('usage: walk-baseline.ts <folder>')
let started = performance.now()
const files = await walk(folder)
const asyncSeconds = (performance.now() - started) / 1000
started = performance.now()
const again = walkSync(folder)
const syncSeconds = (performance.now() - started) / 1000
if (again !== files) throw new Error(`the tree changed during the walk (${files} → ${again})`)
process.stdout.write(`${JSON.stringify({ files, asyncSeconds, syncSeconds })}\n`)
