/**
 * Receives a dStor multipart body (PROTOCOLS.md §1.2, §1.3): every part is a file whose filename
 * is a relative path. Each part streams to its own temp file, never into memory, and through the
 * IPFS importer in the same pass, so its CID needs no second read. A body over the limit is
 * refused with 413 as soon as it passes the limit. On any refusal the files already written for
 * this request are removed, so a request is all or nothing.
 */
import { closeSync, openSync, writeSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import type { IncomingMessage } from 'node:http'
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'
import type { Readable } from 'node:stream'
import busboy from 'busboy'
import type { Busboy } from 'busboy'
import { ipfsAdd } from './dstor-ipfs.ts'
import { ConnectionLost, feedBusboy, HttpError } from './kit.ts'

export { ConnectionLost }

/** One received file part, already on disk. */
export interface ReceivedFile {
  /** The part's filename: the file's path relative to the synced folder. */
  readonly name: string
  readonly tempPath: string
  readonly size: number
  /** The CID of its bytes (§1.4), computed as they arrived. */
  readonly cid: string
  /** Its DAG's cumulative size, what the IPFS HTTP API answers as `Size`. */
  readonly dagSize: number
}

export interface ReceiveOptions {
  /** Folder for the temp files (must exist). */
  readonly dir: string
  readonly maxBodyBytes: number
  /** Called for each part's filename before its bytes are read; throws an HttpError to refuse. */
  readonly accept: (name: string | undefined) => void
}

/** Streams every part of the request to `dir`; resolves once all are on disk. */
export async function receiveFiles(
  req: IncomingMessage,
  options: ReceiveOptions,
): Promise<ReceivedFile[]> {
  const declared = Number(req.headers['content-length'])
  if (declared > options.maxBodyBytes) throw new HttpError(413, 'request body too large')
  let bb: Busboy
  try {
    // preservePath: the filename is a relative path, and busboy would otherwise keep only its
    // last segment. defParamCharset: raw UTF-8 filenames (browsers send them unencoded).
    bb = busboy({ headers: req.headers, defParamCharset: 'utf8', preservePath: true })
  } catch (error) {
    throw new HttpError(400, `expected a multipart/form-data body: ${(error as Error).message}`)
  }

  const files: PartFile[] = []
  const writes: Array<Promise<void>> = []
  let refusal: Error | undefined
  const refuse = (error: Error): void => {
    refusal ??= error
  }

  bb.on('file', (_field: string, stream: Readable, info: { filename?: string }) => {
    // Busboy may destroy a part's stream with the request's error before anyone listens.
    stream.on('error', () => undefined)
    if (refusal) {
      stream.resume()
      return
    }
    try {
      options.accept(info.filename)
    } catch (error) {
      refuse(error as Error)
      stream.resume()
      return
    }
    const file: PartFile = {
      name: info.filename ?? '',
      tempPath: join(options.dir, randomUUID()),
      size: 0,
      cid: '',
      dagSize: 0,
    }
    files.push(file)
    writes.push(storePart(stream, file))
  })
  bb.on('field', (name: string) => {
    refuse(new HttpError(400, `part "${name}" is not a file (it has no filename)`))
  })

  let failure: unknown
  try {
    await feedBusboy(req, bb, options.maxBodyBytes)
  } catch (error) {
    failure = error
  }
  for (const result of await Promise.allSettled(writes)) {
    if (result.status === 'rejected') failure ??= result.reason
  }
  const error =
    failure ??
    refusal ??
    (files.length === 0 ? new HttpError(400, 'no file in the request') : undefined)
  if (error !== undefined) {
    await removeFiles(files)
    if (error instanceof HttpError || error instanceof ConnectionLost) throw error
    throw new HttpError(500, `cannot store the upload: ${String(error)}`)
  }
  return files
}

interface PartFile {
  readonly name: string
  readonly tempPath: string
  size: number
  cid: string
  dagSize: number
}

/**
 * Writes a part to its temp file while the importer reads the same chunks for the CID. Whatever
 * fails, the part is read to its end, so busboy can finish the request.
 */
async function storePart(stream: Readable, file: PartFile): Promise<void> {
  let fd: number | undefined
  try {
    fd = openSync(file.tempPath, 'w')
    const added = await ipfsAdd(writeThrough(stream, fd, file))
    file.cid = added.cid
    file.dagSize = added.dagSize
  } catch (error) {
    stream.resume()
    throw error
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}

/**
 * Yields the part's chunks once each is on disk. Synchronous writes on purpose: one per ~64 KiB
 * chunk, and a thread-pool round trip each would cost more CPU than the copy itself.
 */
async function* writeThrough(stream: Readable, fd: number, file: PartFile): AsyncGenerator<Buffer> {
  // An importer that stopped early must not destroy the part: storePart drains it instead.
  for await (const chunk of stream.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    for (let done = 0; done < chunk.length;) {
      done += writeSync(fd, chunk, done, chunk.length - done, file.size + done)
    }
    file.size += chunk.length
    yield chunk
  }
}

/** Deletes received temp files (after a refusal, or when a process is dropped). */
export async function removeFiles(
  files: ReadonlyArray<{ readonly tempPath: string }>,
): Promise<void> {
  await Promise.all(files.map((file) => rm(file.tempPath, { force: true })))
}
