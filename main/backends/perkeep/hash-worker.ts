/**
 * Worker-thread entry: reads files into their Perkeep blobs (chunking, sha224, sha256) off the
 * main thread, posting chunks back as they are cut. Started by WorkerHasher; an entry of the
 * main build of its own (electron.vite.config.ts), so it runs from out/main/ as well as from
 * source.
 */
import { parentPort } from 'node:worker_threads'
import { FerryError } from '../errors.ts'
import { buildFileBlobs } from './file-blobs.ts'
import type { FromWorker, ToWorker } from './worker-hasher.ts'

// Chunk messages the main thread has not acknowledged yet before reading pauses (about 1 MiB
// of file each): enough to ride out a busy main thread, small enough to stay close behind it.
const MAX_UNACKED = 4

interface Job {
  readonly controller: AbortController
  unacked: number
  wake: (() => void) | undefined
}

const port = parentPort
if (port) {
  const jobs = new Map<number, Job>()
  const post = (message: FromWorker): void => port.postMessage(message)

  const run = async (message: Extract<ToWorker, { type: 'hash' }>): Promise<void> => {
    const { id, absPath, name, schemaOnly, length } = message
    const job: Job = { controller: new AbortController(), unacked: 0, wake: undefined }
    jobs.set(id, job)
    const { signal } = job.controller
    try {
      const blobs = await buildFileBlobs(absPath, name, {
        signal,
        schemaOnly,
        ...(length === undefined ? {} : { length }),
        onChunks: async (chunks) => {
          post({ type: 'chunks', id, chunks })
          job.unacked++
          while (job.unacked >= MAX_UNACKED && !signal.aborted) {
            await new Promise<void>((resolve) => (job.wake = resolve))
          }
        },
      })
      post({ type: 'done', id, blobs })
    } catch (error) {
      post({
        type: 'error',
        id,
        error: {
          kind: error instanceof FerryError ? error.kind : undefined,
          message: error instanceof Error ? error.message : String(error),
        },
      })
    } finally {
      jobs.delete(id)
    }
  }

  port.on('message', (message: ToWorker) => {
    if (message.type === 'hash') {
      void run(message)
      return
    }
    const job = jobs.get(message.id)
    if (!job) return
    if (message.type === 'ack') job.unacked--
    else job.controller.abort()
    job.wake?.()
    job.wake = undefined
  })
}
