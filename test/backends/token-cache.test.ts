import { describe, expect, it } from 'vitest'
import { jwtExpiry, TokenCache } from '../../main/backends/token-cache.ts'

const jwt = (exp: number): string =>
  `h.${Buffer.from(JSON.stringify({ exp })).toString('base64url')}.s`

describe('TokenCache', () => {
  it('reads exp and refreshes before it passes, not after', async () => {
    let now = 1_000_000_000_000
    let fetched = 0
    const cache = new TokenCache(
      async () => {
        fetched++
        return jwt(Math.floor(now / 1000) + 3600)
      },
      { now: () => now, marginMs: 60_000 },
    )
    expect(jwtExpiry(jwt(42))).toBe(42)
    const first = await cache.get()
    expect(fetched).toBe(1)
    now += 3600_000 - 61_000
    expect(await cache.get()).toBe(first)
    now += 2_000
    await cache.get()
    expect(fetched).toBe(2)
  })

  it('refreshes a short-lived token at half its life', async () => {
    let now = 0
    let fetched = 0
    const cache = new TokenCache(
      async () => {
        fetched++
        return jwt(Math.floor(now / 1000) + 10)
      },
      { now: () => now },
    )
    await cache.get()
    now = 4_900
    await cache.get()
    expect(fetched).toBe(1)
    now = 5_100
    await cache.get()
    expect(fetched).toBe(2)
  })

  it('shares one fetch between concurrent callers', async () => {
    let fetched = 0
    const cache = new TokenCache(async () => {
      fetched++
      await new Promise((r) => setTimeout(r, 20))
      return 'opaque-token-without-exp'
    })
    const tokens = await Promise.all([cache.get(), cache.get(), cache.refresh(), cache.get()])
    expect(new Set(tokens).size).toBe(1)
    expect(fetched).toBe(1)
  })
})
