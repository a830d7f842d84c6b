import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createKalaServer, type KalaServer } from '../servers/kala-server.ts'
import { launchHarness, until, type Harness, type Session } from './harness.ts'

const KEY = 'kala-e2e-key'

describe('renderer end to end: onboarding, syncing, pause and resume (Kala)', () => {
  let harness: Harness
  let server: KalaServer
  let session: Session
  let folder: string

  const stored = (): string[] =>
    server
      .files()
      .map((f) => f.originalFilename ?? '')
      .sort()

  beforeAll(async () => {
    harness = await launchHarness()
    server = await createKalaServer({ apiKeys: [KEY] })
    session = await harness.open()
    folder = join(session.dir, 'Documents')
    await mkdir(join(folder, 'notes'), { recursive: true })
    await writeFile(join(folder, 'hello.txt'), 'hello')
    await writeFile(join(folder, 'notes', 'todo.md'), '- back up\n')
    await writeFile(join(folder, 'photo.jpg'), Buffer.alloc(300_000, 7))
  })

  afterAll(async () => {
    await harness?.close()
    await server?.close()
  })

  it('onboarding: a wrong key gets a readable verdict and is not kept; the right one connects', async () => {
    const { page } = session
    await page.getByRole('heading', { name: 'Welcome to Ferry' }).waitFor()
    await session.screenshot('onboarding', { readme: ['light', 'dark'] })
    expect(await session.axe()).toEqual([])

    // dStor's networks fill in their own address (shown, not typed); "Another server" is typed.
    const address = page.getByLabel('Server address')
    expect(await page.getByRole('radio', { name: /^dStor/ }).isChecked()).toBe(true)
    expect(await page.getByRole('radio', { name: /^Main network/ }).isChecked()).toBe(true)
    expect(await address.inputValue()).toBe('https://api.dstor.cloud')
    expect(await address.getAttribute('readonly')).not.toBeNull()
    await page.getByRole('radio', { name: /^Test network/ }).check()
    expect(await address.inputValue()).toBe('https://api.testnet.dstor.cloud')
    expect(await address.getAttribute('readonly')).not.toBeNull()
    await page.getByRole('radio', { name: /^Another server/ }).check()
    expect(await address.inputValue()).toBe('')
    expect(await address.getAttribute('readonly')).toBeNull()
    await page.getByRole('radio', { name: /^Main network/ }).check()
    expect(await address.inputValue()).toBe('https://api.dstor.cloud')

    await page.getByRole('radio', { name: /Kala/ }).check()
    await page.getByLabel('Server address').fill(server.url)
    await page.getByLabel('API key', { exact: true }).fill('not-the-key')
    await page.getByRole('button', { name: 'Test connection' }).click()
    await expect
      .poll(() => page.getByRole('status').filter({ hasText: 'did not accept' }).count())
      .toBe(1)
    // Saving tests again, and a refused key is never stored.
    await page.getByRole('button', { name: 'Save and continue' }).click()
    await page.getByText(/did not accept this key/).waitFor()
    expect(session.app.appState().accounts).toEqual([])
    expect(session.secrets.entries.size).toBe(0)
    await session.screenshot('onboarding-wrong-key')

    await page.getByLabel('API key', { exact: true }).fill(KEY)
    await page.getByRole('button', { name: 'Test connection' }).click()
    await page.getByText(/Connected to Kala at 127\.0\.0\.1/).waitFor()
    await page.getByRole('button', { name: 'Save and continue' }).click()

    // Step 2 takes focus, so keyboard users land on it.
    const step = page.getByRole('heading', { name: 'Step 2 of 2: Choose a folder' })
    await step.waitFor()
    expect(await step.evaluate((el) => el === document.activeElement)).toBe(true)
    expect([...session.secrets.entries.values()]).toEqual([KEY])
    expect(session.app.appState().accounts).toMatchObject([{ backend: 'kala', state: 'ok' }])
    await session.screenshot('onboarding-folder')
    expect(await session.axe()).toEqual([])
  })

  it('adding a folder: its files reach the server and Home says everything is stored', async () => {
    const { page } = session
    // Cancelling the picker changes nothing.
    await page.getByRole('button', { name: 'Choose folder…' }).click()
    await page.getByText('No folder chosen yet.').waitFor()
    session.chosenFolder = folder
    await page.getByRole('button', { name: 'Choose folder…' }).click()
    await page.getByText(folder, { exact: true }).waitFor()
    await page.getByRole('button', { name: 'Start keeping it safe' }).click()

    await page.getByRole('heading', { name: 'Overview' }).waitFor()
    await until(() => stored().length === 3, 'the three files on the server')
    expect(stored()).toEqual(['hello.txt', 'photo.jpg', 'todo.md'])
    await page.getByRole('status').filter({ hasText: 'Everything is stored' }).waitFor()
    await page.getByRole('heading', { name: 'Documents' }).waitFor()
    await page.getByText('Stored notes/todo.md').waitFor()
    await page.getByText('Nothing is waiting.', { exact: false }).waitFor()

    await page.getByRole('button', { name: 'Open Documents' }).click()
    await until(() => session.opened.length === 1, 'the folder opened')
    expect(session.opened).toEqual([folder])

    await session.screenshot('home', { readme: ['light', 'dark'] })
    expect(await session.axe()).toEqual([])
  })

  it('pause all: new files wait in the queue and nothing is sent; resume sends them', async () => {
    const { page } = session
    await page.getByRole('button', { name: 'Pause all' }).click()
    await page
      .getByRole('status')
      .filter({ hasText: /^Paused$/ })
      .waitFor()
    expect(session.settings.read().paused).toBe(true)

    for (let i = 1; i <= 5; i++) await writeFile(join(folder, `new-${i}.txt`), `new file ${i}`)
    await page.getByText('5 files', { exact: true }).waitFor()
    await expect.poll(() => page.locator('.queue-row').count()).toBe(5)
    expect(await page.locator('.queue-row').first().textContent()).toMatch(/waiting/)
    // Queued and visible, yet not one request went out.
    expect(stored()).toHaveLength(3)
    await session.screenshot('home-paused')
    expect(await session.axe()).toEqual([])

    await page.getByRole('button', { name: 'Resume all' }).click()
    await until(() => stored().length === 8, 'the five new files on the server')
    await page.getByRole('status').filter({ hasText: 'Everything is stored' }).waitFor()
    await page.getByText('Nothing is waiting.', { exact: false }).waitFor()
  })

  it('a big upload shows its progress in the queue; pausing one folder holds it back', async () => {
    const { page } = session
    // Slow writes keep the file on the wire long enough to be seen there.
    server.router.faults.inject('kala.write', { type: 'delay', ms: 2500 }, { times: 1 })
    await writeFile(join(folder, 'video.mov'), Buffer.alloc(3_000_000, 1))
    const row = page.locator('.queue-row', { hasText: 'video.mov' })
    await row.locator('progress').waitFor()
    expect(await row.textContent()).toMatch(/\d+% of 3 MB|3 MB sent · waiting for the server/)
    await page.getByRole('progressbar', { name: 'Overall progress' }).waitFor()
    await session.screenshot('home-uploading')
    await until(() => stored().includes('video.mov'), 'the big file on the server')

    await page.getByRole('button', { name: 'Pause Documents' }).click()
    await page.getByRole('button', { name: 'Resume Documents' }).waitFor()
    await page.getByText('Paused', { exact: true }).first().waitFor()
    await writeFile(join(folder, 'later.txt'), 'later')
    await page.locator('.queue-row', { hasText: 'later.txt' }).waitFor()
    expect(stored()).not.toContain('later.txt')
    await page.getByRole('button', { name: 'Resume Documents' }).click()
    await until(() => stored().includes('later.txt'), 'later.txt on the server')
    expect(await session.problems()).toEqual([])
  })

  it('the local sandbox: one click connects a demo storage', async () => {
    const fresh = await harness.open()
    try {
      const { page } = fresh
      await page.getByRole('button', { name: 'Try it with the local sandbox' }).click()
      await page.getByRole('heading', { name: 'Step 2 of 2: Choose a folder' }).waitFor()
      expect(fresh.app.appState().accounts).toMatchObject([{ backend: 'kala', state: 'ok' }])
      expect(fresh.secrets.entries.size).toBe(1)
      // Connected: the offer is gone, and it would not be shown next to an account anyway.
      expect(await page.getByText('Just looking around?').count()).toBe(0)
      expect(await fresh.problems()).toEqual([])
    } finally {
      await fresh.close()
    }
  })
})
