/**
 * Loaded with `node --import` into a measured process: on exit it writes the process's peak RSS
 * and CPU time as JSON ({ maxRssKiB, userCpuMicros, systemCpuMicros }, see ProcessUsage in
 * processes.ts) to the file named by FERRY_BENCH_USAGE_FILE. Production code stays as is.
 *
 * Plain JavaScript on purpose: importing a .ts file makes Node load its type stripper, which
 * adds ~15 MB to the RSS being measured.
 */
import { writeFileSync } from 'node:fs'

const target = process.env['FERRY_BENCH_USAGE_FILE']
if (target) {
  process.on('exit', () => {
    const usage = process.resourceUsage()
    writeFileSync(
      target,
      JSON.stringify({
        maxRssKiB: usage.maxRSS,
        userCpuMicros: usage.userCPUTime,
        systemCpuMicros: usage.systemCPUTime,
      }),
    )
  })
}
