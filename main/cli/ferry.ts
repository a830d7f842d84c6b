/** The `ferry` command: the sync engine without Electron. */
import { processIo } from './io.ts'
import { runCli } from './run.ts'

const controller = new AbortController()
let interrupted = false
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  // conf → atomically → when-exit hooks these signals at import and re-sends the signal to the
  // process after its cleanup, which would turn one Ctrl-C into two (an abrupt exit). Ferry
  // stops cleanly itself, and when-exit's 'exit' hook still removes its temp files.
  process.removeAllListeners(signal)
  process.on(signal, () => {
    // First signal: stop cleanly (in-flight requests are cancelled, the index stays consistent);
    // a second one exits at once.
    if (interrupted) process.exit(130)
    interrupted = true
    controller.abort()
  })
}

process.exitCode = await runCli(process.argv.slice(2), processIo(), { signal: controller.signal })
