import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createKalaServer, type KalaServer } from '../servers/kala-server.ts'
import { launchHarness, until, type Harness, type Session } from './harness.ts'

describe('renderer end to end: a failed file and Retry, needs sign-in and Sign in again', () => {
  let harness: Harness
  let server: KalaServer
  let session: Session
  let folder: string

  const stored = (): string[] => server.files().map((f) => f.originalFilename ?? '')

  beforeAll(async () => {
    harness = await launchHarness()
    server = await createKalaServer({ apiKeys: ['first-key'] })
    session = await harness.open({
      sandbox: false,
      setup: async (s) => {
        folder = join(s.dir, 'Photos')
        await mkdir(folder)
        await writeFile(join(folder, 'beach.jpg'), Buffer.alloc(50_000, 3))
        const account = await s.app.addAccount({
          backend: 'kala',
          server: server.url,
          auth: 'api-key',
          secret: 'first-key',
        })
        s.app.addFolder({ path: folder, accountId: account.id })
      },
    })
    await until(() => stored().includes('beach.jpg'), 'the first file on the server')
  })

  afterAll(async () => {
    await harness?.close()
    await server?.close()
  })

  it('a file the server refuses is shown with its reason; Retry sends it at once', async () => {
    const { page } = session
    await page.getByRole('status').filter({ hasText: 'Everything is stored' }).waitFor()
    // The server is out of service for this upload and asks to come back in an hour: the
    // engine's own next try is an hour away, so only Retry can make it go within the test.
    server.router.faults.inject(
      'kala.session',
      {
        type: 'status',
        status: 503,
        headers: { 'retry-after': '3600' },
        body: JSON.stringify({ message: 'Storage is being maintained' }),
      },
      { times: 1000 },
    )
    await writeFile(join(folder, 'sunset.jpg'), Buffer.alloc(40_000, 9))

    await page.getByRole('heading', { name: 'Could not upload 1 file' }).waitFor()
    const item = page.locator('.failed-list li', { hasText: 'sunset.jpg' })
    // The server's words and what they mean; the status code only under "Technical details".
    expect(await item.locator('.reason').textContent()).toBe(
      'Kala says: “Storage is being maintained”. The server cannot take files right now. Ferry tries again later.',
    )
    expect(await item.textContent()).toMatch(/next try in (1 h|\d\d min)/)
    await page.getByText('Could not upload sunset.jpg').waitFor()
    expect(await page.locator('main').innerText()).not.toMatch(/\b503\b|POST|http:/)
    await item.getByText('Technical details').click()
    await item
      .getByText(
        /^Kala answered 503: Storage is being maintained \(POST http:\/\/127\.0\.0\.1:\d+\//,
      )
      .waitFor()
    await item.getByText('Technical details').click()
    await page
      .getByRole('status')
      .filter({ hasText: 'Everything else is stored — 1 file could not be uploaded' })
      .waitFor()
    await page.getByText('Could not upload sunset.jpg').waitFor()
    expect(stored()).not.toContain('sunset.jpg')
    await session.screenshot('home-failure')
    expect(await session.axe()).toEqual([])

    server.router.faults.clear()
    await page.getByRole('button', { name: 'Retry sunset.jpg' }).click()
    await until(() => stored().includes('sunset.jpg'), 'the retried file on the server')
    await page.getByRole('heading', { name: /Could not upload/ }).waitFor({ state: 'detached' })
    await page.getByRole('status').filter({ hasText: 'Everything is stored' }).waitFor()
  })

  it('a revoked key: Home asks to sign in again, and a new key carries on', async () => {
    const { page } = session
    server.revokeApiKey('first-key')
    await writeFile(join(folder, 'after.jpg'), Buffer.alloc(30_000, 5))

    await page
      .getByRole('status')
      .filter({ hasText: /^Sign in again to Kala at 127\.0\.0\.1:\d+$/ })
      .waitFor()
    const notice = page.getByRole('region', { name: /^Sign in again to Kala at/ })
    await page.getByText(/^Waiting for you to sign in again to Kala at/).waitFor()
    await notice.waitFor()
    expect(await notice.textContent()).toMatch(/no longer accepts the saved key/)
    // It waits for the user: nothing counts as failed.
    expect(await page.getByRole('heading', { name: /Could not upload/ }).count()).toBe(0)
    await session.screenshot('home-needs-sign-in')
    expect(await session.axe()).toEqual([])

    await notice.getByRole('button', { name: 'Sign in again' }).click()
    const field = notice.getByLabel('New API key')
    expect(await field.evaluate((el) => el === document.activeElement)).toBe(true)
    await field.fill('first-key')
    await notice.getByRole('button', { name: 'Sign in' }).click()
    await notice.getByText(/did not accept this key/).waitFor()
    expect(stored()).not.toContain('after.jpg')

    server.addApiKey('second-key')
    await field.fill('second-key')
    await notice.getByRole('button', { name: 'Sign in' }).click()
    await until(() => stored().includes('after.jpg'), 'the waiting file on the server')
    await notice.waitFor({ state: 'detached' })
    await page.getByRole('status').filter({ hasText: 'Everything is stored' }).waitFor()
    expect([...session.secrets.entries.values()]).toEqual(['second-key'])
    expect(await session.problems()).toEqual([])
  })
})
