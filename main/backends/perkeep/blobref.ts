import { createHash } from 'node:crypto'

/** Largest blob a Perkeep server accepts, inclusive (16 MiB). */
export const MAX_BLOB_SIZE = 16 * 1024 * 1024

/** Largest schema (JSON) blob Perkeep reads (1 MiB). */
export const MAX_SCHEMA_BLOB = 1024 * 1024

/** Hash functions a blobref may name. Ferry makes sha224 refs and accepts the others. */
export type BlobHash = 'sha1' | 'sha224' | 'sha256'

/** A parsed blobref. */
export interface ParsedBlobRef {
  readonly hash: BlobHash
  readonly hex: string
  /** The canonical text form, `<hash>-<hex>`. */
  readonly ref: string
}

const HEX_LENGTH: Readonly<Record<BlobHash, number>> = { sha1: 40, sha224: 56, sha256: 64 }
const REF_PATTERN = /^(sha1|sha224|sha256)-([0-9a-f]+)$/

/** The sha224 blobref of some bytes (a UTF-8 string counts as its bytes). */
export function sha224Ref(bytes: Uint8Array | string): string {
  return refOf('sha224', bytes)
}

/** The blobref of some bytes under the given hash; used to verify refs a server names. */
export function refOf(hash: BlobHash, bytes: Uint8Array | string): string {
  return `${hash}-${createHash(hash).update(bytes).digest('hex')}`
}

/** Parses a blobref, or returns undefined when it is not a sha1/sha224/sha256 ref. */
export function parseBlobRef(text: string): ParsedBlobRef | undefined {
  const match = REF_PATTERN.exec(text)
  if (match === null) return undefined
  const hash = match[1] as BlobHash
  const hex = match[2] as string
  if (hex.length !== HEX_LENGTH[hash]) return undefined
  return { hash, hex, ref: text }
}

/** Whether the text is a well-formed blobref Ferry understands. */
export function isBlobRef(text: string): boolean {
  return parseBlobRef(text) !== undefined
}
