/** The `ferry` command: the sync engine without Electron. */
import { processIo } from './io.ts'
import { runCli } from './run.ts'

const controller = new AbortController()
let interrupted = false
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    // First signal: stop cleanly (in-flight requests are cancelled, the index stays consistent);
    // a second one exits at once.
    if (interrupted) process.exit(130)
    interrupted = true
    controller.abort()
  })
}

process.exitCode = await runCli(process.argv.slice(2), processIo(), { signal: controller.signal })
