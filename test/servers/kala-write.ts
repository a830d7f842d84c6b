/**
 * The body of a Kala write request (PROTOCOLS.md §2.2): multipart with a `mode` field
 * (WRITE | APPEND) and then a `file` part, streamed straight into the session's file.
 *
 * Reference-server rules where the page is silent:
 * - `mode` must come before `file` (the doc's example sends it first, and a streaming server
 *   must know where to put the bytes before they arrive); `file` first → 400, nothing written.
 * - Exactly one `mode` and one `file`; any other part → 400, nothing written.
 * - A write the server refuses (past `fileSize`, body over the size limit, broken multipart) is
 *   undone: APPEND leaves the session as it was, WRITE leaves it empty.
 * - A connection lost mid-body keeps whatever bytes reached the disk, like a real server would.
 */
import type { IncomingMessage } from 'node:http'
import { open, truncate } from 'node:fs/promises'
import type { Readable } from 'node:stream'
import busboy from 'busboy'
import type { Busboy } from 'busboy'
import { HttpError } from './kit.ts'
import type { KalaSession } from './kala-sessions.ts'

type WriteMode = 'WRITE' | 'APPEND'

/** How a write ended: answered with the new size, or cut off (no answer can be sent). */
export type WriteResult = { readonly ok: true; readonly size: number } | { readonly ok: false }

export interface WriteOptions {
  readonly maxBodyBytes: number
  /** Fault: write this many bytes of the `file` part, then destroy the connection. */
  readonly breakAfterBytes?: number
}

class ConnectionLost extends Error {}

/** Streams one write request into `session`. Call inside `session.serialize`. */
export async function receiveWrite(
  req: IncomingMessage,
  session: KalaSession,
  options: WriteOptions,
): Promise<WriteResult> {
  let bb: Busboy
  try {
    bb = busboy({ headers: req.headers, limits: { fieldSize: 64 } })
  } catch (error) {
    throw new HttpError(400, `Malformed multipart request: ${(error as Error).message}`)
  }

  let mode: WriteMode | undefined
  let refusal: HttpError | undefined
  let sawFile = false
  let startSize: number | undefined
  let writing: Promise<void> | undefined
  let broken = false
  const refuse = (message: string): void => {
    refusal ??= new HttpError(400, message)
  }

  bb.on('field', (name, value, info) => {
    if (name !== 'mode') return refuse(`Unexpected field "${name}"`)
    if (mode !== undefined) return refuse('Field "mode" was sent twice')
    if (info.valueTruncated || (value !== 'WRITE' && value !== 'APPEND')) {
      return refuse('Field "mode" must be WRITE or APPEND')
    }
    mode = value
  })

  bb.on('file', (name, stream) => {
    // Busboy destroys the part's stream with the request's error, maybe before the writer
    // listens (it first opens the file); the writer still sees it through its iterator.
    stream.on('error', () => undefined)
    if (name !== 'file') refuse(`Unexpected part "${name}"`)
    else if (sawFile) refuse('Only one "file" part is allowed')
    else if (mode === undefined) refuse('Field "mode" must come before the "file" part')
    if (name === 'file') sawFile = true
    if (refusal || mode === undefined) {
      stream.resume()
      return
    }
    startSize = mode === 'WRITE' ? 0 : session.size
    const breakAfter = options.breakAfterBytes
    const onBreak =
      breakAfter === undefined
        ? undefined
        : {
            afterBytes: breakAfter,
            fire: () => {
              broken = true
              req.socket.destroy()
            },
          }
    writing = writePart(session, mode, stream, onBreak, refuse)
  })

  let failure: unknown
  try {
    await feed(req, bb, options.maxBodyBytes)
  } catch (error) {
    failure = error
  }
  // The file's state is only final once the writer has settled, whatever the parser did.
  try {
    await writing
  } catch (error) {
    failure ??= error
  }

  if (broken || failure instanceof ConnectionLost) return { ok: false }
  const error = failure ?? refusal
  if (error !== undefined) {
    if (startSize !== undefined) {
      await truncate(session.path, startSize)
      session.size = startSize
    }
    throw error instanceof HttpError ? error : new HttpError(500, String(error))
  }
  if (mode === undefined) throw new HttpError(400, 'Field "mode" is required')
  if (!sawFile) throw new HttpError(400, 'Part "file" is required')
  return { ok: true, size: session.size }
}

/** Pushes the request body into busboy with backpressure, counting it against the limit. */
function feed(req: IncomingMessage, bb: Busboy, maxBodyBytes: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = 0
    let done = false
    const fail = (error: Error): void => {
      if (done) return
      done = true
      bb.destroy(error)
      // Keep reading (and discarding) so the client still gets our answer.
      req.resume()
      reject(error)
    }
    req.on('data', (chunk: Buffer) => {
      if (done) return
      seen += chunk.length
      if (seen > maxBodyBytes) return fail(new HttpError(413, 'Request body too large'))
      if (!bb.write(chunk)) req.pause()
    })
    req.on('end', () => {
      if (!done) bb.end()
    })
    req.on('close', () => {
      if (!req.complete) fail(new ConnectionLost('connection lost mid-body'))
    })
    bb.on('drain', () => {
      if (!done) req.resume()
    })
    bb.on('error', (error: Error) => {
      fail(new HttpError(400, `Malformed multipart body: ${error.message}`))
    })
    bb.on('finish', () => {
      done = true
      resolve()
    })
  })
}

/** Writes the part in place; bytes past `fileSize` are read and dropped, and the write refused. */
async function writePart(
  session: KalaSession,
  mode: WriteMode,
  stream: Readable,
  onBreak: { readonly afterBytes: number; readonly fire: () => void } | undefined,
  refuse: (message: string) => void,
): Promise<void> {
  let written = 0
  let overflow = false
  let handle
  try {
    handle = await open(session.path, 'r+')
  } catch (error) {
    stream.resume()
    throw error
  }
  try {
    if (mode === 'WRITE') {
      await handle.truncate(0)
      session.size = 0
    }
    for await (const data of stream as AsyncIterable<Buffer>) {
      let chunk = data
      if (overflow) continue
      if (session.size + chunk.length > session.fileSize) {
        overflow = true
        continue
      }
      if (onBreak && written + chunk.length >= onBreak.afterBytes) {
        chunk = chunk.subarray(0, onBreak.afterBytes - written)
        await handle.write(chunk, 0, chunk.length, session.size)
        session.size += chunk.length
        onBreak.fire()
        return
      }
      await handle.write(chunk, 0, chunk.length, session.size)
      session.size += chunk.length
      written += chunk.length
    }
  } finally {
    await handle.close()
  }
  if (overflow) refuse('Write exceeds the declared file size')
}
