/**
 * The plain-POST baseline's server: reads and discards every request body. `GET /cpu` answers
 * with this process's CPU time so the driver can charge server work to each measurement.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface SinkServer {
  readonly url: string
  close(): Promise<void>
}

/** Starts the sink on 127.0.0.1, ephemeral port. */
export async function startSink(): Promise<SinkServer> {
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/cpu') {
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify(process.cpuUsage()))
      return
    }
    let bytes = 0
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length
    })
    req.on('end', () => {
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ bytes }))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
