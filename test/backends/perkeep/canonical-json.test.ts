import { describe, expect, it } from 'vitest'
import {
  canonicalJson,
  compareUtf8,
  fileNameField,
  goJsonString,
  mixedArrayOf,
  symlinkTargetField,
} from '../../../main/backends/perkeep/canonical-json.ts'

describe('canonicalJson', () => {
  it('serialises the claim vector of the contract (Perkeep TestAttribute)', () => {
    const json = canonicalJson({
      camliVersion: 1,
      camliType: 'claim',
      claimDate: '1970-01-01T00:02:03.000000456Z',
      claimType: 'set-attribute',
      permaNode: 'xxx-1234',
      attribute: 'attr1',
      value: 'val1',
    })
    expect(json).toBe(`{"camliVersion": 1,
  "attribute": "attr1",
  "camliType": "claim",
  "claimDate": "1970-01-01T00:02:03.000000456Z",
  "claimType": "set-attribute",
  "permaNode": "xxx-1234",
  "value": "val1"
}`)
  })

  it('indents nested arrays of objects like Go (Perkeep multi-claim test)', () => {
    const json = canonicalJson({
      camliVersion: 1,
      claimType: 'multi',
      claimDate: '1970-01-01T00:02:03.000000456Z',
      camliType: 'claim',
      claims: [
        { value: 'bar', permaNode: 'xxx-1234', claimType: 'set-attribute', attribute: 'foo' },
        {
          value: 'specific-del',
          attribute: 'foo',
          claimType: 'del-attribute',
          permaNode: 'xxx-1234',
        },
        { permaNode: 'xxx-1234', attribute: 'foo', claimType: 'del-attribute' },
      ],
    })
    expect(json).toBe(`{"camliVersion": 1,
  "camliType": "claim",
  "claimDate": "1970-01-01T00:02:03.000000456Z",
  "claimType": "multi",
  "claims": [
    {
      "attribute": "foo",
      "claimType": "set-attribute",
      "permaNode": "xxx-1234",
      "value": "bar"
    },
    {
      "attribute": "foo",
      "claimType": "del-attribute",
      "permaNode": "xxx-1234",
      "value": "specific-del"
    },
    {
      "attribute": "foo",
      "claimType": "del-attribute",
      "permaNode": "xxx-1234"
    }
  ]
}`)
  })

  it('reproduces a file schema blob byte for byte (Perkeep issue 305)', () => {
    const expected = `{"camliVersion": 1,
  "camliType": "file",
  "fileName": "2012-03-10 15.03.18.m4v",
  "parts": [
    {
      "bytesRef": "sha1-c76d8b17b887c207875e61a77b7eccc60289e61c",
      "size": 20032564
    }
  ]
}`
    const json = canonicalJson({
      parts: [{ size: 20032564, bytesRef: 'sha1-c76d8b17b887c207875e61a77b7eccc60289e61c' }],
      fileName: '2012-03-10 15.03.18.m4v',
      camliType: 'file',
      camliVersion: 1,
    })
    expect(json).toBe(expected)
  })

  it('sorts keys at every level and keeps empty arrays and objects compact', () => {
    const json = canonicalJson({
      camliVersion: 1,
      zeta: { b: 1, a: [], c: {} },
      alpha: [{ y: [[]], x: true }, null, false],
      members: [],
    })
    expect(json).toBe(`{"camliVersion": 1,
  "alpha": [
    {
      "x": true,
      "y": [
        []
      ]
    },
    null,
    false
  ],
  "members": [],
  "zeta": {
    "a": [],
    "b": 1,
    "c": {}
  }
}`)
  })

  it('sorts keys by UTF-8 bytes, not UTF-16 code units', () => {
    // UTF-16 puts U+1F600 (a surrogate pair, 0xD83D…) before U+FFFD; UTF-8 (F0… > EF…) after.
    const json = canonicalJson({ camliVersion: 1, '😀': 1, '\ufffd': 2, é: 3, z: 4, Z: 5 })
    expect(json).toBe(`{"camliVersion": 1,
  "Z": 5,
  "z": 4,
  "é": 3,
  "\ufffd": 2,
  "😀": 1
}`)
    expect(compareUtf8('\ufffd', '😀')).toBeLessThan(0)
    expect('\ufffd' < '😀').toBe(false)
  })

  it('writes integers, bigints and the camliVersion header plainly', () => {
    expect(canonicalJson({ camliVersion: 1, size: 0, big: 16777216n, neg: -5 })).toBe(
      '{"camliVersion": 1,\n  "big": 16777216,\n  "neg": -5,\n  "size": 0\n}',
    )
    expect(canonicalJson({ camliType: 'bytes' })).toBe(
      '{"camliVersion": 1,\n  "camliType": "bytes"\n}',
    )
  })

  it('leaves out undefined members and refuses what Go could not encode', () => {
    expect(canonicalJson({ camliVersion: 1, a: undefined, b: 'x' })).toBe(
      '{"camliVersion": 1,\n  "b": "x"\n}',
    )
    expect(() => canonicalJson({ camliVersion: 1, n: Number.NaN })).toThrow(TypeError)
    expect(() => canonicalJson({ camliVersion: 1, d: new Date(0) })).toThrow(TypeError)
    expect(() => canonicalJson({ camliVersion: 1, a: [undefined] })).toThrow(TypeError)
  })
})

describe('goJsonString', () => {
  it.each([
    ['plain', 'hello world', '"hello world"'],
    [
      'HTML characters',
      '<a href="x">&</a>',
      '"\\u003ca href=\\"x\\"\\u003e\\u0026\\u003c/a\\u003e"',
    ],
    ['line and paragraph separators', 'a\u2028b\u2029c', '"a\\u2028b\\u2029c"'],
    ['quote and backslash', '"\\', '"\\"\\\\"'],
    ['short escapes (Go 1.22+)', '\b\f\n\r\t', '"\\b\\f\\n\\r\\t"'],
    [
      'other controls in lowercase hex',
      '\u0000\u0001\u000b\u001f',
      '"\\u0000\\u0001\\u000b\\u001f"',
    ],
    ['DEL and non-ASCII raw', '\u007fé😀\u00a0', '"\u007fé😀\u00a0"'],
    ['lone surrogates as U+FFFD', 'a\ud800b\udc00', '"a\\ufffdb\\ufffd"'],
    ['escapes amid text', 'x<y', '"x\\u003cy"'],
  ])('%s', (_name, input, expected) => {
    expect(goJsonString(input)).toBe(expected)
  })

  it('escapes keys the same way', () => {
    expect(canonicalJson({ camliVersion: 1, 'a<b': '\u2028' })).toBe(
      '{"camliVersion": 1,\n  "a\\u003cb": "\\u2028"\n}',
    )
  })
})

describe('non-UTF-8 names', () => {
  const bytes = (...values: number[]): Buffer => Buffer.from(values)

  it.each([
    // Perkeep's TestMixedArrayFromString cases.
    ['\\x80foo', bytes(0x80, 0x66, 0x6f, 0x6f), [128, 'foo']],
    [
      'foo\\x80foo',
      Buffer.concat([Buffer.from('foo'), bytes(0x80), Buffer.from('foo')]),
      ['foo', 128, 'foo'],
    ],
    ['foo\\x80', bytes(0x66, 0x6f, 0x6f, 0x80), ['foo', 128]],
    ['\\x80', bytes(0x80), [128]],
    ['\\x80\\x80', bytes(0x80, 0x80), [128, 128]],
    // Go's decoder takes one byte per error: a truncated sequence is two numbers.
    ['truncated sequence', bytes(0xe2, 0x82, 0x61), [226, 130, 'a']],
    ['overlong slash', bytes(0xc0, 0xaf), [192, 175]],
    ['UTF-16 surrogate', bytes(0xed, 0xa0, 0x80), [237, 160, 128]],
    ['above U+10FFFF', bytes(0xf4, 0x90, 0x80, 0x80), [244, 144, 128, 128]],
    [
      'Latin-1 name',
      Buffer.concat([Buffer.from('Am'), bytes(0xe9), Buffer.from('lie.jpg')]),
      ['Am', 233, 'lie.jpg'],
    ],
    [
      'valid text around',
      Buffer.concat([Buffer.from('é😀'), bytes(0xff), Buffer.from('€')]),
      ['é😀', 255, '€'],
    ],
  ])('splits %s into a mixed array', (_name, input, expected) => {
    expect(mixedArrayOf(input)).toEqual(expected)
    expect(fileNameField(input)).toEqual({ fileNameBytes: expected })
  })

  it('keeps valid UTF-8 names (including U+FFFD and 4-byte characters) as fileName', () => {
    for (const name of ['a.bin', 'é😀\ufffd', '\u{10ffff}', '']) {
      expect(mixedArrayOf(Buffer.from(name))).toBeUndefined()
      expect(fileNameField(Buffer.from(name))).toEqual({ fileName: name })
    }
    expect(fileNameField('plain')).toEqual({ fileName: 'plain' })
  })

  it('writes fileNameBytes and symlinkTargetBytes into the JSON as strings and numbers', () => {
    const json = canonicalJson({
      camliVersion: 1,
      camliType: 'symlink',
      ...fileNameField(bytes(0x61, 0xff, 0x62)),
      ...symlinkTargetField(bytes(0x2e, 0x2e, 0x2f, 0xfe)),
    })
    expect(json).toBe(`{"camliVersion": 1,
  "camliType": "symlink",
  "fileNameBytes": [
    "a",
    255,
    "b"
  ],
  "symlinkTargetBytes": [
    "../",
    254
  ]
}`)
    expect(symlinkTargetField('target')).toEqual({ symlinkTarget: 'target' })
  })
})
