/**
 * Kala's `hash` field (PROTOCOLS.md §2.2): `sha256:` followed by the standard, padded base64 of
 * the raw 32-byte digest.
 */

const PREFIX = 'sha256:'
const DIGEST_BYTES = 32

/** Formats a raw sha256 digest the way Kala expects it in a session's `hash`. */
export function kalaHash(sha256Digest: Uint8Array): string {
  if (sha256Digest.length !== DIGEST_BYTES) {
    throw new RangeError(`a sha256 digest has ${DIGEST_BYTES} bytes, got ${sha256Digest.length}`)
  }
  const bytes = Buffer.from(sha256Digest.buffer, sha256Digest.byteOffset, sha256Digest.byteLength)
  return PREFIX + bytes.toString('base64')
}

/** Same as `kalaHash`, from the lowercase or uppercase hex form the index stores. */
export function kalaHashFromHex(sha256Hex: string): string {
  if (!/^[0-9a-f]{64}$/i.test(sha256Hex)) {
    throw new RangeError('a sha256 hex digest has 64 hex digits')
  }
  return kalaHash(Buffer.from(sha256Hex, 'hex'))
}

/**
 * Reads a Kala hash back into its digest, strictly: the prefix, the standard alphabet, the
 * padding and canonical trailing bits are all required. Returns undefined for anything else.
 */
export function parseKalaHash(value: string): Uint8Array | undefined {
  if (!value.startsWith(PREFIX)) return undefined
  const text = value.slice(PREFIX.length)
  // 32 bytes are 43 base64 digits and one '='; Buffer's decoder alone would accept far more.
  if (!/^[A-Za-z0-9+/]{43}=$/.test(text)) return undefined
  const digest = Buffer.from(text, 'base64')
  // The round trip rejects non-zero bits in the last digit, which would decode the same.
  if (digest.length !== DIGEST_BYTES || digest.toString('base64') !== text) return undefined
  return new Uint8Array(digest)
}
