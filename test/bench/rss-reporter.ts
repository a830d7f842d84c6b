/**
 * Loaded with `node --import` into a measured process: on exit it writes the process's peak RSS
 * and CPU time as JSON to the file named by FERRY_BENCH_USAGE_FILE. Production code stays as is.
 */
import { writeFileSync } from 'node:fs'

/** What the reporter writes. */
export interface ProcessUsage {
  /** Peak resident set size in KiB (Linux getrusage ru_maxrss). */
  readonly maxRssKiB: number
  readonly userCpuMicros: number
  readonly systemCpuMicros: number
}

const target = process.env['FERRY_BENCH_USAGE_FILE']
if (target) {
  process.on('exit', () => {
    const usage = process.resourceUsage()
    const report: ProcessUsage = {
      maxRssKiB: usage.maxRSS,
      userCpuMicros: usage.userCPUTime,
      systemCpuMicros: usage.systemCPUTime,
    }
    writeFileSync(target, JSON.stringify(report))
  })
}
