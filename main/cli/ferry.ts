/** The `ferry` command: the sync engine without Electron. */
import { tuneEngineMemory } from '../platform/memory-tuning.ts'
import { processIo } from './io.ts'
import { runCli } from './run.ts'

tuneEngineMemory()

const SIGNALS = ['SIGINT', 'SIGTERM'] as const
const controller = new AbortController()
let interrupted = false

const onSignal = (): void => {
  // First signal: stop cleanly (in-flight requests are cancelled, the index stays consistent);
  // a second one exits at once.
  if (interrupted) process.exit(130)
  interrupted = true
  controller.abort()
}

// conf → atomically → when-exit hooks these signals when it is first imported (lazily, by the
// commands that use settings) and re-sends the signal to the process after its cleanup, which
// would turn one Ctrl-C into two (an abrupt exit). Ferry stops cleanly itself and when-exit's
// 'exit' hook still removes its temp files, so any other listener of these signals is dropped.
process.on('newListener', (event, listener) => {
  if ((SIGNALS as readonly (string | symbol)[]).includes(event) && listener !== onSignal) {
    queueMicrotask(() => process.removeListener(event, listener as () => void))
  }
})
for (const signal of SIGNALS) {
  process.removeAllListeners(signal)
  process.on(signal, onSignal)
}

process.exitCode = await runCli(process.argv.slice(2), processIo(), { signal: controller.signal })
