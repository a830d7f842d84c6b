/** CPU time and memory of a running process, read from Linux's /proc (the sync benchmark's probe). */
import { execFileSync } from 'node:child_process'
import { readdir, readFile, readlink } from 'node:fs/promises'

/** One reading of a process. */
export interface ProcSample {
  /** performance.now() when it was read. */
  readonly at: number
  /** User + system CPU seconds so far. */
  readonly cpuSeconds: number
  /** Resident set size now, bytes (VmRSS). */
  readonly rssBytes: number
  /** Peak resident set size so far, bytes (VmHWM). */
  readonly peakRssBytes: number
}

let ticksPerSecond: number | undefined

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on every common Linux). */
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())
    } catch {
      ticksPerSecond = 100
    }
    if (!(ticksPerSecond > 0)) ticksPerSecond = 100
  }
  return ticksPerSecond
}

function kib(status: string, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)
  if (!match) throw new Error(`/proc status has no ${field}`)
  return Number(match[1]) * 1024
}

/** Reads /proc/<pid>/stat and /proc/<pid>/status; rejects once the process is gone. */
export async function sampleProcess(pid: number): Promise<ProcSample> {
  const [stat, status] = await Promise.all([
    readFile(`/proc/${pid}/stat`, 'utf8'),
    readFile(`/proc/${pid}/status`, 'utf8'),
  ])
  const at = performance.now()
  // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const ticks = Number(fields[11]) + Number(fields[12])
  return {
    at,
    cpuSeconds: ticks / clockTicks(),
    rssBytes: kib(status, 'VmRSS'),
    peakRssBytes: kib(status, 'VmHWM'),
  }
}

/** What a process did over a quiet period. */
export interface IdleUsage {
  readonly seconds: number
  /** CPU time over wall time, in % of one core. */
  readonly cpuPercent: number
  readonly meanRssBytes: number
  readonly maxRssBytes: number
  /** VmHWM at the end: the peak since the process started. */
  readonly peakRssBytes: number
}

/** Samples `pid` every second for `seconds` and sums up its CPU use and memory. */
export async function measureIdle(pid: number, seconds: number): Promise<IdleUsage> {
  const first = await sampleProcess(pid)
  const samples: ProcSample[] = [first]
  const end = first.at + seconds * 1000
  while (performance.now() < end) {
    await new Promise((resolve) => setTimeout(resolve, Math.min(1000, end - performance.now())))
    samples.push(await sampleProcess(pid))
  }
  const last = samples[samples.length - 1] as ProcSample
  const wall = (last.at - first.at) / 1000
  const rss = samples.map((s) => s.rssBytes)
  return {
    seconds: wall,
    cpuPercent: (100 * (last.cpuSeconds - first.cpuSeconds)) / wall,
    meanRssBytes: rss.reduce((sum, bytes) => sum + bytes, 0) / rss.length,
    maxRssBytes: Math.max(...rss),
    peakRssBytes: last.peakRssBytes,
  }
}

/** inotify watches the process holds (lines of its inotify descriptors' fdinfo). */
export async function inotifyWatches(pid: number): Promise<number> {
  const fds = await readdir(`/proc/${pid}/fd`)
  let watches = 0
  for (const fd of fds) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')
    if (!target.includes('inotify')) continue
    const info = await readFile(`/proc/${pid}/fdinfo/${fd}`, 'utf8').catch(() => '')
    watches += info.split('\n').filter((line) => line.startsWith('inotify wd:')).length
  }
  return watches
}
