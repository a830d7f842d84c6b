import { chmod, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/** The Electron version the app is built against (package.json devDependencies). */
export const ELECTRON_VERSION = '45.4.1'

/** The stand-in `electron` executable's content, so a test can recognise it after renaming. */
export const FAKE_ELECTRON_SCRIPT =
  '#!/bin/sh\necho "stand-in Electron, not runnable" >&2\nexit 1\n'

/**
 * Writes a stand-in for an unpacked Linux Electron release into `dir`: what electron-builder copies,
 * renames and cleans up (the `electron` executable, licenses, `version`, `resources/`, locales,
 * paks), with no real binaries, since a real Electron cannot be downloaded in CI.
 */
export async function writeFakeElectronDist(
  dir: string,
  version = ELECTRON_VERSION,
): Promise<void> {
  await mkdir(join(dir, 'resources'), { recursive: true })
  await mkdir(join(dir, 'locales'), { recursive: true })
  await writeFile(join(dir, 'electron'), FAKE_ELECTRON_SCRIPT)
  await chmod(join(dir, 'electron'), 0o755)
  await writeFile(join(dir, 'version'), `${version}\n`)
  await writeFile(join(dir, 'LICENSE'), 'Stand-in for the Electron license.\n')
  await writeFile(join(dir, 'LICENSES.chromium.html'), '<!doctype html><title>Chromium</title>\n')
  for (const locale of ['en-US', 'de', 'fr']) {
    await writeFile(join(dir, 'locales', `${locale}.pak`), locale)
  }
  for (const name of [
    'chrome_100_percent.pak',
    'chrome_200_percent.pak',
    'resources.pak',
    'icudtl.dat',
    'snapshot_blob.bin',
    'v8_context_snapshot.bin',
    'libffmpeg.so',
    'chrome-sandbox',
  ]) {
    await writeFile(join(dir, name), '')
  }
}
