/**
 * Packages the app for Linux (`dir` target) the way `npm run package:dir` does, against a stand-in
 * Electron (a real one cannot be downloaded in CI), and checks what ships: the built main, preload
 * and renderer inside app.asar, nothing else of the repo, and the native modules and tray icons
 * outside it. Needs `npm run build` first (`npm test` does it).
 */
import { extractFile, getRawHeader } from '@electron/asar'
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readdir, readFile, stat } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { assetsDir } from '../../main/electron/asset-location.ts'
import { TRAY_STATES } from '../assets/make-icons.ts'
import { tempDir } from '../helpers/tree.ts'
import {
  ELECTRON_VERSION,
  FAKE_ELECTRON_SCRIPT,
  writeFakeElectronDist,
} from './fake-electron-dist.ts'

const ROOT = join(import.meta.dirname, '..', '..')
const BUILDER_CLI = join(ROOT, 'node_modules', 'electron-builder', 'cli.js')
const ARCH_DIR = process.arch === 'x64' ? 'linux-unpacked' : `linux-${process.arch}-unpacked`

const packageJson = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
  readonly main: string
  readonly dependencies: Record<string, string>
}

interface AsarEntry {
  readonly kind: 'file' | 'dir' | 'link'
  readonly unpacked: boolean
}

interface HeaderNode {
  readonly files?: Record<string, HeaderNode>
  readonly link?: string
  readonly unpacked?: boolean
}

// Every path in the archive (relative, `/`-separated) with its kind and whether it was unpacked.
function asarEntries(archive: string): Map<string, AsarEntry> {
  const entries = new Map<string, AsarEntry>()
  const visit = (node: HeaderNode, prefix: string): void => {
    for (const [name, child] of Object.entries(node.files ?? {})) {
      const path = prefix ? `${prefix}/${name}` : name
      const kind = child.files ? 'dir' : child.link !== undefined ? 'link' : 'file'
      entries.set(path, { kind, unpacked: child.unpacked === true })
      if (child.files) visit(child, path)
    }
  }
  visit(getRawHeader(archive).header as HeaderNode, '')
  return entries
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(relative(ROOT, join(entry.parentPath, entry.name)))
  }
  return out.sort()
}

describe('Linux package (dir target, stand-in Electron)', () => {
  let work: Awaited<ReturnType<typeof tempDir>>
  let appDir: string
  let asar: string
  let entries: Map<string, AsarEntry>

  beforeAll(async () => {
    if (!existsSync(join(ROOT, packageJson.main))) {
      throw new Error(`${packageJson.main} is missing: run \`npm run build\` first`)
    }
    work = await tempDir('ferry-package-')
    const electronDist = join(work.path, 'electron-dist')
    await writeFakeElectronDist(electronDist)
    const output = join(work.path, 'dist')
    try {
      await promisify(execFile)(
        process.execPath,
        [
          BUILDER_CLI,
          '--linux',
          'dir',
          `--${process.arch}`,
          '--publish',
          'never',
          `-c.electronDist=${electronDist}`,
          `-c.electronVersion=${ELECTRON_VERSION}`,
          // No Electron headers can be downloaded to rebuild against; both native modules are
          // N-API, so they need none (electron-builder.yml says so too).
          '-c.npmRebuild=false',
          `-c.directories.output=${output}`,
        ],
        { cwd: ROOT, maxBuffer: 32 * 1024 * 1024, timeout: 150_000 },
      )
    } catch (error) {
      const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string }
      throw new Error(`electron-builder failed:\n${stdout}\n${stderr}`, { cause: error })
    }
    appDir = join(output, ARCH_DIR)
    asar = join(appDir, 'resources', 'app.asar')
    entries = asarEntries(asar)
  }, 180_000)

  afterAll(async () => {
    await work?.dispose()
  })

  it('is the Electron folder with its executable renamed to ferry', async () => {
    const executable = join(appDir, 'ferry')
    expect(await readFile(executable, 'utf8')).toBe(FAKE_ELECTRON_SCRIPT)
    expect((await stat(executable)).mode & 0o111).not.toBe(0)
    expect(existsSync(join(appDir, 'electron'))).toBe(false)
    expect(existsSync(join(appDir, 'LICENSE.electron.txt'))).toBe(true)
  })

  it('app.asar holds exactly the built main, preload and renderer (icons outside it)', async () => {
    // out/main/assets is the development build's copy of the icons: not packed.
    const built = (await filesUnder(join(ROOT, 'out'))).filter(
      (p) => !p.startsWith('out/main/assets/'),
    )
    const packed = [...entries]
      .filter(([path, entry]) => path.startsWith('out/') && entry.kind === 'file')
      .map(([path]) => path)
      .sort()
    expect(packed).toEqual(built)
    expect(packed).toContain('out/main/index.js')
    expect(packed.filter((p) => p.startsWith('out/preload/')).length).toBeGreaterThan(0)
    expect(packed).toContain('out/renderer/index.html')
    expect([...entries.keys()].filter((p) => p.startsWith('out/main/assets'))).toEqual([])
    expect(packed.filter((p) => p.startsWith('out/renderer/assets/')).length).toBeGreaterThan(0)
    for (const path of ['out/main/index.js', 'out/renderer/index.html']) {
      expect(extractFile(asar, path).equals(await readFile(join(ROOT, path)))).toBe(true)
    }
  })

  it("app.asar's package.json starts the built main", () => {
    const packed = JSON.parse(extractFile(asar, 'package.json').toString('utf8')) as {
      name: string
      main: string
    }
    expect(packed.name).toBe('ferry')
    expect(packed.main).toBe('out/main/index.js')
    expect(entries.get(packed.main)?.kind).toBe('file')
  })

  it('ships no sources, tests or dev tooling, and every runtime dependency', () => {
    const topLevel = [...entries.keys()].filter((p) => !p.includes('/')).sort()
    expect(topLevel).toEqual(['node_modules', 'out', 'package.json'])
    const ownFiles = [...entries.keys()].filter((p) => !p.startsWith('node_modules/'))
    expect(ownFiles.filter((p) => /\.(ts|tsx|mts|cts)$/.test(p))).toEqual([])
    const dev = [
      'electron',
      'electron-builder',
      'electron-vite',
      'vite',
      'vitest',
      'typescript',
      'playwright-core',
      'eslint',
      'prettier',
      '@doyensec/electronegativity',
    ]
    const packages = [...entries.keys()].filter((p) => /(^|\/)node_modules\/[^/]+$/.test(p))
    const devFound = packages.filter((p) =>
      dev.some((name) => p.endsWith(`node_modules/${name}`) || p.includes(`node_modules/${name}/`)),
    )
    expect(devFound).toEqual([])
    for (const dependency of Object.keys(packageJson.dependencies)) {
      expect(entries.get(`node_modules/${dependency}/package.json`)?.kind, dependency).toBe('file')
    }
  })

  it('unpacks the native modules next to the asar, byte for byte', async () => {
    const natives = [
      `node_modules/better-sqlite3/prebuilds/linux-${process.arch}.node`,
      'node_modules/keytar/build/Release/keytar.node',
    ]
    for (const path of natives) {
      expect(entries.get(path), path).toEqual({ kind: 'file', unpacked: true })
      const shipped = await readFile(join(appDir, 'resources', 'app.asar.unpacked', path))
      expect(shipped.equals(await readFile(join(ROOT, path))), path).toBe(true)
    }
    // None may stay packed: Electron cannot dlopen() a binary from inside the archive.
    const packedNatives = [...entries]
      .filter(([path, entry]) => path.endsWith('.node') && !entry.unpacked)
      .map(([path]) => path)
    expect(packedNatives).toEqual([])
  })

  it('ships the tray and app icons outside the asar, where the packaged app looks for them', async () => {
    const assets = join(ROOT, 'main', 'electron', 'assets')
    // The folder main/index.ts hands the tray and the window in a packaged app.
    const used = assetsDir({
      isPackaged: true,
      resourcesPath: join(appDir, 'resources'),
      builtMainDir: join(appDir, 'resources', 'app.asar', 'out', 'main'),
    })
    expect(used).toBe(join(appDir, 'resources'))
    for (const state of TRAY_STATES) {
      for (const name of [
        `tray-${state}.png`,
        `tray-${state}@2x.png`,
        `tray-${state}Template.png`,
        `tray-${state}Template@2x.png`,
      ]) {
        const shipped = await readFile(join(used, 'tray', name))
        expect(shipped.equals(await readFile(join(assets, 'tray', name))), name).toBe(true)
      }
    }
    const icon = await readFile(join(used, 'icon.png'))
    expect(icon.equals(await readFile(join(assets, 'icon.png')))).toBe(true)
  })
})
