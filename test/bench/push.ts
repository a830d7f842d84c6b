/**
 * `npm run bench:push`: how fast `ferry push` is next to the floor (read + sha256) and a plain
 * streaming POST, on one big file (A) and many small files (B), against each reference server.
 * Prints figures only; exits 0 unless it crashes. Options: see BENCH_USAGE in options.ts.
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, rm, statfs } from 'node:fs/promises'
import { cpus, loadavg, totalmem } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildCli, CLI, NAMES, scratchRoot, SECRETS } from './bench-run.ts'
import { hottestFunctions } from './cpu-profile.ts'
import { BENCH_USAGE, parseBenchOptions, type BenchOptions, type WorkloadName } from './options.ts'
import { runMeasured, startServerHost, type ServerHost } from './processes.ts'
import { markdownTable, textTable, verdicts, type Row, type WorkloadResult } from './report.ts'
import { createBigFile, createSmallFiles, SMALL_FILE_BYTES, type Workload } from './workloads.ts'

const BASELINES = fileURLToPath(new URL('./baselines.ts', import.meta.url))
const POST_PARALLEL = 4
const MEMORY_FS = '/dev/shm'

let options: BenchOptions
try {
  options = parseBenchOptions(process.argv.slice(2), process.env)
} catch (error) {
  console.error(`${(error as Error).message}\n\n${BENCH_USAGE}`)
  process.exit(2)
}

const root = scratchRoot('ferry-bench-')

const gib = (bytes: number): string => `${(bytes / 1024 ** 3).toFixed(2)} GiB`

/** A rough upper bound of disk use: the data plus the three servers' copies and their temp files. */
function diskNeeded(name: WorkloadName): number {
  return name === 'A' ? options.size * 5 : options.files * SMALL_FILE_BYTES * 8 + 64 * 1024 ** 2
}

/** Flushes dirty pages so one step's writeback is not billed to the next. */
function settle(): void {
  spawnSync('sync')
}

async function step(
  host: ServerHost,
  label: string,
  kind: Row['kind'],
  nodeArgs: readonly string[],
  check: (stdout: string) => string | undefined,
  env: NodeJS.ProcessEnv = {},
): Promise<Row> {
  settle()
  const serverBefore = await host.cpuSeconds()
  const run = await runMeasured(nodeArgs, {
    env,
    usageFile: join(root, 'usage.json'),
    timeoutMs: options.timeoutMs,
  })
  const serverCpuSeconds = (await host.cpuSeconds()) - serverBefore
  // The CLI's own explanation: its first `failed …` or `ferry: …` line, else its last line.
  const said = run.stderr.trim().split('\n')
  const reason = said.find((line) => /^(failed |ferry: )/.test(line)) ?? said[said.length - 1]
  let error: string | undefined
  if (run.timedOut) error = `timed out after ${options.timeoutMs / 60_000} min`
  else if (run.exitCode !== 0) error = `exit ${run.exitCode ?? run.signal}: ${reason}`
  else error = check(run.stdout)
  const figures = error
    ? { error }
    : {
        seconds: run.seconds,
        ...(run.usage
          ? {
              maxRssBytes: run.usage.maxRssKiB * 1024,
              cpuSeconds: (run.usage.userCpuMicros + run.usage.systemCpuMicros) / 1e6,
            }
          : {}),
        serverCpuSeconds,
      }
  console.log(`  ${label}: ${error ? `FAILED ${error}` : `${run.seconds.toFixed(2)} s`}`)
  return { label, kind, ...figures }
}

function checkBaseline(workload: Workload) {
  return (stdout: string): string | undefined => {
    const result = JSON.parse(stdout) as { files: number; bytes: number }
    return result.files === workload.files && result.bytes === workload.bytes
      ? undefined
      : `saw ${result.files} files / ${result.bytes} bytes`
  }
}

function checkPush(workload: Workload) {
  return (stdout: string): string | undefined => {
    const lines = stdout.trim().split('\n')
    const result = JSON.parse(lines[lines.length - 1] ?? '{}') as {
      uploaded?: number
      failed?: { path: string; error: string }[]
    }
    const failed = result.failed ?? []
    if (failed.length > 0) return `${failed.length} failed, first: ${failed[0]?.error}`
    return result.uploaded === workload.files
      ? undefined
      : `uploaded ${result.uploaded} of ${workload.files}`
  }
}

/** Where the server host's profile of workload `name` goes (every backend's server in one). */
function serverProfilePath(name: WorkloadName): string {
  return join(options.cpuProfDir ?? '.', `servers-${name}.cpuprofile`)
}

/**
 * Where the reference servers keep what they receive: in memory (/dev/shm) when it has room.
 * The figures are about the client and the protocol; on this VM, writing new blocks to disk runs
 * at ~400 MB/s, slower than a push sends, and that is the disk's figure, not Ferry's (the plain
 * POST's sink stores nothing at all). `--server-disk` keeps them on disk beside the data.
 */
async function serverStorage(name: WorkloadName, dir: string): Promise<string> {
  const onDisk = join(dir, 'servers')
  if (options.serverDisk) return onDisk
  const free = await statfs(MEMORY_FS).then(
    (s) => s.bavail * s.bsize,
    () => 0,
  )
  if (free < diskNeeded(name)) return onDisk
  return scratchRoot(`ferry-bench-servers-${name}-`, MEMORY_FS)
}

async function runWorkload(name: WorkloadName): Promise<WorkloadResult | undefined> {
  const dir = join(root, name)
  const free = await statfs(root).then((s) => s.bavail * s.bsize)
  if (free < diskNeeded(name)) {
    console.log(
      `Workload ${name} skipped: needs about ${gib(diskNeeded(name))} free in ${root}, ` +
        `only ${gib(free)} available (try a smaller --size/--files or TMPDIR elsewhere).`,
    )
    return undefined
  }
  const description =
    name === 'A'
      ? `1 file of ${gib(options.size)} random bytes`
      : `${options.files} files of 4 KiB random bytes in ${Math.min(100, options.files)} folders`
  console.log(`\nWorkload ${name}: writing ${description}…`)
  const data = join(dir, 'data')
  const workload =
    name === 'A'
      ? await createBigFile(data, options.size)
      : await createSmallFiles(data, options.files)
  const host = await startServerHost(
    await serverStorage(name, dir),
    options.cpuProfDir ? { cpuProfile: serverProfilePath(name) } : {},
  )
  const rows: Row[] = []
  try {
    const baseline = checkBaseline(workload)
    rows.push(
      await step(host, 'floor (read + sha256)', 'floor', [BASELINES, 'hash', data], baseline),
    )
    const sink = host.urls.sink
    const postArgs = [BASELINES, 'post', data, sink, String(POST_PARALLEL)]
    const postLabel =
      name === 'A' ? 'plain POST' : `plain POST (1 per file, ${POST_PARALLEL} at once)`
    rows.push(await step(host, postLabel, 'post', postArgs, baseline))
    if (name === 'B') {
      const args = [BASELINES, 'post-single', data, sink]
      rows.push(await step(host, 'plain POST (all in 1 request)', 'post-single', args, baseline))
    }
    for (const backend of options.backends) {
      const home = join(dir, `home-${backend}`)
      await mkdir(home, { recursive: true })
      const profile = options.cpuProfDir
        ? [
            '--cpu-prof',
            '--cpu-prof-dir',
            options.cpuProfDir,
            '--cpu-prof-name',
            `push-${name}-${backend}.cpuprofile`,
          ]
        : []
      const args = [
        ...profile,
        CLI,
        'push',
        data,
        '--backend',
        backend,
        '--server',
        host.urls[backend],
        '--json',
      ]
      const env = { FERRY_SECRET: SECRETS[backend], FERRY_HOME: home }
      rows.push(
        await step(host, `ferry push → ${NAMES[backend]}`, 'push', args, checkPush(workload), env),
      )
    }
  } finally {
    await host.close()
    await rm(dir, { recursive: true, force: true })
  }
  const result: WorkloadResult = {
    name,
    description,
    files: workload.files,
    bytes: workload.bytes,
    rows,
  }
  console.log(`\n${textTable(result)}`)
  return result
}

buildCli()
const cpu = cpus()
const loadAtStart = loadavg()[0] ?? 0
console.log(
  `ferry push benchmark — Node ${process.version}, ${cpu.length} × ${cpu[0]?.model.trim() ?? '?'}, ` +
    `${gib(totalmem())} RAM, data in ${root} (warm page cache; each step runs in its own process)`,
)
const results: WorkloadResult[] = []
for (const name of options.workloads) {
  const result = await runWorkload(name)
  if (result) results.push(result)
}
if (results.length > 0) {
  console.log('\nBars (informational):')
  for (const line of verdicts(results)) console.log(`  ${line}`)
  console.log(`\nMarkdown:\n\n${markdownTable(results)}\n`)
  console.log(
    'MB = 10^6 bytes. Times are wall clock from spawn to exit (Node start-up included) of a ' +
      'separate process; servers and the POST sink run in one more process' +
      `${options.serverDisk ? '' : ' (storing in /dev/shm when it has room; --server-disk for disk)'}. ` +
      'Floor: createReadStream ' +
      `(1 MiB reads) + sha256, file after file. Plain POST: node:http keep-alive, ${POST_PARALLEL} at once. ` +
      'The baselines are .ts scripts: their RSS includes ~15 MB of Node type stripping. ' +
      `Load average (1 min): ${loadAtStart.toFixed(2)} at start, ${(loadavg()[0] ?? 0).toFixed(2)} ` +
      'at end; other work on the machine skews every figure.',
  )
}
if (options.cpuProfDir) {
  for (const result of results) {
    for (const backend of options.backends) {
      const path = join(options.cpuProfDir, `push-${result.name}-${backend}.cpuprofile`)
      if (!existsSync(path)) continue
      console.log(
        `\nHottest functions (self time), workload ${result.name}, ${NAMES[backend]}: ${path}`,
      )
      for (const line of await hottestFunctions(path)) console.log(line)
    }
    const servers = serverProfilePath(result.name)
    if (!existsSync(servers)) continue
    console.log(
      `\nHottest functions (self time), workload ${result.name}, server host ` +
        `(${options.backends.map((b) => NAMES[b]).join(', ')} and the POST sink): ${servers}`,
    )
    for (const line of await hottestFunctions(servers, 25)) console.log(line)
  }
}
