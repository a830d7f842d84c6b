/** Command-line and env options of `npm run bench:push`. */
import { parseArgs } from 'node:util'
import type { BackendKind } from '../../main/backends/backend.ts'

/** Workload A: one big random file; B: many small random files in folders. */
export type WorkloadName = 'A' | 'B'

export interface BenchOptions {
  /** Bytes of the single file of workload A. */
  readonly size: number
  /** Number of 4 KiB files of workload B. */
  readonly files: number
  readonly backends: readonly BackendKind[]
  readonly workloads: readonly WorkloadName[]
  /** Keep a CPU profile of every push here (and print its hottest functions). */
  readonly cpuProfDir?: string
  /** Longest a single measured process may run. */
  readonly timeoutMs: number
  /** Keep the servers' storage on disk, not in memory. */
  readonly serverDisk: boolean
}

export const BENCH_USAGE = `Usage: npm run bench:push -- [--size 1GiB] [--files 10000]
       [--only dstor,kala,perkeep] [--workload A|B|both] [--cpu-prof <dir>] [--timeout-min 30] [--server-disk]
--server-disk keeps what the servers receive on disk (default: /dev/shm when it has room).
--cpu-prof profiles every push and the server host, and prints their hottest functions.
Env equivalents: FERRY_BENCH_SIZE, FERRY_BENCH_FILES, FERRY_BENCH_ONLY, FERRY_BENCH_WORKLOAD,
FERRY_BENCH_CPU_PROF, FERRY_BENCH_TIMEOUT_MIN (flags win).`

const ALL_BACKENDS: readonly BackendKind[] = ['dstor', 'kala', 'perkeep']

/** Parses flags (falling back to env, then defaults); throws with a readable message. */
export function parseBenchOptions(argv: readonly string[], env: NodeJS.ProcessEnv): BenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      size: { type: 'string' },
      files: { type: 'string' },
      only: { type: 'string' },
      workload: { type: 'string' },
      'cpu-prof': { type: 'string' },
      'timeout-min': { type: 'string' },
      'server-disk': { type: 'boolean', default: false },
    },
  })
  const size = parseSize(values.size ?? env['FERRY_BENCH_SIZE'] ?? '1GiB')
  const files = Number(values.files ?? env['FERRY_BENCH_FILES'] ?? '10000')
  if (!Number.isInteger(files) || files < 1) throw new Error('--files must be a positive integer')
  const backends = (values.only ?? env['FERRY_BENCH_ONLY'] ?? ALL_BACKENDS.join(','))
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter(Boolean)
  for (const name of backends) {
    if (!(ALL_BACKENDS as readonly string[]).includes(name)) {
      throw new Error(`--only takes dstor, kala and/or perkeep, not ${name}`)
    }
  }
  const workload = (values.workload ?? env['FERRY_BENCH_WORKLOAD'] ?? 'both').toUpperCase()
  if (workload !== 'A' && workload !== 'B' && workload !== 'BOTH') {
    throw new Error('--workload must be A, B or both')
  }
  const minutes = Number(values['timeout-min'] ?? env['FERRY_BENCH_TIMEOUT_MIN'] ?? '30')
  if (!(minutes > 0)) throw new Error('--timeout-min must be a positive number')
  const cpuProfDir = values['cpu-prof'] ?? env['FERRY_BENCH_CPU_PROF']
  return {
    size,
    files,
    backends: backends as BackendKind[],
    workloads: workload === 'BOTH' ? ['A', 'B'] : [workload],
    ...(cpuProfDir ? { cpuProfDir } : {}),
    timeoutMs: minutes * 60_000,
    serverDisk: values['server-disk'] ?? false,
  }
}

const UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
}

/** `64MiB`, `1GiB`, `500MB`, `1048576` → bytes. */
export function parseSize(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text)
  const unit = UNITS[match?.[2]?.toLowerCase() ?? 'x']
  if (!match || unit === undefined) throw new Error(`Cannot read size "${text}" (try 64MiB, 1GiB)`)
  const bytes = Math.round(Number(match[1]) * unit)
  if (bytes < 1) throw new Error('--size must be at least 1 byte')
  return bytes
}
