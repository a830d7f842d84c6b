import { randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { FileChangedError, LocalFileError } from '../errors.ts'
import { readSizeFor } from '../local-file.ts'
import type { BodySource } from './client.ts'

/** Where a part's bytes come from: a byte range of a file on disk, or bytes in memory. */
export type PartSource =
  | { readonly path: string; readonly start?: number; readonly length: number }
  | { readonly bytes: Uint8Array }
  /** Bytes produced on demand (opened again for each attempt); must yield exactly `length`. */
  | { readonly length: number; readonly read: () => AsyncIterable<Uint8Array> }

export interface Part {
  readonly name: string
  readonly filename?: string
  readonly contentType?: string
  readonly source: PartSource
}

const CRLF = Buffer.from('\r\n')

/**
 * A multipart/form-data body streamed from disk with backpressure: bytes are read only as the
 * socket takes them, so memory does not grow with file size (undici's FormData would read whole
 * files). The length is known up front, so the request carries a Content-Length.
 */
export function multipartBody(
  parts: readonly Part[],
  options: {
    /** After each piece of a part goes out: how many of its bytes went out in this opening. */
    readonly onPartProgress?: (partIndex: number, sent: number) => void
  } = {},
): BodySource & { readonly boundary: string } {
  const boundary = `----FerryBoundary${randomBytes(12).toString('hex')}`
  const heads = parts.map((part) => Buffer.from(partHead(boundary, part)))
  const tail = Buffer.from(`--${boundary}--\r\n`)
  let length = tail.length
  parts.forEach((part, i) => {
    length += (heads[i]?.length ?? 0) + sourceLength(part.source) + CRLF.length
  })
  return {
    boundary,
    length,
    contentType: `multipart/form-data; boundary=${boundary}`,
    async *open() {
      for (const [i, part] of parts.entries()) {
        yield heads[i] as Buffer
        let sent = 0
        for await (const chunk of readSource(part.source)) {
          yield chunk
          // Reported once the consumer asks for more, i.e. as the socket takes the bytes.
          sent += chunk.byteLength
          options.onPartProgress?.(i, sent)
        }
        yield CRLF
      }
      yield tail
    },
  }
}

/** The byte count a source contributes. */
export function sourceLength(source: PartSource): number {
  return 'bytes' in source ? source.bytes.byteLength : source.length
}

/**
 * Streams a part's bytes. A file that has shrunk since it was measured is an error (the
 * Content-Length would lie); one that grew is cut at the measured length, and the caller's
 * after-upload stat notices the change.
 */
export async function* readSource(source: PartSource): AsyncIterable<Uint8Array> {
  if ('bytes' in source) {
    if (source.bytes.byteLength > 0) yield source.bytes
    return
  }
  if ('read' in source) {
    yield* source.read()
    return
  }
  if (source.length === 0) return
  const start = source.start ?? 0
  const stream = createReadStream(source.path, {
    start,
    end: start + source.length - 1,
    highWaterMark: readSizeFor(source.length),
  })
  let read = 0
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      read += chunk.length
      yield chunk
    }
  } catch (error) {
    throw new LocalFileError(`Cannot read ${source.path}: ${(error as Error).message}`, {
      cause: error,
    })
  } finally {
    stream.destroy()
  }
  if (read !== source.length) {
    throw new FileChangedError(`${source.path} changed while it was being sent (it shrank)`)
  }
}

function partHead(boundary: string, part: Part): string {
  let disposition = `form-data; name="${escapeQuoted(part.name)}"`
  if (part.filename !== undefined) {
    disposition += `; filename="${escapeQuoted(part.filename)}"`
    // Quotes, backslashes and line breaks do not survive every parser in a quoted string;
    // RFC 5987's extended form does, and parsers that know it (busboy, multer) prefer it.
    if (/["\\\r\n]/.test(part.filename)) {
      disposition += `; filename*=UTF-8''${encodeRfc5987(part.filename)}`
    }
  }
  const type = part.contentType ?? 'application/octet-stream'
  return `--${boundary}\r\nContent-Disposition: ${disposition}\r\nContent-Type: ${type}\r\n\r\n`
}

// As browsers do for FormData (WHATWG HTML "multipart/form-data encoding algorithm").
function escapeQuoted(value: string): string {
  return value.replace(/"/g, '%22').replace(/\r/g, '%0D').replace(/\n/g, '%0A')
}

function encodeRfc5987(value: string): string {
  return encodeURIComponent(value).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  )
}
