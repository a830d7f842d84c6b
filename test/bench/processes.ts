/** Child processes of the benchmark: measured runs and the server host, all killable on Ctrl-C. */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFile, rm } from 'node:fs/promises'
import { basename, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'
import type { HostUrls } from './server-host.ts'

const REPORTER = new URL('./rss-reporter.js', import.meta.url).href
const SERVER_HOST = fileURLToPath(new URL('./server-host.ts', import.meta.url))

/** What rss-reporter.js writes when a measured process exits. */
export interface ProcessUsage {
  /** Peak resident set size in KiB (Linux getrusage ru_maxrss). */
  readonly maxRssKiB: number
  readonly userCpuMicros: number
  readonly systemCpuMicros: number
}

const live = new Set<ChildProcess>()

/** Kills every child still running (SIGKILL: used on Ctrl-C and crashes only). */
export function killChildren(): void {
  for (const child of live) child.kill('SIGKILL')
  live.clear()
}

function track(child: ChildProcess): ChildProcess {
  live.add(child)
  child.on('exit', () => live.delete(child))
  return child
}

/** One measured process: wall time from spawn to exit, plus what the reporter wrote. */
export interface Measured {
  readonly seconds: number
  readonly exitCode: number | null
  readonly signal: string | null
  readonly stdout: string
  readonly stderr: string
  readonly usage?: ProcessUsage
  readonly timedOut: boolean
}

/** Runs `node --import rss-reporter <nodeArgs…>` and measures it. */
export async function runMeasured(
  nodeArgs: readonly string[],
  options: { env?: NodeJS.ProcessEnv; usageFile: string; timeoutMs: number },
): Promise<Measured> {
  await rm(options.usageFile, { force: true })
  const started = performance.now()
  const child = track(
    spawn(process.execPath, ['--import', REPORTER, ...nodeArgs], {
      env: { ...process.env, ...options.env, FERRY_BENCH_USAGE_FILE: options.usageFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  )
  const out: Buffer[] = []
  const err: Buffer[] = []
  child.stdout?.on('data', (chunk: Buffer) => out.push(chunk))
  child.stderr?.on('data', (chunk: Buffer) => err.push(chunk))
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    child.kill('SIGINT')
    setTimeout(() => child.kill('SIGKILL'), 10_000).unref()
  }, options.timeoutMs)
  // Wall time stops at exit; 'close' comes after, once stdout/stderr are drained.
  let exitedAt = 0
  child.once('exit', () => (exitedAt = performance.now()))
  const [exitCode, signal] = await new Promise<[number | null, string | null]>((resolve) =>
    child.once('close', (code, sig) => resolve([code, sig])),
  )
  const seconds = (exitedAt - started) / 1000
  clearTimeout(timer)
  const usage = await readFile(options.usageFile, 'utf8')
    .then((text) => JSON.parse(text) as ProcessUsage)
    .catch(() => undefined)
  return {
    seconds,
    exitCode,
    signal,
    stdout: Buffer.concat(out).toString('utf8'),
    stderr: Buffer.concat(err).toString('utf8'),
    ...(usage ? { usage } : {}),
    timedOut,
  }
}

/** A measured process that keeps running until the driver stops it (`ferry sync`). */
export interface LiveProcess {
  readonly pid: number
  /** performance.now() when it was spawned. */
  readonly startedAt: number
  /** Calls `listener` with every line it writes (stdout and stderr) and when it came. */
  onLine(listener: (line: string, at: number) => void): void
  /** Resolves with its exit code and signal once it has exited. */
  readonly exited: Promise<[number | null, string | null]>
  /** SIGTERM (SIGKILL after `graceMs`), then what runMeasured would have reported. */
  stop(graceMs?: number): Promise<Measured>
}

/** Spawns `node --import rss-reporter <nodeArgs…>` and leaves it running. */
export async function startMeasured(
  nodeArgs: readonly string[],
  options: { env?: NodeJS.ProcessEnv; usageFile: string },
): Promise<LiveProcess> {
  await rm(options.usageFile, { force: true })
  const startedAt = performance.now()
  const child = track(
    spawn(process.execPath, ['--import', REPORTER, ...nodeArgs], {
      env: { ...process.env, ...options.env, FERRY_BENCH_USAGE_FILE: options.usageFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  )
  if (child.pid === undefined) throw new Error(`cannot start ${nodeArgs.join(' ')}`)
  const out: string[] = []
  const err: string[] = []
  const listeners: ((line: string, at: number) => void)[] = []
  for (const [stream, kept] of [
    [child.stdout, out],
    [child.stderr, err],
  ] as const) {
    createInterface({ input: stream as NodeJS.ReadableStream }).on('line', (line) => {
      const at = performance.now()
      kept.push(line)
      for (const listener of listeners) listener(line, at)
    })
  }
  let exitedAt = 0
  child.once('exit', () => (exitedAt = performance.now()))
  const exited = new Promise<[number | null, string | null]>((resolve) =>
    child.once('close', (code, sig) => resolve([code, sig])),
  )
  return {
    pid: child.pid,
    startedAt,
    onLine: (listener) => void listeners.push(listener),
    exited,
    stop: async (graceMs = 15_000) => {
      let timedOut = false
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM')
        const timer = setTimeout(() => {
          timedOut = true
          child.kill('SIGKILL')
        }, graceMs)
        await exited
        clearTimeout(timer)
      }
      const [exitCode, signal] = await exited
      const usage = await readFile(options.usageFile, 'utf8')
        .then((text) => JSON.parse(text) as ProcessUsage)
        .catch(() => undefined)
      return {
        seconds: (exitedAt - startedAt) / 1000,
        exitCode,
        signal,
        stdout: out.join('\n'),
        stderr: err.join('\n'),
        ...(usage ? { usage } : {}),
        timedOut,
      }
    },
  }
}

/** The server-host child process, once it listens. */
export interface ServerHost {
  readonly urls: HostUrls
  /** CPU seconds (user + system) the host process has used so far. */
  cpuSeconds(): Promise<number>
  close(): Promise<void>
}

/**
 * Spawns server-host.ts with storage under `dataDir` and waits for its URLs. With `cpuProfile`,
 * the host writes a V8 CPU profile to that path when it is closed.
 */
export async function startServerHost(
  dataDir: string,
  options: { readonly cpuProfile?: string } = {},
): Promise<ServerHost> {
  const profile = options.cpuProfile
    ? [
        '--cpu-prof',
        '--cpu-prof-dir',
        dirname(options.cpuProfile),
        '--cpu-prof-name',
        basename(options.cpuProfile),
      ]
    : []
  const child = track(
    spawn(process.execPath, [...profile, SERVER_HOST, dataDir], {
      stdio: ['pipe', 'pipe', 'inherit'],
    }),
  )
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve)
    child.once('exit', (code) => reject(new Error(`server host exited (${code}) before listening`)))
  })
  const urls = JSON.parse(first) as HostUrls
  return {
    urls,
    cpuSeconds: async () => {
      const usage = (await (await fetch(`${urls.sink}/cpu`)).json()) as {
        user: number
        system: number
      }
      return (usage.user + usage.system) / 1e6
    },
    close: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    },
  }
}
