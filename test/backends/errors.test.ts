import { describe, expect, it } from 'vitest'
import { toFerryError } from '../../main/backends/errors.ts'
import { assertAllowedUrl } from '../../main/backends/http/url-policy.ts'
import { splitServerUrl } from '../../main/backends/account.ts'

describe('error typing', () => {
  it('only network failures are retryable; bugs are permanent', () => {
    expect(toFerryError(Object.assign(new Error('reset'), { code: 'ECONNRESET' })).kind).toBe(
      'retryable',
    )
    expect(toFerryError(Object.assign(new Error('x'), { code: 'UND_ERR_SOCKET' })).kind).toBe(
      'retryable',
    )
    expect(toFerryError(new TypeError('undefined is not a function')).kind).toBe('permanent')
    const aborted = new AbortController()
    aborted.abort()
    expect(toFerryError(new Error('whatever'), aborted.signal).kind).toBe('cancelled')
  })

  it('never echoes a password from a bad server address', () => {
    for (const bad of ['https://u:hunter2@host:99999', 'not a url hunter2']) {
      expect(() => assertAllowedUrl(bad, false)).toThrow(/Not a valid server address/)
      try {
        splitServerUrl(bad)
      } catch (error) {
        expect(String((error as Error).message)).not.toContain('hunter2')
      }
    }
    expect(() => splitServerUrl('https://u:hunter2@host')).toThrow(/password/)
    expect(() => splitServerUrl('https://u:hunter2@host')).not.toThrow(/hunter2/)
    expect(splitServerUrl('http://alice@127.0.0.1:3179')).toEqual({
      server: 'http://127.0.0.1:3179',
      user: 'alice',
    })
  })
})
