/**
 * Perkeep's canonical schema JSON: byte for byte what Go's `json.MarshalIndent(m, "", "  ")`
 * writes for the map without `camliVersion`, with the leading `{\n` replaced by
 * `{"camliVersion": 1,\n`. The same map must give the same bytes as Perkeep's own tools, or the
 * blobrefs (and so dedup with other Perkeep clients) differ.
 */

/** A field whose value is a UTF-8 string, or a Perkeep "mixed array" for bytes that are not. */
export type MixedArray = (string | number)[]

/** The file-name member of a schema map: `fileName`, or `fileNameBytes` when not valid UTF-8. */
export type FileNameField = { fileName: string } | { fileNameBytes: MixedArray }

/** The target member of a symlink map: `symlinkTarget`, or `symlinkTargetBytes`. */
export type SymlinkTargetField = { symlinkTarget: string } | { symlinkTargetBytes: MixedArray }

/**
 * Serialises a schema map canonically. Keys are sorted by their UTF-8 bytes at every level;
 * members whose value is `undefined` are left out; numbers must be finite.
 */
export function canonicalJson(map: Readonly<Record<string, unknown>>): string {
  const version = map['camliVersion'] ?? 1
  const rest: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(map)) {
    if (key !== 'camliVersion') rest[key] = value
  }
  const body = encodeValue(rest, '')
  // Go writes the version with %v after deleting it from the map; `jsonBytes[2:]` drops "{\n".
  return `{"camliVersion": ${encodeValue(version, '')},\n${body.slice(2)}`
}

/** Encodes one string as Go's encoding/json does (HTML-safe, Go 1.22+ short escapes). */
export function goJsonString(text: string): string {
  if (!NEEDS_ESCAPE.test(text)) return `"${text}"`
  let out = '"'
  let last = 0
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    let replacement: string
    if (code < 0x20) {
      replacement = CONTROL_ESCAPES[code] ?? `\\u00${code.toString(16).padStart(2, '0')}`
    } else if (code === 0x22) {
      replacement = '\\"'
    } else if (code === 0x5c) {
      replacement = '\\\\'
    } else if (
      code === 0x3c ||
      code === 0x3e ||
      code === 0x26 ||
      code === 0x2028 ||
      code === 0x2029
    ) {
      replacement = `\\u${code.toString(16).padStart(4, '0')}`
    } else if (code >= 0xd800 && code <= 0xdfff) {
      const next = text.charCodeAt(i + 1)
      if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        i++
        continue
      }
      // A lone surrogate has no UTF-8 form; Go writes invalid text as U+FFFD.
      replacement = '\\ufffd'
    } else {
      continue
    }
    out += text.slice(last, i) + replacement
    last = i + 1
  }
  return `${out}${text.slice(last)}"`
}

/** Compares two strings by their UTF-8 bytes, as Go compares strings. */
export function compareUtf8(a: string, b: string): number {
  if (a === b) return 0
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

/**
 * Splits bytes into Perkeep's mixed array: runs of valid UTF-8 as strings, each invalid byte as
 * its number (Go's `mixedArrayFromString`). Returns undefined when all the bytes are valid UTF-8.
 */
export function mixedArrayOf(bytes: Uint8Array): MixedArray | undefined {
  const parts: MixedArray = []
  let runStart = 0
  let i = 0
  let invalid = false
  while (i < bytes.length) {
    const length = utf8SequenceLength(bytes, i)
    if (length > 0) {
      i += length
      continue
    }
    invalid = true
    if (i > runStart) parts.push(Buffer.from(bytes.subarray(runStart, i)).toString('utf8'))
    parts.push(bytes[i] as number)
    i++
    runStart = i
  }
  if (!invalid) return undefined
  if (runStart < bytes.length) parts.push(Buffer.from(bytes.subarray(runStart)).toString('utf8'))
  return parts
}

/** The file-name member for a name given as text or as the raw bytes the file system holds. */
export function fileNameField(name: string | Uint8Array): FileNameField {
  if (typeof name === 'string') return { fileName: name }
  const mixed = mixedArrayOf(name)
  return mixed === undefined
    ? { fileName: Buffer.from(name).toString('utf8') }
    : { fileNameBytes: mixed }
}

/** The symlink-target member for a target given as text or as raw bytes. */
export function symlinkTargetField(target: string | Uint8Array): SymlinkTargetField {
  if (typeof target === 'string') return { symlinkTarget: target }
  const mixed = mixedArrayOf(target)
  return mixed === undefined
    ? { symlinkTarget: Buffer.from(target).toString('utf8') }
    : { symlinkTargetBytes: mixed }
}

// Go 1.22+ writes \b and \f; older Go wrote \u0008 and \u000c.
const CONTROL_ESCAPES: Readonly<Record<number, string>> = {
  0x08: '\\b',
  0x09: '\\t',
  0x0a: '\\n',
  0x0c: '\\f',
  0x0d: '\\r',
}

// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /[\u0000-\u001f"\\<>&\u2028\u2029\ud800-\udfff]/

function encodeValue(value: unknown, indent: string): string {
  switch (typeof value) {
    case 'string':
      return goJsonString(value)
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: unsupported number ${value}`)
      return String(value)
    case 'bigint':
      return value.toString()
    case 'boolean':
      return value ? 'true' : 'false'
    case 'object':
      if (value === null) return 'null'
      if (Array.isArray(value)) return encodeArray(value, indent)
      if (isPlainObject(value)) return encodeObject(value, indent)
      break
  }
  throw new TypeError(`canonicalJson: unsupported value of type ${typeof value}`)
}

function encodeArray(items: readonly unknown[], indent: string): string {
  if (items.length === 0) return '[]'
  const inner = indent + '  '
  let out = '['
  for (let i = 0; i < items.length; i++) {
    if (items[i] === undefined) throw new TypeError('canonicalJson: undefined array element')
    out += `${i === 0 ? '' : ','}\n${inner}${encodeValue(items[i], inner)}`
  }
  return `${out}\n${indent}]`
}

function encodeObject(map: Readonly<Record<string, unknown>>, indent: string): string {
  const keys = Object.keys(map)
    .filter((key) => map[key] !== undefined)
    .sort(compareUtf8)
  if (keys.length === 0) return '{}'
  const inner = indent + '  '
  let out = '{'
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string
    out += `${i === 0 ? '' : ','}\n${inner}${goJsonString(key)}: ${encodeValue(map[key], inner)}`
  }
  return `${out}\n${indent}}`
}

function isPlainObject(value: object): value is Record<string, unknown> {
  const proto: unknown = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

// Length of the valid UTF-8 sequence starting at `i`, or 0 if invalid (Go's utf8 rules:
// no overlongs, no surrogates, nothing above U+10FFFF).
function utf8SequenceLength(bytes: Uint8Array, i: number): number {
  const b0 = bytes[i] as number
  if (b0 < 0x80) return 1
  const b1 = bytes[i + 1] ?? 0
  if (b0 >= 0xc2 && b0 <= 0xdf) return isCont(b1) ? 2 : 0
  const b2 = bytes[i + 2] ?? 0
  if (b0 >= 0xe0 && b0 <= 0xef) {
    const lo = b0 === 0xe0 ? 0xa0 : 0x80
    const hi = b0 === 0xed ? 0x9f : 0xbf
    return b1 >= lo && b1 <= hi && isCont(b2) ? 3 : 0
  }
  const b3 = bytes[i + 3] ?? 0
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    const lo = b0 === 0xf0 ? 0x90 : 0x80
    const hi = b0 === 0xf4 ? 0x8f : 0xbf
    return b1 >= lo && b1 <= hi && isCont(b2) && isCont(b3) ? 4 : 0
  }
  return 0
}

function isCont(byte: number): boolean {
  return byte >= 0x80 && byte <= 0xbf
}
