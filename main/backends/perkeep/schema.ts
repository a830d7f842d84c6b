import { PermanentError } from '../errors.ts'
import { MAX_SCHEMA_BLOB, sha224Ref } from './blobref.ts'
import {
  canonicalJson,
  compareUtf8,
  fileNameField,
  symlinkTargetField,
  type FileNameField,
} from './canonical-json.ts'
import type { Chunk } from './chunker.ts'

/** A content chunk to upload: its bytes are re-read from the file at `offset`. */
export interface RangeBlob {
  readonly kind: 'range'
  readonly ref: string
  readonly offset: number
  readonly size: number
}

/** A schema (JSON) blob to upload, with its bytes. */
export interface SchemaBlob {
  readonly kind: 'schema'
  readonly ref: string
  readonly size: number
  readonly bytes: Buffer
}

/** A blob to upload, in the order Perkeep's own client uploads them. */
export type UploadBlob = RangeBlob | SchemaBlob

/** A file's blobs: chunks, then bytes schema blobs innermost first, then the file schema. */
export interface FileSchemaBlobs {
  readonly fileRef: string
  readonly blobs: readonly UploadBlob[]
}

/** Most members one static-set holds before Perkeep spreads them over `mergeSets` sub-sets. */
export const MAX_STATIC_SET_MEMBERS = 10_000

/** Serialises a schema map canonically and names it by its sha224. */
export function schemaBlob(map: Readonly<Record<string, unknown>>): SchemaBlob {
  const bytes = Buffer.from(canonicalJson(map), 'utf8')
  if (bytes.length > MAX_SCHEMA_BLOB) {
    throw new PermanentError(
      `Schema blob of ${bytes.length} bytes is over Perkeep's ${MAX_SCHEMA_BLOB}-byte limit`,
    )
  }
  return { kind: 'schema', ref: sha224Ref(bytes), size: bytes.length, bytes }
}

// A chunk once its children are known, as it appears in its parent's parts list: its lone leaf
// child or a bytes blob of its children (Perkeep's addBytesParts), then the chunk itself.
interface Span {
  readonly bits: number
  readonly leaf: boolean
  readonly parts: readonly Part[]
  /** Bytes of the chunk and everything under it. */
  readonly size: number
}

/**
 * Perkeep's chunk tree, built as chunks arrive: at each cut, the trailing spans whose bits are
 * strictly lower than the new cut's become its children (they precede it in the file). A span's
 * children never change once it is cut, so their bytes blob is made right away and only the
 * parts that name it are kept: memory grows with the schema, not with the chunk objects.
 */
export class ChunkTree {
  readonly #spans: Span[] = []
  // Chunks in file order, for the range blobs; not kept when only schema blobs are wanted.
  readonly #chunks: Chunk[] | undefined
  readonly #bytesBlobs: SchemaBlob[] = []
  #size = 0

  constructor(options: { readonly keepChunks?: boolean } = {}) {
    this.#chunks = (options.keepChunks ?? true) ? [] : undefined
  }

  /** Adds the next chunk of the file; chunks must arrive in file order. */
  add(chunk: Chunk): void {
    if (chunk.offset !== this.#size || chunk.size <= 0) {
      throw new Error(`ChunkTree: chunk at ${chunk.offset} does not follow byte ${this.#size}`)
    }
    const spans = this.#spans
    let from = spans.length
    while (from > 0 && (spans[from - 1] as Span).bits < chunk.bits) from--
    const children = spans.splice(from)
    const own: Part = { blobRef: chunk.ref, size: chunk.size }
    const only = children.length === 1 ? (children[0] as Span) : undefined
    let span: Span
    if (children.length === 0) {
      span = { bits: chunk.bits, leaf: true, parts: [own], size: chunk.size }
    } else if (only?.leaf) {
      // A lone leaf child is promoted to a plain part.
      span = {
        bits: chunk.bits,
        leaf: false,
        parts: [...only.parts, own],
        size: only.size + chunk.size,
      }
    } else {
      // Other children go into a "bytes" blob, made (and so pushed) before any blob naming it.
      let inner = 0
      for (const child of children) inner += child.size
      const bytes = schemaBlob({
        camliVersion: 1,
        camliType: 'bytes',
        parts: children.flatMap((child) => child.parts),
      })
      this.#bytesBlobs.push(bytes)
      span = {
        bits: chunk.bits,
        leaf: false,
        parts: [{ bytesRef: bytes.ref, size: inner }, own],
        size: inner + chunk.size,
      }
    }
    spans.push(span)
    this.#chunks?.push(chunk)
    this.#size += chunk.size
  }

  /** Bytes covered so far. */
  get size(): number {
    return this.#size
  }

  /**
   * The blobs of a file whose chunks were all added. `fields` are the file map's members other
   * than camliVersion, camliType and parts (fileName, unix attributes…). Without kept chunks,
   * only the schema blobs.
   */
  fileBlobs(fields: Readonly<Record<string, unknown>>): FileSchemaBlobs {
    const parts = this.#spans.flatMap((span) => span.parts)
    const file = schemaBlob({ ...fields, camliVersion: 1, camliType: 'file', parts })
    const blobs: UploadBlob[] = []
    const seen = new Set<string>()
    // A file can repeat a chunk (runs of zeros) or a bytes blob; each is uploaded once.
    const add = (blob: UploadBlob): void => {
      if (seen.has(blob.ref)) return
      seen.add(blob.ref)
      blobs.push(blob)
    }
    for (const chunk of this.#chunks ?? []) {
      add({ kind: 'range', ref: chunk.ref, offset: chunk.offset, size: chunk.size })
    }
    for (const blob of this.#bytesBlobs) add(blob)
    add(file)
    return { fileRef: file.ref, blobs }
  }
}

/** The blobs of a file from its complete chunk list (see ChunkTree.fileBlobs for `fields`). */
export function fileBlobsFromChunks(
  chunks: Iterable<Chunk>,
  fields: Readonly<Record<string, unknown>>,
): FileSchemaBlobs {
  const tree = new ChunkTree()
  for (const chunk of chunks) tree.add(chunk)
  return tree.fileBlobs(fields)
}

/** A static-set and the sub-sets it merges, in upload order (sub-sets first, the set last). */
export interface StaticSetBlobs {
  readonly ref: string
  readonly blobs: readonly SchemaBlob[]
}

/**
 * A directory's static-set. Members must already be in order (see sortStaticSetEntries). Over
 * `maxMembers` members, they are spread over sub-sets listed in `mergeSets`, exactly as
 * Perkeep's `SetStaticSetMembers` spreads them (recursively for huge directories).
 */
export function staticSetBlobs(
  memberRefs: readonly string[],
  maxMembers: number = MAX_STATIC_SET_MEMBERS,
): StaticSetBlobs {
  const blobs: SchemaBlob[] = []
  const top = buildStaticSet(memberRefs, maxMembers, blobs)
  blobs.push(top)
  return { ref: top.ref, blobs }
}

/** A directory entry as the static-set order needs it. */
export interface StaticSetEntry {
  readonly name: string | Uint8Array
  readonly isDirectory: boolean
}

/** Perkeep's member order: non-folders before folders, each group by name bytes. */
export function compareStaticSetEntries(a: StaticSetEntry, b: StaticSetEntry): number {
  if (a.isDirectory !== b.isDirectory) return a.isDirectory ? 1 : -1
  if (typeof a.name === 'string' && typeof b.name === 'string') return compareUtf8(a.name, b.name)
  return Buffer.compare(nameBytes(a.name), nameBytes(b.name))
}

/** A sorted copy of the entries, in Perkeep's static-set member order. */
export function sortStaticSetEntries<T extends StaticSetEntry>(entries: readonly T[]): T[] {
  return [...entries].sort(compareStaticSetEntries)
}

/** A `directory` schema blob; `unixFields` come from unixFields(stat, 'directory'). */
export function directoryBlob(
  name: string | Uint8Array,
  entriesRef: string,
  unixFields: Readonly<Record<string, unknown>> = {},
): SchemaBlob {
  return schemaBlob({
    ...unixFields,
    ...nameField(name),
    camliVersion: 1,
    camliType: 'directory',
    entries: entriesRef,
  })
}

/** A `symlink` schema blob; `unixFields` come from unixFields(stat, 'symlink'). */
export function symlinkBlob(
  name: string | Uint8Array,
  target: string | Uint8Array,
  unixFields: Readonly<Record<string, unknown>> = {},
): SchemaBlob {
  return schemaBlob({
    ...unixFields,
    ...nameField(name),
    ...symlinkTargetField(target),
    camliVersion: 1,
    camliType: 'symlink',
  })
}

/** The fileName/fileNameBytes member, or none for an empty name (as Perkeep leaves it out). */
export function nameField(name: string | Uint8Array): FileNameField | Record<string, never> {
  return name.length === 0 ? {} : fileNameField(name)
}

interface Part {
  readonly blobRef?: string
  readonly bytesRef?: string
  readonly size: number
}

function buildStaticSet(members: readonly string[], max: number, out: SchemaBlob[]): SchemaBlob {
  if (members.length <= max) {
    return schemaBlob({ camliVersion: 1, camliType: 'static-set', members: [...members] })
  }
  let subsetCount = Math.floor(members.length / max)
  let perSubset = max
  if (subsetCount >= max) {
    // Too many full sub-sets for one level: spread evenly over max - 1 of them, each of which
    // splits again; the remainder goes to one last sub-set.
    subsetCount = max - 1
    perSubset = Math.floor(members.length / subsetCount)
  }
  const mergeSets: string[] = []
  for (let i = 0; i < subsetCount; i++) {
    const subset = buildStaticSet(members.slice(i * perSubset, (i + 1) * perSubset), max, out)
    out.push(subset)
    mergeSets.push(subset.ref)
  }
  if (perSubset * subsetCount < members.length) {
    const rest = buildStaticSet(members.slice(perSubset * subsetCount), max, out)
    out.push(rest)
    mergeSets.push(rest.ref)
  }
  return schemaBlob({ camliVersion: 1, camliType: 'static-set', mergeSets })
}

function nameBytes(name: string | Uint8Array): Uint8Array {
  return typeof name === 'string' ? Buffer.from(name, 'utf8') : name
}
