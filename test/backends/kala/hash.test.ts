import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { kalaHash, kalaHashFromHex, parseKalaHash } from '../../../main/backends/kala/hash.ts'

const sha256 = (text: string): Buffer => createHash('sha256').update(text).digest()

// Vectors from PROTOCOLS.md §2.2.
const EMPTY = 'sha256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='
const HELLO = 'sha256:uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek='

describe('kalaHash', () => {
  it('matches the protocol vectors', () => {
    expect(kalaHash(sha256(''))).toBe(EMPTY)
    expect(kalaHash(sha256('hello world'))).toBe(HELLO)
  })

  it('accepts a digest that is a view into a larger buffer', () => {
    const digest = sha256('hello world')
    const backing = new Uint8Array(100)
    backing.set(digest, 40)
    expect(kalaHash(backing.subarray(40, 72))).toBe(HELLO)
  })

  it('rejects anything but 32 bytes', () => {
    expect(() => kalaHash(new Uint8Array(31))).toThrow(RangeError)
    expect(() => kalaHash(new Uint8Array(33))).toThrow(RangeError)
  })
})

describe('kalaHashFromHex', () => {
  it('matches the protocol vectors from hex, in either case', () => {
    expect(kalaHashFromHex(sha256('').toString('hex'))).toBe(EMPTY)
    expect(kalaHashFromHex(sha256('hello world').toString('hex').toUpperCase())).toBe(HELLO)
  })

  it('rejects malformed hex', () => {
    expect(() => kalaHashFromHex('abc')).toThrow(RangeError)
    expect(() => kalaHashFromHex('z'.repeat(64))).toThrow(RangeError)
  })
})

describe('parseKalaHash', () => {
  it('reads back the digest', () => {
    expect(Buffer.from(parseKalaHash(HELLO) ?? [])).toEqual(sha256('hello world'))
    expect(Buffer.from(parseKalaHash(EMPTY) ?? [])).toEqual(sha256(''))
  })

  it.each([
    ['no prefix', HELLO.slice('sha256:'.length)],
    ['another prefix', HELLO.replace('sha256:', 'sha512:')],
    ['no padding', HELLO.slice(0, -1)],
    ['url-safe alphabet', EMPTY.replace('+', '-').replace('/', '_')],
    ['hex digest', `sha256:${sha256('').toString('hex')}`],
    ['non-canonical trailing bits', EMPTY.replace('FU=', 'FV=')],
    ['too short', `sha256:${Buffer.alloc(31).toString('base64')}`],
    ['whitespace', `${HELLO} `],
  ])('rejects %s', (_label, value) => {
    expect(parseKalaHash(value)).toBeUndefined()
  })
})
