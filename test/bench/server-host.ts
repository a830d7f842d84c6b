/**
 * Child process of the benchmark: the three reference servers (the sandbox, ephemeral ports,
 * storage under argv[2]) plus the plain-POST sink. Prints their URLs as one JSON line on stdout,
 * then serves until SIGTERM/SIGINT or until its stdin closes (the driver went away).
 */
import { startSandbox } from '../servers/sandbox.ts'
import { startSink } from './sink-server.ts'

/** The line server-host prints once it listens. */
export interface HostUrls {
  readonly dstor: string
  readonly kala: string
  readonly perkeep: string
  readonly sink: string
}

const dataDir = process.argv[2]
if (!dataDir) throw new Error('usage: server-host.ts <data dir>')
const sandbox = await startSandbox(dataDir, { ephemeralPorts: true })
const sink = await startSink()
const urls: HostUrls = {
  dstor: sandbox.urls.dstor,
  kala: sandbox.urls.kala,
  perkeep: sandbox.urls.perkeep,
  sink: sink.url,
}
process.stdout.write(`${JSON.stringify(urls)}\n`)

let stopping = false
const stop = async (): Promise<void> => {
  if (stopping) return
  stopping = true
  await Promise.all([sandbox.close(), sink.close()])
  process.exit(0)
}
process.on('SIGINT', () => void stop())
process.on('SIGTERM', () => void stop())
process.stdin.on('end', () => void stop())
process.stdin.resume()
