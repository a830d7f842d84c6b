/** Command-line and env options of `npm run bench:sync`. */
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import type { BackendKind } from '../../main/backends/backend.ts'

export interface SyncBenchOptions {
  /** Files of the watched tree (initial scan, idle CPU and RSS, latency). */
  readonly files: number
  /** Files per folder of that tree. */
  readonly perFolder: number
  /** Keep the tree here and reuse it in later runs (created when missing or empty). */
  readonly treeDir?: string
  /** 4 KiB files of the initial-sync run. */
  readonly syncFiles: number
  /** Backends the initial sync runs against. */
  readonly backends: readonly BackendKind[]
  /** Single edits timed for the change-to-confirmed latency. */
  readonly edits: number
  /** How long idle CPU and RSS are sampled. */
  readonly idleSeconds: number
  /** Longest any single wait (scan, one edit, one initial sync) may take. */
  readonly timeoutMs: number
}

export const SYNC_BENCH_USAGE = `Usage: npm run bench:sync -- [--files 100000] [--per-folder 100] [--tree <dir>]
       [--sync-files 10000] [--only kala,dstor,perkeep] [--edits 30] [--idle-s 20] [--timeout-min 10]
--tree keeps the watched tree in <dir> and reuses it in later runs (it must then hold exactly
--files files; an empty or missing <dir> is filled). Quick run: --files 20000 --sync-files 2000.
Env equivalents: FERRY_BENCH_SYNC_FILES, FERRY_BENCH_SYNC_TREE, FERRY_BENCH_SYNC_SYNC_FILES,
FERRY_BENCH_SYNC_ONLY, FERRY_BENCH_SYNC_EDITS, FERRY_BENCH_SYNC_IDLE_S (flags win).`

const ALL_BACKENDS: readonly BackendKind[] = ['kala', 'dstor', 'perkeep']

function positiveInteger(text: string, name: string): number {
  const value = Number(text)
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer`)
  return value
}

/** Parses flags (falling back to env, then defaults); throws with a readable message. */
export function parseSyncBenchOptions(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
): SyncBenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      files: { type: 'string' },
      'per-folder': { type: 'string' },
      tree: { type: 'string' },
      'sync-files': { type: 'string' },
      only: { type: 'string' },
      edits: { type: 'string' },
      'idle-s': { type: 'string' },
      'timeout-min': { type: 'string' },
    },
  })
  const files = positiveInteger(values.files ?? env['FERRY_BENCH_SYNC_FILES'] ?? '100000', 'files')
  const perFolder = positiveInteger(values['per-folder'] ?? '100', 'per-folder')
  const syncFiles = positiveInteger(
    values['sync-files'] ?? env['FERRY_BENCH_SYNC_SYNC_FILES'] ?? '10000',
    'sync-files',
  )
  const backends = (values.only ?? env['FERRY_BENCH_SYNC_ONLY'] ?? ALL_BACKENDS.join(','))
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter(Boolean)
  for (const name of backends) {
    if (!(ALL_BACKENDS as readonly string[]).includes(name)) {
      throw new Error(`--only takes kala, dstor and/or perkeep, not ${name}`)
    }
  }
  const edits = positiveInteger(values.edits ?? env['FERRY_BENCH_SYNC_EDITS'] ?? '30', 'edits')
  const idleSeconds = Number(values['idle-s'] ?? env['FERRY_BENCH_SYNC_IDLE_S'] ?? '20')
  if (!(idleSeconds >= 1)) throw new Error('--idle-s must be at least 1')
  const minutes = Number(values['timeout-min'] ?? '10')
  if (!(minutes > 0)) throw new Error('--timeout-min must be a positive number')
  const treeDir = values.tree ?? env['FERRY_BENCH_SYNC_TREE']
  return {
    files,
    perFolder,
    ...(treeDir ? { treeDir: resolve(treeDir) } : {}),
    syncFiles,
    backends: backends as BackendKind[],
    edits,
    idleSeconds,
    timeoutMs: minutes * 60_000,
  }
}
