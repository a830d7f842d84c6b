import { readdir, readFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'

const root = join(import.meta.dirname, '..', '..')

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(join(root, dir), { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && /\.(ts|tsx|js|mjs|cjs|vue)$/.test(entry.name)) {
      out.push(relative(root, join(entry.parentPath, entry.name)))
    }
  }
  return out
}

const importsOf = (source: string): string[] =>
  [
    ...source.matchAll(/(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]/g),
    ...source.matchAll(/import\s*\(\s*['"]([^'"]+)['"]\s*\)/g),
    ...source.matchAll(/require\s*\(\s*['"]([^'"]+)['"]\s*\)/g),
    ...source.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm),
  ].map((m) => m[1] as string)

const mayImportElectron = (file: string): boolean =>
  file === 'main/index.ts' || file.startsWith('main/electron/') || file.startsWith('preload/')

describe('architecture', () => {
  it('only main/index.ts, main/electron/** and preload/** import electron', async () => {
    const offenders: string[] = []
    for (const file of [...(await sourceFiles('main')), ...(await sourceFiles('renderer'))]) {
      if (mayImportElectron(file)) continue
      const text = await readFile(join(root, file), 'utf8')
      if (importsOf(text).some((spec) => spec === 'electron' || spec.startsWith('electron/'))) {
        offenders.push(file)
      }
    }
    expect(offenders).toEqual([])
  })

  it('the protocol layer imports nothing from the engine, the CLI or the app', async () => {
    const offenders: string[] = []
    for (const file of await sourceFiles('main/backends')) {
      const text = await readFile(join(root, file), 'utf8')
      for (const spec of importsOf(text)) {
        if (/\/(sync|cli|electron|ipc|platform)\//.test(spec) || spec.includes('/index.ts')) {
          offenders.push(`${file} → ${spec}`)
        }
      }
    }
    expect(offenders).toEqual([])
  })

  it('the renderer imports only types from the preload contract', async () => {
    const offenders: string[] = []
    for (const file of await sourceFiles('renderer')) {
      const text = await readFile(join(root, file), 'utf8')
      for (const match of text.matchAll(/import\s+(type\s+)?[^'"]*?from\s*['"]([^'"]+)['"]/g)) {
        const spec = match[2] as string
        if (spec.startsWith('.') && spec.includes('preload') && !match[1]) offenders.push(file)
        if (/(^|\/)(main|node:)/.test(spec) || spec.startsWith('node:')) offenders.push(file)
      }
    }
    expect(offenders).toEqual([])
  })

  it('the checker catches an offender (it can fail)', () => {
    expect(importsOf(`import { app } from 'electron'`)).toContain('electron')
    expect(importsOf(`const { app } = require("electron")`)).toContain('electron')
    expect(importsOf(`const e = await import('electron')`)).toContain('electron')
  })
})
