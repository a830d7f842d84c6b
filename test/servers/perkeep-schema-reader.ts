/**
 * Reads Perkeep schema blobs back out of the reference server's store (PROTOCOLS.md §3.5), so
 * end-to-end tests can prove the server holds exactly the local tree: a `file` reassembles to the
 * local bytes, a `directory` lists the local entries. Every size a schema claims is checked
 * against what is stored; anything missing or inconsistent throws.
 */
import { createHash } from 'node:crypto'
import type { BlobStore } from './perkeep-blob-store.ts'
import { MAX_SCHEMA_SIZE, refHash } from './perkeep-blob-store.ts'

/** A parsed schema blob. */
export type Schema = Readonly<Record<string, unknown>> & { readonly camliType: string }

/** One entry of a directory tree as the server holds it. */
export interface TreeNode {
  readonly name: string
  readonly type: 'file' | 'directory' | 'symlink'
  /** The entry's own schema blob. */
  readonly ref: string
  /** Same as `ref` for files, so tests can feed it to `fileBytes`. */
  readonly fileRef?: string
  /** File size in bytes (files only). */
  readonly size?: number
  readonly symlinkTarget?: string
  /** Directory members in static-set order (directories only). */
  readonly children?: readonly TreeNode[]
  readonly schema: Schema
}

interface Part {
  readonly blobRef?: string
  readonly bytesRef?: string
  readonly size: number
  readonly offset: number
}

// Canonical schema blobs start this way (§3.5); Perkeep itself sniffs for the prefix.
const SCHEMA_PREFIX = '{"camliVersion": 1,\n'
const MAX_DEPTH = 64

/** Parses a stored schema blob, optionally requiring its camliType. */
export async function readSchema(store: BlobStore, ref: string, type?: string): Promise<Schema> {
  const size = store.size(ref)
  if (size === undefined) throw new Error(`schema blob ${ref} is not stored`)
  if (size > MAX_SCHEMA_SIZE) throw new Error(`schema blob ${ref} is ${size} bytes, over 1 MiB`)
  const text = (await store.read(ref)).toString('utf8')
  if (!text.startsWith(SCHEMA_PREFIX)) throw new Error(`blob ${ref} is not a canonical schema blob`)
  const value: unknown = JSON.parse(text)
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`schema blob ${ref} is not a JSON object`)
  }
  const schema = value as Record<string, unknown>
  if (schema.camliVersion !== 1) throw new Error(`schema blob ${ref} has no camliVersion 1`)
  if (typeof schema.camliType !== 'string') throw new Error(`schema blob ${ref} has no camliType`)
  if (type !== undefined && schema.camliType !== type) {
    throw new Error(`blob ${ref} is a ${schema.camliType}, expected ${type}`)
  }
  return schema as Schema
}

/** The content of a `file` (or `bytes`) schema, chunk by chunk, checking every size. */
export async function* fileChunks(store: BlobStore, ref: string): AsyncGenerator<Buffer> {
  const schema = await readSchema(store, ref)
  if (schema.camliType !== 'file' && schema.camliType !== 'bytes') {
    throw new Error(`blob ${ref} is a ${schema.camliType}, not a file`)
  }
  yield* partsChunks(store, ref, schema, 0)
}

/** The whole content of a file (tests only; use fileDigest for big files). */
export async function fileBytes(store: BlobStore, ref: string): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of fileChunks(store, ref)) chunks.push(chunk)
  return Buffer.concat(chunks)
}

/** Size and hex digest of a file's content, streamed. */
export async function fileDigest(
  store: BlobStore,
  ref: string,
  hash: 'sha1' | 'sha224' | 'sha256' = 'sha256',
): Promise<{ size: number; digest: string }> {
  const hasher = createHash(hash)
  let size = 0
  for await (const chunk of fileChunks(store, ref)) {
    hasher.update(chunk)
    size += chunk.length
  }
  return { size, digest: hasher.digest('hex') }
}

/** The sum of a file's part sizes, after checking the whole part tree (reads no chunk data). */
export async function fileSize(store: BlobStore, ref: string): Promise<number> {
  const schema = await readSchema(store, ref)
  if (schema.camliType !== 'file' && schema.camliType !== 'bytes') {
    throw new Error(`blob ${ref} is a ${schema.camliType}, not a file`)
  }
  return checkedPartsSize(store, ref, schema, 0)
}

/** Walks `directory` → `static-set` (and its `mergeSets`) → members, recursively. */
export async function readDirectory(store: BlobStore, ref: string): Promise<TreeNode> {
  return readNode(store, ref, 0, 'directory')
}

async function readNode(
  store: BlobStore,
  ref: string,
  depth: number,
  want?: string,
): Promise<TreeNode> {
  if (depth > MAX_DEPTH) throw new Error('directory tree too deep (a cycle?)')
  const schema = await readSchema(store, ref, want)
  const name = entryName(schema, ref)
  switch (schema.camliType) {
    case 'file':
      return { name, type: 'file', ref, fileRef: ref, size: await fileSize(store, ref), schema }
    case 'symlink': {
      if (typeof schema.symlinkTarget !== 'string') throw new Error(`symlink ${ref} has no target`)
      return { name, type: 'symlink', ref, symlinkTarget: schema.symlinkTarget, schema }
    }
    case 'directory': {
      const entries = schema.entries
      if (typeof entries !== 'string' || !refHash(entries)) {
        throw new Error(`directory ${ref} has no entries ref`)
      }
      const members = await setMembers(store, entries, depth)
      const children: TreeNode[] = []
      for (const member of members) children.push(await readNode(store, member, depth + 1))
      return { name, type: 'directory', ref, children, schema }
    }
    default:
      throw new Error(`directory member ${ref} is a ${schema.camliType}`)
  }
}

async function setMembers(store: BlobStore, ref: string, depth: number): Promise<string[]> {
  if (depth > MAX_DEPTH) throw new Error('static-set nesting too deep')
  const set = await readSchema(store, ref, 'static-set')
  const members = refList(set.members ?? [], `static-set ${ref} members`)
  const merged = refList(set.mergeSets ?? [], `static-set ${ref} mergeSets`)
  if (members.length > 0 && merged.length > 0) {
    throw new Error(`static-set ${ref} has both members and mergeSets`)
  }
  const out = [...members]
  for (const sub of merged) out.push(...(await setMembers(store, sub, depth + 1)))
  return out
}

function refList(value: unknown, what: string): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && refHash(v))) {
    throw new Error(`${what} is not a list of blobrefs`)
  }
  return value as string[]
}

function entryName(schema: Schema, ref: string): string {
  if (typeof schema.fileName === 'string') return schema.fileName
  if (Array.isArray(schema.fileNameBytes)) {
    const bytes = schema.fileNameBytes.map((piece: unknown) => {
      if (typeof piece === 'string') return Buffer.from(piece, 'utf8')
      if (typeof piece === 'number' && Number.isInteger(piece) && piece >= 0 && piece < 256) {
        return Buffer.from([piece])
      }
      throw new Error(`schema ${ref} has a bad fileNameBytes entry`)
    })
    return Buffer.concat(bytes).toString('utf8')
  }
  throw new Error(`schema ${ref} has no fileName`)
}

function partsOf(schema: Schema, ref: string): Part[] {
  const parts = schema.parts
  if (!Array.isArray(parts)) throw new Error(`schema ${ref} has no parts list`)
  return parts.map((raw: unknown, i) => {
    if (typeof raw !== 'object' || raw === null)
      throw new Error(`${ref} part ${i} is not an object`)
    const part = raw as Record<string, unknown>
    const { blobRef, bytesRef, size } = part
    const offset = part.offset ?? 0
    if (!Number.isSafeInteger(size) || (size as number) < 0)
      throw new Error(`${ref} part ${i} has a bad size`)
    if (!Number.isSafeInteger(offset) || (offset as number) < 0)
      throw new Error(`${ref} part ${i} has a bad offset`)
    const isRef = (v: unknown): v is string => typeof v === 'string' && refHash(v) !== undefined
    if (isRef(blobRef) === isRef(bytesRef)) {
      throw new Error(`${ref} part ${i} needs exactly one of blobRef and bytesRef`)
    }
    return isRef(blobRef)
      ? { blobRef, size: size as number, offset: offset as number }
      : { bytesRef: bytesRef as string, size: size as number, offset: offset as number }
  })
}

async function checkedPartsSize(
  store: BlobStore,
  ref: string,
  schema: Schema,
  depth: number,
): Promise<number> {
  if (depth > MAX_DEPTH) throw new Error('bytes tree too deep (a cycle?)')
  let total = 0
  for (const part of partsOf(schema, ref)) {
    if (part.blobRef !== undefined) {
      const stored = store.size(part.blobRef)
      if (stored === undefined) throw new Error(`${ref} names missing chunk ${part.blobRef}`)
      checkSpan(ref, part, stored)
    } else {
      const bytes = await readSchema(store, part.bytesRef as string, 'bytes')
      checkSpan(ref, part, await checkedPartsSize(store, part.bytesRef as string, bytes, depth + 1))
    }
    total += part.size
  }
  return total
}

async function* partsChunks(
  store: BlobStore,
  ref: string,
  schema: Schema,
  depth: number,
): AsyncGenerator<Buffer> {
  if (depth > MAX_DEPTH) throw new Error('bytes tree too deep (a cycle?)')
  for (const part of partsOf(schema, ref)) {
    if (part.blobRef !== undefined) {
      const stored = store.size(part.blobRef)
      if (stored === undefined) throw new Error(`${ref} names missing chunk ${part.blobRef}`)
      checkSpan(ref, part, stored)
      const blob = await store.read(part.blobRef)
      yield blob.subarray(part.offset, part.offset + part.size)
    } else {
      const bytesRef = part.bytesRef as string
      const bytes = await readSchema(store, bytesRef, 'bytes')
      checkSpan(ref, part, await checkedPartsSize(store, bytesRef, bytes, depth + 1))
      let skip = part.offset
      let left = part.size
      for await (const chunk of partsChunks(store, bytesRef, bytes, depth + 1)) {
        const piece = chunk.subarray(
          Math.min(skip, chunk.length),
          Math.min(chunk.length, skip + left),
        )
        skip = Math.max(0, skip - chunk.length)
        left -= piece.length
        if (piece.length > 0) yield piece
        if (left === 0) break
      }
    }
  }
}

// Without an offset a part must cover its target exactly; with one it must fit inside it.
function checkSpan(ref: string, part: Part, targetSize: number): void {
  const target = part.blobRef ?? part.bytesRef
  const fits = part.offset === 0 ? part.size === targetSize : part.offset + part.size <= targetSize
  if (!fits) {
    throw new Error(
      `${ref} says ${target} has ${part.size} bytes at offset ${part.offset}, but it holds ${targetSize}`,
    )
  }
}
