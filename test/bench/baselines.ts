/**
 * The yardsticks, run as a child process of the driver (so its peak RSS and CPU are its own):
 *   baselines.ts hash <folder>                    read + sha256 of every file, one after another
 *   baselines.ts post <folder> <url> [parallel]   one streaming POST per file, `parallel` at once
 *   baselines.ts post-single <folder> <url>       one streaming POST of all files back to back
 * Prints `{ files, bytes, seconds }` as JSON on stdout.
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { readdir, stat } from 'node:fs/promises'
import { Agent, request } from 'node:http'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'

/** Same read size as Ferry's hashing read, so the floor is not handicapped by tiny reads. */
const READ_SIZE = 1024 * 1024

interface Entry {
  readonly path: string
  readonly size: number
}

async function listFiles(folder: string): Promise<Entry[]> {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true })
  const files = entries
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name))
    .sort()
  return Promise.all(files.map(async (path) => ({ path, size: (await stat(path)).size })))
}

async function sha256(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const piece of createReadStream(path, { highWaterMark: READ_SIZE })) {
    hash.update(piece as Buffer)
  }
  return hash.digest('hex')
}

function post(url: string, agent: Agent, length: number, body: Readable): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/octet-stream', 'content-length': length },
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => (text += chunk))
        res.on('end', () => {
          const received = (JSON.parse(text || '{}') as { bytes?: number }).bytes
          if (res.statusCode !== 200 || received !== length) {
            reject(
              new Error(`sink answered ${res.statusCode} after ${received} of ${length} bytes`),
            )
          } else resolve()
        })
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    pipeline(body, req).catch(reject)
  })
}

async function* concatenated(files: readonly Entry[]): AsyncGenerator<Buffer> {
  for (const file of files) {
    for await (const piece of createReadStream(file.path, { highWaterMark: READ_SIZE })) {
      yield piece as Buffer
    }
  }
}

const [mode, folder, url, parallelText] = process.argv.slice(2)
if (!mode || !folder) throw new Error('usage: baselines.ts hash|post|post-single <folder> [url]')
const started = performance.now()
const files = await listFiles(folder)
const bytes = files.reduce((sum, file) => sum + file.size, 0)
if (mode === 'hash') {
  for (const file of files) await sha256(file.path)
} else if (mode === 'post' || mode === 'post-single') {
  if (!url) throw new Error(`${mode} needs the sink URL`)
  const parallel = mode === 'post' ? Number(parallelText ?? '4') : 1
  const agent = new Agent({ keepAlive: true, maxSockets: parallel })
  if (mode === 'post-single') {
    await post(url, agent, bytes, Readable.from(concatenated(files)))
  } else {
    let next = 0
    const worker = async (): Promise<void> => {
      for (let i = next++; i < files.length; i = next++) {
        const file = files[i] as Entry
        await post(url, agent, file.size, createReadStream(file.path, { highWaterMark: READ_SIZE }))
      }
    }
    await Promise.all(Array.from({ length: parallel }, worker))
  }
  agent.destroy()
} else {
  throw new Error(`unknown baseline ${mode}`)
}
const seconds = (performance.now() - started) / 1000
process.stdout.write(`${JSON.stringify({ files: files.length, bytes, seconds })}\n`)
