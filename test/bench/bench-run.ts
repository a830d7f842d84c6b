/** What every benchmark script shares: the demo account's secrets, names, and a scratch folder. */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { BackendKind } from '../../main/backends/backend.ts'
import { SANDBOX } from '../servers/sandbox.ts'
import { killChildren } from './processes.ts'

export const REPO = fileURLToPath(new URL('../..', import.meta.url))
/** The built CLI the benchmarks run (as `npx ferry` would). */
export const CLI = join(REPO, 'out', 'main', 'cli.js')

/** The sandbox's demo secret for each backend. */
export const SECRETS: Readonly<Record<BackendKind, string>> = {
  dstor: SANDBOX.dstor.apiKey,
  kala: SANDBOX.kala.apiKey,
  perkeep: SANDBOX.perkeep.password,
}

/** How each backend is named in reports. */
export const NAMES: Readonly<Record<BackendKind, string>> = {
  dstor: 'dStor',
  kala: 'Kala',
  perkeep: 'Perkeep',
}

/**
 * A scratch folder under `base` (the system temp folder), removed with every child process when the
 * benchmark ends, fails or is interrupted (Ctrl-C exits 130).
 */
export function scratchRoot(prefix: string, base = tmpdir()): string {
  const root = mkdtempSync(join(base, prefix))
  let cleaned = false
  const cleanUp = (): void => {
    if (cleaned) return
    cleaned = true
    killChildren()
    rmSync(root, { recursive: true, force: true })
  }
  process.on('exit', cleanUp)
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      console.error(`\nInterrupted: stopping and removing ${root}`)
      cleanUp()
      process.exit(130)
    })
  }
  return root
}

/** Builds what the benchmarks run; an existing build is used if the build fails. */
export function buildCli(): void {
  const result = spawnSync('npm', ['run', 'build'], { cwd: REPO, encoding: 'utf8' })
  if (result.status === 0) return
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim().split('\n').slice(-15)
  if (!existsSync(CLI)) throw new Error(`npm run build failed:\n${output.join('\n')}`)
  console.log(`warning: npm run build failed; using the existing ${CLI}\n${output.join('\n')}`)
}
