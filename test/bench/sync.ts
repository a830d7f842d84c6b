/**
 * `npm run bench:sync`: the sync engine — the built `ferry sync`, in its own process, so its CPU
 * and RSS are its own — on a big watched tree: initial scan next to a plain walk of the same
 * tree, idle CPU and RSS while watching, change-to-confirmed latency of single edits, the rescan
 * on a restart; then the files/s of an initial sync of many small files to each reference server
 * (one more process). Prints figures only; exits 0 unless it crashes. Options: SYNC_BENCH_USAGE.
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { lstat, mkdir, writeFile } from 'node:fs/promises'
import { cpus, loadavg, totalmem } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DEFAULT_AUTH } from '../../main/backends/account.ts'
import type { BackendKind } from '../../main/backends/backend.ts'
import { ConfSettingsStore } from '../../main/settings/conf-settings-store.ts'
import { addAccount, addFolder, setFolderPaused } from '../../main/settings/edit-settings.ts'
import { SANDBOX } from '../servers/sandbox.ts'
import { buildCli, CLI, NAMES, scratchRoot, SECRETS } from './bench-run.ts'
import { IndexProbe } from './index-probe.ts'
import {
  runMeasured,
  startMeasured,
  startServerHost,
  type LiveProcess,
  type ServerHost,
} from './processes.ts'
import { inotifyWatches, measureIdle, sampleProcess, type IdleUsage } from './proc-stats.ts'
import { parseSyncBenchOptions, SYNC_BENCH_USAGE, type SyncBenchOptions } from './sync-options.ts'
import {
  mb,
  ms,
  percentile,
  sec,
  SYNC_BARS,
  syncMarkdownTable,
  syncTextTable,
  syncVerdicts,
  type Figure,
  type Section,
} from './sync-report.ts'
import { countFiles, prepareTree } from './sync-tree.ts'
import { createSmallFiles } from './workloads.ts'

const WALK = fileURLToPath(new URL('./walk-baseline.ts', import.meta.url))
/** FolderWatcher's default settle time, which `ferry sync` runs with: excluded from latency. */
const SETTLE_MS = 1000
/** Quiet time after the scan before idle sampling starts (status writes, timers winding down). */
const QUIET_MS = 3000

let options: SyncBenchOptions
try {
  options = parseSyncBenchOptions(process.argv.slice(2), process.env)
} catch (error) {
  console.error(`${(error as Error).message}\n\n${SYNC_BENCH_USAGE}`)
  process.exit(2)
}

const root = scratchRoot('ferry-bench-sync-')

const sleep = (millis: number): Promise<void> => new Promise((r) => setTimeout(r, millis))

/** Writes FERRY_HOME/config.json: one account on `backend`, the folders; returns their ids. */
function writeSettings(
  home: string,
  backend: BackendKind,
  server: string,
  folders: readonly { path: string; paused: boolean }[],
): string[] {
  const store = new ConfSettingsStore(home)
  try {
    const settings = store.update((current) => {
      let next = addAccount(current, {
        id: 'bench',
        backend,
        server,
        auth: DEFAULT_AUTH[backend],
        ...(backend === 'perkeep' ? { user: SANDBOX.perkeep.user } : {}),
        allowInsecureHttp: true,
      })
      for (const folder of folders) {
        next = addFolder(next, { path: folder.path, accountId: 'bench' })
        if (folder.paused) next = setFolderPaused(next, folder.path, true)
      }
      return next
    })
    return folders.map((folder) => settings.folders.find((f) => f.path === folder.path)!.id)
  } finally {
    store.close()
  }
}

/** A running `ferry sync` with what it has said so far. */
class Engine {
  readonly process: LiveProcess
  readonly probe: IndexProbe
  readonly #lines: { line: string; at: number }[] = []
  readonly #waiters = new Set<() => void>()
  #gone = false

  constructor(process: LiveProcess, home: string) {
    this.process = process
    this.probe = new IndexProbe(join(home, 'sync.sqlite'))
    process.onLine((line, at) => {
      this.#lines.push({ line, at })
      for (const wake of this.#waiters) wake()
    })
    void process.exited.then(() => {
      this.#gone = true
      for (const wake of this.#waiters) wake()
    })
  }

  static async start(home: string, backend: BackendKind): Promise<Engine> {
    const live = await startMeasured([CLI, 'sync'], {
      env: { FERRY_HOME: home, FERRY_SECRET: SECRETS[backend] },
      usageFile: join(home, 'usage.json'),
    })
    return new Engine(live, home)
  }

  /** Lines it wrote that `test` picks. */
  said(test: (line: string) => boolean): string[] {
    return this.#lines.filter((l) => test(l.line)).map((l) => l.line)
  }

  /** The first line `test` picks (waiting for it), with when it came. */
  async line(test: (line: string) => boolean, what: string): Promise<{ line: string; at: number }> {
    const deadline = performance.now() + options.timeoutMs
    for (;;) {
      const found = this.#lines.find((l) => test(l.line))
      if (found) return found
      this.#failIfGone(what)
      if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          this.#waiters.delete(wake)
          clearTimeout(timer)
          resolve()
        }
        const timer = setTimeout(wake, 1000)
        this.#waiters.add(wake)
      })
    }
  }

  /** Polls `check` every `everyMs` until it returns true; resolves with when it did. */
  async until(check: () => boolean, what: string, everyMs: number): Promise<number> {
    const deadline = performance.now() + options.timeoutMs
    for (;;) {
      if (check()) return performance.now()
      this.#failIfGone(what)
      if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      await sleep(everyMs)
    }
  }

  #failIfGone(what: string): void {
    if (!this.#gone) return
    const last = this.#lines.slice(-5).map((l) => l.line)
    throw new Error(`ferry sync exited while waiting for ${what}:\n${last.join('\n')}`)
  }

  async stop(): Promise<void> {
    this.probe.close()
    const run = await this.process.stop()
    if (run.exitCode !== 0) {
      console.log(`  note: ferry sync stopped with ${run.exitCode ?? run.signal}`)
    }
  }
}

/** `[scan] <folder>: N files in X ms` → X, once the engine has indexed every file there. */
function scanLine(folder: string): (line: string) => boolean {
  return (line) => line.startsWith(`[scan] ${folder}: `)
}

function lineMs(line: string): number {
  const match = /(\d+) ms\)?$/.exec(line)
  if (!match) throw new Error(`no duration in "${line}"`)
  return Number(match[1])
}

interface WatchResults {
  readonly walk: { asyncSeconds: number; syncSeconds: number }
  readonly indexedSeconds: number
  readonly watchSetupSeconds: number | undefined
  readonly scanSeconds: number
  readonly peakAtIndexedBytes: number
  readonly degraded: string | undefined
  readonly watches: number | undefined
  readonly idle: IdleUsage
  readonly latenciesMs: readonly number[]
  readonly rescan: { seconds: number; scanSeconds: number; peakRssBytes: number }
}

async function walkBaseline(tree: string): Promise<WatchResults['walk']> {
  const run = await runMeasured([WALK, tree], {
    usageFile: join(root, 'walk-usage.json'),
    timeoutMs: options.timeoutMs,
  })
  if (run.exitCode !== 0) throw new Error(`the plain walk failed: ${run.stderr.trim()}`)
  const result = JSON.parse(run.stdout) as { files: number } & WatchResults['walk']
  if (result.files !== options.files) {
    throw new Error(`the plain walk saw ${result.files} files, not ${options.files}`)
  }
  return result
}

/** Single edits in a small unpaused folder, each timed from the write to the server's confirmation. */
async function timeEdits(engine: Engine, folder: string, folderId: string): Promise<number[]> {
  const latencies: number[] = []
  for (let i = 0; i < options.edits; i++) {
    const relPath = `note-${i % 10}.txt`
    const path = join(folder, relPath)
    const started = performance.now()
    // A new size each time, so no edit could pass for the one before.
    await writeFile(path, `edit ${i} ${'x'.repeat(i)}\n`)
    const { size, mtimeMs } = await lstat(path)
    const confirmedAt = await engine.until(
      () => {
        const row = engine.probe.row(folderId, relPath)
        return row?.state === 'synced' && row.syncedSize === size && row.syncedMtimeMs === mtimeMs
      },
      `edit ${i + 1} to be confirmed`,
      5,
    )
    latencies.push(confirmedAt - started - SETTLE_MS)
    await sleep(200)
  }
  return latencies
}

async function watchRun(host: ServerHost, tree: string): Promise<WatchResults> {
  console.log('\nPlain walk of the tree (separate process)…')
  const walk = await walkBaseline(tree)
  console.log(`  fs/promises ${sec(walk.asyncSeconds)}, sync fs ${sec(walk.syncSeconds)}`)

  const home = join(root, 'home-watch')
  const edits = join(root, 'edits')
  await mkdir(edits, { recursive: true })
  const [, editsId] = writeSettings(home, 'kala', host.urls.kala, [
    { path: tree, paused: true },
    { path: edits, paused: false },
  ])
  console.log(`ferry sync: ${tree} paused (scanned and watched, nothing uploads), ${edits} live…`)
  let engine = await Engine.start(home, 'kala')
  let rescan: WatchResults['rescan']
  let results: Omit<WatchResults, 'rescan'>
  try {
    const indexed = await engine.line(scanLine(tree), 'the scan of the tree')
    const peakAtIndexedBytes = (await sampleProcess(engine.process.pid)).peakRssBytes
    const indexedSeconds = (indexed.at - engine.process.startedAt) / 1000
    const watching = engine.said((line) => line.startsWith(`[watcher] ${tree}: watching`))[0]
    const degraded = engine.said((line) => /^\[watcher\].*ran out/.test(line))[0]
    console.log(`  every file indexed ${sec(indexedSeconds)} after spawn: ${indexed.line}`)
    if (degraded) console.log(`  DEGRADED: ${degraded}`)
    await sleep(QUIET_MS)
    const watches = await inotifyWatches(engine.process.pid).catch(() => undefined)
    console.log(`Idle while watching: sampling for ${options.idleSeconds} s…`)
    const idle = await measureIdle(engine.process.pid, options.idleSeconds)
    console.log(`  ${idle.cpuPercent.toFixed(2)} % of a core, RSS ${mb(idle.maxRssBytes)}`)
    console.log(`Change-to-confirmed latency: ${options.edits} single edits in ${edits}…`)
    const latenciesMs = await timeEdits(engine, edits, editsId as string)
    console.log(`  p50 ${ms(percentile(latenciesMs, 50))}, p95 ${ms(percentile(latenciesMs, 95))}`)
    results = {
      walk,
      indexedSeconds,
      watchSetupSeconds: watching ? lineMs(watching) / 1000 : undefined,
      scanSeconds: lineMs(indexed.line) / 1000,
      peakAtIndexedBytes,
      degraded,
      watches,
      idle,
      latenciesMs,
    }
  } finally {
    await engine.stop()
  }

  console.log('Restart: ferry sync again, the index already holding the tree…')
  engine = await Engine.start(home, 'kala')
  try {
    const indexed = await engine.line(scanLine(tree), 'the rescan of the tree')
    rescan = {
      seconds: (indexed.at - engine.process.startedAt) / 1000,
      scanSeconds: lineMs(indexed.line) / 1000,
      peakRssBytes: (await sampleProcess(engine.process.pid)).peakRssBytes,
    }
    console.log(`  rescanned ${sec(rescan.seconds)} after spawn: ${indexed.line}`)
  } finally {
    await engine.stop()
  }
  return { ...results, rescan }
}

interface InitialSync {
  readonly backend: BackendKind
  readonly seconds?: number
  readonly cpuSeconds?: number
  readonly peakRssBytes?: number
  readonly serverCpuSeconds?: number
  readonly error?: string
}

async function initialSync(
  host: ServerHost,
  data: string,
  backend: BackendKind,
): Promise<InitialSync> {
  const home = join(root, `home-${backend}`)
  const [folderId] = writeSettings(home, backend, host.urls[backend], [
    { path: data, paused: false },
  ])
  const serverBefore = await host.cpuSeconds()
  const engine = await Engine.start(home, backend)
  try {
    const doneAt = await engine.until(
      () => engine.probe.syncedCount(folderId as string) >= options.syncFiles,
      `${options.syncFiles} files confirmed by ${NAMES[backend]}`,
      100,
    )
    const sample = await sampleProcess(engine.process.pid)
    const seconds = (doneAt - engine.process.startedAt) / 1000
    console.log(
      `  → ${NAMES[backend]}: ${sec(seconds)}, ${(options.syncFiles / seconds).toFixed(0)} files/s`,
    )
    return {
      backend,
      seconds,
      cpuSeconds: sample.cpuSeconds,
      peakRssBytes: sample.peakRssBytes,
      serverCpuSeconds: (await host.cpuSeconds()) - serverBefore,
    }
  } catch (error) {
    console.log(`  → ${NAMES[backend]}: FAILED ${(error as Error).message}`)
    return { backend, error: (error as Error).message }
  } finally {
    await engine.stop()
  }
}

function watchSections(r: WatchResults): Section[] {
  // The engine's part: its watcher walks the tree first (so nothing changed during the scan
  // goes unseen), then the scan walks it and fills the index. Node's start-up is not the scan's.
  const engineSeconds = (r.watchSetupSeconds ?? 0) + r.scanSeconds
  const ratio = engineSeconds / r.walk.asyncSeconds
  const times = (seconds: number): string =>
    `${sec(seconds)} (${(seconds / r.walk.asyncSeconds).toFixed(1)} ×)`
  const scan: Figure[] = [
    { label: 'plain walk: readdir + lstat (fs/promises)', value: sec(r.walk.asyncSeconds) },
    {
      label: 'same walk with sync fs calls (reference)',
      value: sec(r.walk.syncSeconds),
      detail: true,
    },
    {
      label: 'ferry sync: folder added → every file indexed',
      value: times(engineSeconds),
      bar: { text: `≤ ${SYNC_BARS.scanVsWalk} × plain walk`, met: ratio <= SYNC_BARS.scanVsWalk },
    },
    {
      label: 'of which: watcher set-up (chokidar ready)',
      value: r.watchSetupSeconds === undefined ? 'not watching' : times(r.watchSetupSeconds),
      detail: true,
    },
    { label: 'of which: scan (walk + index)', value: times(r.scanSeconds), detail: true },
    {
      label: 'spawn → every file indexed (with Node start-up)',
      value: sec(r.indexedSeconds),
      detail: true,
    },
    { label: 'peak RSS when indexed (VmHWM)', value: mb(r.peakAtIndexedBytes), detail: true },
    { label: 'restart: spawn → rescanned (index full)', value: sec(r.rescan.seconds) },
    { label: 'of which: rescan', value: times(r.rescan.scanSeconds), detail: true },
    { label: 'peak RSS (VmHWM)', value: mb(r.rescan.peakRssBytes), detail: true },
  ]
  const idle: Figure[] = [
    {
      label: `CPU over ${r.idle.seconds.toFixed(0)} s`,
      value: `${r.idle.cpuPercent.toFixed(2)} % of a core`,
      bar: {
        text: `< ${SYNC_BARS.idleCpuPercent} %`,
        met: r.idle.cpuPercent < SYNC_BARS.idleCpuPercent,
      },
    },
    {
      label: 'RSS (highest sample)',
      value: mb(r.idle.maxRssBytes),
      bar: {
        text: `< ${SYNC_BARS.idleRssBytes / 1e6} MB`,
        met: r.idle.maxRssBytes < SYNC_BARS.idleRssBytes,
      },
    },
    { label: 'peak RSS since start (VmHWM)', value: mb(r.idle.peakRssBytes), detail: true },
    {
      label: 'watching',
      value: r.degraded
        ? 'DEGRADED (out of watches)'
        : r.watches === undefined
          ? 'yes'
          : `${r.watches} inotify watches`,
    },
  ]
  const p95 = percentile(r.latenciesMs, 95)
  const latency: Figure[] = [
    { label: 'p50', value: ms(percentile(r.latenciesMs, 50)) },
    {
      label: 'p95',
      value: ms(p95),
      bar: { text: `< ${SYNC_BARS.latencyP95Ms} ms`, met: p95 < SYNC_BARS.latencyP95Ms },
    },
    {
      label: 'min / max',
      value: `${ms(Math.min(...r.latenciesMs))} / ${ms(Math.max(...r.latenciesMs))}`,
      detail: true,
    },
  ]
  const folders = Math.ceil(options.files / options.perFolder)
  return [
    {
      title: `Initial scan: ${options.files} tiny files in ${folders} folders`,
      figures: scan,
    },
    { title: `Idle, watching ${options.files} files (folder paused: no uploads)`, figures: idle },
    {
      title: `Change → confirmed by Kala, ${r.latenciesMs.length} single edits (${SETTLE_MS} ms settle excluded)`,
      figures: latency,
    },
  ]
}

function syncSection(results: readonly InitialSync[]): Section {
  const figures: Figure[] = results.map((r) =>
    r.seconds === undefined
      ? { label: `→ ${NAMES[r.backend]}`, value: `FAILED: ${r.error ?? '?'}` }
      : {
          label: `→ ${NAMES[r.backend]}: ${sec(r.seconds)}, engine CPU ${sec(r.cpuSeconds ?? 0)}, peak RSS ${mb(r.peakRssBytes ?? 0)}, server CPU ${sec(r.serverCpuSeconds ?? 0)}`,
          value: `${(options.syncFiles / r.seconds).toFixed(0)} files/s`,
        },
  )
  return {
    title: `Initial sync: ${options.syncFiles} files of 4 KiB in ${Math.min(100, options.syncFiles)} folders, spawn → all confirmed`,
    figures,
  }
}

function maxWatches(): string {
  try {
    return readFileSync('/proc/sys/fs/inotify/max_user_watches', 'utf8').trim()
  } catch {
    return '?'
  }
}

buildCli()
const cpu = cpus()
const loadAtStart = loadavg()[0] ?? 0
console.log(
  `ferry sync benchmark — Node ${process.version}, ${cpu.length} × ${cpu[0]?.model.trim() ?? '?'}, ` +
    `${(totalmem() / 1024 ** 3).toFixed(1)} GiB RAM, inotify max_user_watches ${maxWatches()}, ` +
    `temp data in ${root}`,
)
const tree = options.treeDir ?? join(root, 'tree')
let started = performance.now()
const written = await prepareTree(tree, options.files, options.perFolder)
console.log(
  written
    ? `Wrote the tree: ${options.files} files in ${tree} (${sec((performance.now() - started) / 1000)})`
    : `Reusing the tree in ${tree} (${countFiles(tree)} files)`,
)
// Flush the writes, so writeback is not billed to the measurements.
spawnSync('sync')
const host = await startServerHost(join(root, 'servers'))
const sections: Section[] = []
try {
  sections.push(...watchSections(await watchRun(host, tree)))
  console.log(`\nInitial sync: writing ${options.syncFiles} files of 4 KiB…`)
  const data = join(root, 'sync-data')
  started = performance.now()
  await createSmallFiles(data, options.syncFiles)
  spawnSync('sync')
  console.log(`  written in ${sec((performance.now() - started) / 1000)}`)
  const results: InitialSync[] = []
  for (const backend of options.backends) results.push(await initialSync(host, data, backend))
  sections.push(syncSection(results))
} finally {
  await host.close()
}
console.log(`\n${syncTextTable(sections)}`)
console.log('\nBars (informational):')
for (const line of syncVerdicts(sections)) console.log(`  ${line}`)
console.log(`\nMarkdown:\n\n${syncMarkdownTable(sections)}\n`)
console.log(
  'MB = 10^6 bytes. `ferry sync` is the built CLI (out/main/cli.js) in its own process; the ' +
    'reference servers run in another. Times from spawn include Node start-up. "Indexed" is the ' +
    "engine's `[scan] … files in … ms` log line, written once every file is in its index; " +
    "confirmed is the index row turning synced (same transaction as the server's answer), " +
    'polled every 5 ms (latency) or 100 ms (initial sync). CPU and RSS from /proc/<pid>. ' +
    `Load average (1 min): ${loadAtStart.toFixed(2)} at start, ${(loadavg()[0] ?? 0).toFixed(2)} ` +
    'at end; other work on the machine skews every figure.',
)
