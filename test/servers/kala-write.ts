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
import { closeSync, ftruncateSync, openSync, writeSync } from 'node:fs'
import { truncate } from 'node:fs/promises'
import type { Readable } from 'node:stream'
import busboy from 'busboy'
import type { Busboy } from 'busboy'
import { ConnectionLost, feedBusboy, HttpError } from './kit.ts'
import type { KalaSession, SessionMark } from './kala-sessions.ts'

type WriteMode = 'WRITE' | 'APPEND'

/** How a write ended: answered with the new size, or cut off (no answer can be sent). */
export type WriteResult = { readonly ok: true; readonly size: number } | { readonly ok: false }

export interface WriteOptions {
  readonly maxBodyBytes: number
  /** Fault: write this many bytes of the `file` part, then destroy the connection. */
  readonly breakAfterBytes?: number
}

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
  let start: SessionMark | undefined
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
    start = session.mark(mode)
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
    await feedBusboy(req, bb, options.maxBodyBytes)
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
    if (start !== undefined) {
      await truncate(session.path, start.size)
      session.undo(start)
    }
    throw error instanceof HttpError ? error : new HttpError(500, String(error))
  }
  if (mode === undefined) throw new HttpError(400, 'Field "mode" is required')
  if (!sawFile) throw new HttpError(400, 'Part "file" is required')
  return { ok: true, size: session.size }
}

/**
 * Writes the part in place, each chunk as it arrives (so a dropped connection leaves exactly what
 * came), feeding the session's running hash with exactly the bytes written. Bytes past `fileSize`
 * are read and dropped, and the write refused. Synchronous writes on purpose: one per ~64 KiB
 * chunk, and a thread-pool round trip each would cost more CPU than the copy itself.
 */
async function writePart(
  session: KalaSession,
  mode: WriteMode,
  stream: Readable,
  onBreak: { readonly afterBytes: number; readonly fire: () => void } | undefined,
  refuse: (message: string) => void,
): Promise<void> {
  let written = 0
  let overflow = false
  let fd: number
  try {
    fd = openSync(session.path, 'r+')
  } catch (error) {
    stream.resume()
    throw error
  }
  const put = (chunk: Buffer): void => {
    try {
      writeAll(fd, chunk, session.size)
    } catch (error) {
      // Part of the chunk may be on disk: cut back to what is known, or stop trusting the hash.
      try {
        ftruncateSync(fd, session.size)
      } catch {
        session.unsure()
      }
      throw error
    }
    session.wrote(chunk)
  }
  try {
    if (mode === 'WRITE') {
      ftruncateSync(fd, 0)
      session.emptied()
    }
    let cut = false
    // Past a refusal or the break, keep reading: busboy only finishes once every part is read.
    for await (const data of stream as AsyncIterable<Buffer>) {
      if (overflow || cut) continue
      if (session.size + data.length > session.fileSize) {
        overflow = true
        continue
      }
      if (onBreak && written + data.length >= onBreak.afterBytes) {
        put(data.subarray(0, onBreak.afterBytes - written))
        cut = true
        onBreak.fire()
        continue
      }
      put(data)
      written += data.length
    }
  } finally {
    closeSync(fd)
  }
  if (overflow) refuse('Write exceeds the declared file size')
}

function writeAll(fd: number, chunk: Buffer, position: number): void {
  for (let done = 0; done < chunk.length;) {
    done += writeSync(fd, chunk, done, chunk.length - done, position + done)
  }
}
