import { describe, expect, it } from 'vitest'
import {
  MAX_BLOB_SIZE,
  MAX_SCHEMA_BLOB,
  isBlobRef,
  parseBlobRef,
  refOf,
  sha224Ref,
} from '../../../main/backends/perkeep/blobref.ts'

describe('blobrefs', () => {
  it('matches the contract vectors', () => {
    expect(sha224Ref(new Uint8Array(0))).toBe(
      'sha224-d14a028c2a3a2bc9476102bb288234c415a2b01f828ea62ac5b3e42f',
    )
    expect(sha224Ref('')).toBe(sha224Ref(Buffer.alloc(0)))
    expect(refOf('sha1', 'foo')).toBe('sha1-0beec7b5ea3f0fdbc95d0dd47f3c5bc275da8a33')
    expect(refOf('sha256', '')).toBe(
      'sha256-e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    )
  })

  it('has the contract limits', () => {
    expect(MAX_BLOB_SIZE).toBe(16_777_216)
    expect(MAX_SCHEMA_BLOB).toBe(1_048_576)
  })

  it('parses sha1, sha224 and sha256 refs of the right length', () => {
    expect(parseBlobRef('sha1-0beec7b5ea3f0fdbc95d0dd47f3c5bc275da8a33')).toEqual({
      hash: 'sha1',
      hex: '0beec7b5ea3f0fdbc95d0dd47f3c5bc275da8a33',
      ref: 'sha1-0beec7b5ea3f0fdbc95d0dd47f3c5bc275da8a33',
    })
    expect(isBlobRef(sha224Ref('x'))).toBe(true)
    expect(isBlobRef(refOf('sha256', 'x'))).toBe(true)
  })

  it.each([
    ['wrong length for sha224', `sha224-${'a'.repeat(64)}`],
    ['wrong length for sha1', `sha1-${'a'.repeat(56)}`],
    ['uppercase hex', `sha1-${'A'.repeat(40)}`],
    ['unknown hash', `md5-${'a'.repeat(32)}`],
    ['no dash', `sha1${'a'.repeat(40)}`],
    ['trailing text', `sha1-${'a'.repeat(40)}\n`],
    ['empty', ''],
  ])('rejects %s', (_name, text) => {
    expect(parseBlobRef(text)).toBeUndefined()
    expect(isBlobRef(text)).toBe(false)
  })
})
