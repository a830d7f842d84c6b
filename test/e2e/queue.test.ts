import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createKalaServer, type KalaServer } from '../servers/kala-server.ts'
import { launchHarness, until, type Harness, type Session } from './harness.ts'

const FILES = 10_000

describe('renderer end to end: a queue of 10 000 files', () => {
  let harness: Harness
  let server: KalaServer
  let session: Session

  beforeAll(async () => {
    harness = await launchHarness()
    server = await createKalaServer({ apiKeys: ['kala-key'] })
    session = await harness.open({
      sandbox: false,
      setup: async (s) => {
        const folder = join(s.dir, 'Archive')
        for (let dir = 0; dir < FILES / 500; dir++) {
          const sub = join(folder, `batch-${String(dir).padStart(2, '0')}`)
          await mkdir(sub, { recursive: true })
          await Promise.all(
            Array.from({ length: 500 }, (_, i) =>
              writeFile(join(sub, `file-${String(i).padStart(3, '0')}.txt`), `${dir}/${i}`),
            ),
          )
        }
        const account = await s.app.addAccount({
          backend: 'kala',
          server: server.url,
          auth: 'api-key',
          secret: 'kala-key',
        })
        // Paused: all 10 000 wait in the queue, where the test can scroll through them.
        s.app.pauseAll(true)
        s.app.addFolder({ path: folder, accountId: account.id })
        await until(() => s.app.queuePage(0, 1).total === FILES, 'the whole folder queued', 60_000)
      },
    })
  })

  afterAll(async () => {
    await harness?.close()
    await server?.close()
  })

  it('keeps only a window of rows in the DOM and scrolls through all of them', async () => {
    const { page } = session
    const viewport = page.getByRole('region', { name: 'Upload queue, 10,000 files' })
    await viewport.waitFor()
    await page.locator('.queue-row[aria-posinset="1"]', { hasText: 'waiting' }).waitFor()
    const rows = (): Promise<number> => page.locator('.queue-row').count()
    expect(await rows()).toBeLessThan(30)

    // Keyboard: the list takes focus and scrolls with the keys.
    await viewport.focus()
    await page.keyboard.press('End')
    await page.locator(`.queue-row[aria-posinset="${FILES}"]`, { hasText: 'file-' }).waitFor()
    expect(await rows()).toBeLessThan(30)
    await page.keyboard.press('Home')
    await page.locator('.queue-row[aria-posinset="1"]').waitFor()

    // The middle, fetched as a page of its own when it comes into view.
    await viewport.evaluate((el) => {
      el.scrollTop = el.scrollHeight / 2
    })
    await page.locator('.queue-row[aria-posinset="5001"]', { hasText: 'file-' }).waitFor()
    expect(await rows()).toBeLessThan(30)
    await session.screenshot('home-queue-10000')
    expect(await session.axe()).toEqual([])
    expect(await session.problems()).toEqual([])
  })

  it('scrolls smoothly: a second of continuous scrolling keeps frames short and the DOM small', async () => {
    const { page } = session
    const viewport = page.getByRole('region', { name: /Upload queue/ })
    const result = await viewport.evaluate(
      (el) =>
        new Promise<{ frames: number[]; maxRows: number }>((resolve) => {
          const frames: number[] = []
          let maxRows = 0
          let last = performance.now()
          el.scrollTop = 0
          const step = (now: number): void => {
            frames.push(now - last)
            last = now
            maxRows = Math.max(maxRows, el.querySelectorAll('.queue-row').length)
            // About 15 rows a frame: far faster than anyone reads, the list has to keep up.
            el.scrollTop += 900
            if (frames.length < 90) requestAnimationFrame(step)
            else resolve({ frames: frames.slice(1), maxRows })
          }
          requestAnimationFrame(step)
        }),
    )
    const sorted = [...result.frames].sort((a, b) => a - b)
    const median = sorted[Math.floor(sorted.length / 2)] as number
    console.log(
      `queue scroll: median frame ${median.toFixed(1)} ms, ` +
        `slowest ${(sorted[sorted.length - 1] as number).toFixed(1)} ms, ` +
        `at most ${result.maxRows} rows in the DOM`,
    )
    expect(result.maxRows).toBeLessThan(30)
    // A list that rendered all 10 000 rows would take far longer per frame; the bound is
    // generous so a loaded machine does not fail it.
    expect(median).toBeLessThan(100)
  })

  it('the CSP watch sees a violation when there is one (so its silence above means something)', async () => {
    const { page } = session
    await page.evaluate(() => document.body.setAttribute('style', 'outline: 1px solid red'))
    await until(async () => (await session.problems()).length > 0, 'the violation reported')
    expect((await session.problems()).join('\n')).toMatch(/CSP: style-src/)
  })
})
