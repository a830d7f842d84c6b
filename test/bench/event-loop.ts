/**
 * `npm run bench:event-loop`: does syncing keep the app's main process responsive? Runs the
 * app service — the same plain-Node engine the Electron main process runs — over one big file
 * (1 GiB by default) to each reference server (in a separate process), and measures this
 * process's event-loop delay (perf_hooks.monitorEventLoopDelay) while it hashes and uploads.
 * Prints figures only. Options: --size-mib N (default 1024).
 */
import { cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import {
  monitorEventLoopDelay,
  performance,
  type EventLoopUtilization,
  type IntervalHistogram,
} from 'node:perf_hooks'
import { AppService } from '../../main/ipc/app-service.ts'
import { ConfSettingsStore } from '../../main/settings/conf-settings-store.ts'
import type { SyncStatus } from '../../main/sync/sync-status.ts'
import { MemorySecretStore } from '../helpers/memory-secret-store.ts'
import { SANDBOX } from '../servers/sandbox.ts'
import { NAMES, scratchRoot } from './bench-run.ts'
import { startServerHost } from './processes.ts'
import { createBigFile } from './workloads.ts'

const sizeArg = process.argv.indexOf('--size-mib')
const sizeMiB = sizeArg >= 0 ? Number(process.argv[sizeArg + 1]) : 1024
if (!Number.isInteger(sizeMiB) || sizeMiB <= 0) {
  console.error('usage: node test/bench/event-loop.ts [--size-mib N]')
  process.exit(2)
}
const SIZE = sizeMiB * 1024 * 1024
const IDLE_MS = 3000
const TIMEOUT_MS = 30 * 60_000

const root = scratchRoot('ferry-bench-loop-')

const RESOLUTION_MS = 10
// The histogram records each sampling timer's whole interval: the delay is what exceeds it.
const ms = (ns: number): string => Math.max(0, ns / 1e6 - RESOLUTION_MS).toFixed(1)

function summary(histogram: IntervalHistogram, elu: EventLoopUtilization): string {
  const delays = [
    `p50 ${ms(histogram.percentile(50))} ms`,
    `p99 ${ms(histogram.percentile(99))} ms`,
    `p99.9 ${ms(histogram.percentile(99.9))} ms`,
    `max ${ms(histogram.max)} ms`,
  ].join(', ')
  const busy = (elu.utilization * 100).toFixed(0)
  return `${delays} (${histogram.count} samples); loop busy ${busy}% of the time`
}

/** Samples the delay and the loop's utilisation while `work` runs. */
async function measure<T>(
  work: () => Promise<T>,
): Promise<{ result: T; histogram: IntervalHistogram; elu: EventLoopUtilization }> {
  const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
  const before = performance.eventLoopUtilization()
  histogram.enable()
  const result = await work()
  histogram.disable()
  return { result, histogram, elu: performance.eventLoopUtilization(before) }
}

async function waitForStatus(
  app: AppService,
  done: (status: SyncStatus) => boolean,
): Promise<SyncStatus> {
  const deadline = Date.now() + TIMEOUT_MS
  for (;;) {
    const status = app.status()
    if (done(status)) return status
    if (Date.now() > deadline) throw new Error(`timed out: ${status.message}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

const ACCOUNTS = {
  kala: { backend: 'kala', auth: 'api-key', secret: SANDBOX.kala.apiKey },
  dstor: { backend: 'dstor', auth: 'api-key', secret: SANDBOX.dstor.apiKey },
  perkeep: {
    backend: 'perkeep',
    auth: 'userpass',
    user: SANDBOX.perkeep.user,
    secret: SANDBOX.perkeep.password,
  },
} as const

console.log(
  `Event-loop delay of the app's main process while syncing ${sizeMiB} MiB ` +
    `(${cpus().length} CPUs, Node ${process.versions.node})`,
)
const folder = join(root, 'Folder')
await createBigFile(folder, SIZE)
const host = await startServerHost(join(root, 'servers'))
for (const kind of ['kala', 'dstor', 'perkeep'] as const) {
  // A fresh app per backend: its own settings, index and account, the same folder.
  const stateDir = join(root, `state-${kind}`)
  const app = new AppService({
    settings: new ConfSettingsStore(stateDir),
    secrets: new MemorySecretStore(),
    stateDir,
    version: 'bench',
    chooseFolder: async () => null,
    chooseDiagnosticsFolder: async () => null,
    openPath: async () => undefined,
    setLaunchAtLogin: () => undefined,
  })
  await app.start()
  const account = await app.addAccount({ ...ACCOUNTS[kind], server: host.urls[kind] })

  // The floor: the same process with the engine running and nothing to do.
  const idle = await measure(() => new Promise((resolve) => setTimeout(resolve, IDLE_MS)))
  const load = loadavg()[0] ?? 0
  const started = performance.now()
  const busy = await measure(async () => {
    app.addFolder({ path: folder, accountId: account.id })
    return waitForStatus(
      app,
      (s) => s.state === 'idle' && s.filesDone >= 1 && s.filesRemaining === 0,
    )
  })
  const seconds = (performance.now() - started) / 1000
  const final = busy.result

  console.log(`${NAMES[kind]}`)
  console.log(`  idle   : ${summary(idle.histogram, idle.elu)}`)
  console.log(`  syncing: ${summary(busy.histogram, busy.elu)}`)
  console.log(
    `  ${final.filesDone} file, ${sizeMiB} MiB stored in ${seconds.toFixed(1)} s ` +
      `(${(sizeMiB / seconds).toFixed(0)} MiB/s); failed: ${final.failed.length}; ` +
      `load average ${load.toFixed(1)} on ${cpus().length} CPUs (other processes compete)`,
  )
  await app.stop()
}
await host.close()
// The scratch folder goes with the process (scratchRoot's exit hook).
process.exit(0)
