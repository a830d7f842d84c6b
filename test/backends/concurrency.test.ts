import { describe, expect, it } from 'vitest'
import { mapLimit } from '../../main/backends/concurrency.ts'

describe('mapLimit', () => {
  it('keeps at most `limit` running and returns results in order', async () => {
    let running = 0
    let peak = 0
    const out = await mapLimit([5, 1, 4, 2, 3], 2, async (n) => {
      running++
      peak = Math.max(peak, running)
      await new Promise((r) => setTimeout(r, n * 3))
      running--
      return n * 10
    })
    expect(out).toEqual([50, 10, 40, 20, 30])
    expect(peak).toBe(2)
  })

  it('starts nothing new after a failure, and lets running work finish first', async () => {
    const started: number[] = []
    let finished = 0
    const run = mapLimit(
      Array.from({ length: 20 }, (_, i) => i),
      3,
      async (i) => {
        started.push(i)
        await new Promise((r) => setTimeout(r, 5))
        if (i === 1) throw new Error('boom')
        finished++
      },
    )
    await expect(run).rejects.toThrow('boom')
    const settledAt = finished
    await new Promise((r) => setTimeout(r, 50))
    expect(finished).toBe(settledAt)
    expect(started.length).toBeLessThanOrEqual(4)
  })
})
