import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createDstorServer,
  DSTOR_DEFAULT_API_KEY,
  type DstorServer,
} from '../servers/dstor-server.ts'
import { createKalaServer, type KalaServer } from '../servers/kala-server.ts'
import { launchHarness, until, type Harness, type Session } from './harness.ts'

describe('renderer end to end: settings take effect (Kala and dStor)', () => {
  let harness: Harness
  let kala: KalaServer
  let dstor: DstorServer
  let session: Session
  let folder: string

  const inKala = (): string[] => kala.files().map((f) => f.originalFilename ?? '')

  beforeAll(async () => {
    harness = await launchHarness()
    kala = await createKalaServer({ apiKeys: ['kala-key'] })
    dstor = await createDstorServer({ stageDelayMs: 1 })
    session = await harness.open({
      sandbox: false,
      setup: async (s) => {
        folder = join(s.dir, 'Work')
        await mkdir(join(folder, 'build'), { recursive: true })
        await writeFile(join(folder, 'report.txt'), 'report')
        await writeFile(join(folder, 'scratch.log'), 'scratch')
        await writeFile(join(folder, 'build', 'cache.log'), 'cache')
        const account = await s.app.addAccount({
          backend: 'kala',
          server: kala.url,
          auth: 'api-key',
          secret: 'kala-key',
        })
        s.app.addFolder({ path: folder, accountId: account.id })
      },
    })
    await until(() => inKala().length === 3, 'the first files on the server')
    await session.page.getByRole('button', { name: 'Settings' }).click()
  })

  afterAll(async () => {
    await harness?.close()
    await kala?.close()
    await dstor?.close()
  })

  it('shows every section, takes focus to its heading, and passes axe in both themes', async () => {
    const { page } = session
    const heading = page.getByRole('heading', { name: 'Settings', level: 1 })
    await heading.waitFor()
    expect(await heading.evaluate((el) => el === document.activeElement)).toBe(true)
    for (const name of ['Folders', 'Storage accounts', 'Upload speed', 'General', 'About']) {
      await page.getByRole('heading', { name, level: 2 }).waitFor()
    }
    await page.getByText('0.1.0-e2e').waitFor()
    await session.screenshot('settings', { readme: ['light', 'dark'] })
    expect(await session.axe()).toEqual([])
  })

  it('the upload limit is saved and holds back the next upload', async () => {
    const { page } = session
    const field = page.getByLabel('Limit uploads to (MB/s)')
    await field.fill('0.5')
    await page.getByRole('button', { name: 'Save limit' }).click()
    await page.getByText('Saved: uploads use at most 500 KB/s.').waitFor()
    await page.getByText('Now: at most 500 KB/s.').waitFor()
    expect(session.settings.read().bandwidthLimit).toBe(500_000)
    const file = JSON.parse(await readFile(session.settings.path, 'utf8')) as {
      bandwidthLimit: number
    }
    expect(file.bandwidthLimit).toBe(500_000)

    // 1 MB at 500 KB/s cannot take less than about two seconds (a slow machine only adds).
    const started = Date.now()
    await writeFile(join(folder, 'limited.bin'), Buffer.alloc(1_000_000, 2))
    await until(() => inKala().includes('limited.bin'), 'the limited upload')
    expect(Date.now() - started).toBeGreaterThan(1500)

    await field.fill('')
    await page.getByRole('button', { name: 'Save limit' }).click()
    await page.getByText('Saved: no limit.').waitFor()
    expect(session.settings.read().bandwidthLimit).toBe(0)

    // Out of range: main refuses it, saying what is wrong with the number.
    await field.fill('99999999')
    await page.getByRole('button', { name: 'Save limit' }).click()
    await page
      .getByText(
        'The upload limit is too high: enter at most 1,000,000 MB/s, or leave it empty for no limit.',
      )
      .waitFor()
    expect(session.settings.read().bandwidthLimit).toBe(0)
    await field.fill('')
  })

  it('launch at login and notifications are saved as they are ticked', async () => {
    const { page } = session
    await page.getByLabel('Start Ferry when I log in').check()
    await page.getByText('Ferry starts when you log in.').waitFor()
    expect(session.launchAtLogin).toEqual([true])
    expect(session.settings.read().launchAtLogin).toBe(true)

    const notify = page.getByLabel(/Tell me when files cannot be uploaded/)
    expect(await notify.isChecked()).toBe(true)
    await notify.uncheck()
    await page.getByText('Notifications are off.').waitFor()
    expect(session.settings.read().notifications).toBe(false)
    expect(await notify.isChecked()).toBe(false)
  })

  it('exclude patterns: a live preview of what they leave out, then they hold', async () => {
    const { page } = session
    await page.getByText('Leave files out').click()
    await page.getByText(/Nothing is left out/).waitFor()
    await page.getByLabel('Leave out (one pattern per line)').fill('*.log')
    await page.getByText(/^Leaves out 2 items of \d+:$/).waitFor()
    const listed = await page.locator('.preview-list li').allTextContents()
    expect(listed.sort()).toEqual(['build/cache.log', 'scratch.log'])
    await session.screenshot('settings-excludes')
    expect(await session.axe()).toEqual([])

    await page.getByRole('button', { name: 'Save patterns' }).click()
    await page.getByText(/^Saved\. Ferry leaves these out/).waitFor()
    expect(session.settings.read().folders[0]?.excludes).toEqual(['*.log'])

    await writeFile(join(folder, 'draft.log'), 'left out')
    await writeFile(join(folder, 'kept.txt'), 'kept')
    await until(() => inKala().includes('kept.txt'), 'kept.txt on the server')
    // Both were written together: the one that went proves the other was looked at and left out.
    await session.page.getByRole('button', { name: 'Home' }).click()
    await page.getByRole('status').filter({ hasText: 'Everything is stored' }).waitFor()
    expect(inKala()).not.toContain('draft.log')
    await session.page.getByRole('button', { name: 'Settings' }).click()
  })

  it('a second storage (dStor, another server), a folder for it, then removing both', async () => {
    const { page } = session
    await page.getByRole('button', { name: 'Add storage' }).click()
    await page.getByRole('radio', { name: /^dStor/ }).check()
    await page.getByRole('radio', { name: /Another server/ }).check()
    await page.getByLabel('Server address').fill(dstor.url)
    await page.getByLabel('API key', { exact: true }).fill(DSTOR_DEFAULT_API_KEY)
    await page.getByRole('button', { name: 'Save', exact: true }).click()
    await page.getByText(/^dStor at 127\.0\.0\.1:\d+ is connected\.$/).waitFor()

    const shots = join(session.dir, 'Shots')
    await mkdir(shots)
    await writeFile(join(shots, 'one.png'), Buffer.alloc(20_000, 1))
    session.chosenFolder = shots
    await page.getByRole('button', { name: 'Add folder' }).click()
    await page.getByRole('button', { name: 'Choose folder…' }).click()
    await page
      .getByLabel('Store it in')
      .selectOption({ label: `dStor at ${new URL(dstor.url).host}` })
    await page.getByRole('button', { name: 'Add folder' }).click()
    await page.getByText('Shots is synced from now on.').waitFor()
    await until(() => dstor.listFiles().some((f) => f.name === 'one.png'), 'one.png on dStor')

    // Stop syncing a folder: it goes, its account and the files stay.
    await page.getByRole('button', { name: 'Stop syncing Shots' }).click()
    const stop = page.getByRole('dialog', { name: 'Stop syncing Shots?' })
    expect(await stop.textContent()).toMatch(/Nothing is deleted/)
    await stop.getByRole('button', { name: 'Stop syncing' }).click()
    await page.getByRole('heading', { name: 'Shots' }).waitFor({ state: 'detached' })
    expect(session.app.appState().folders.map((f) => f.path)).toEqual([folder])
    expect(session.app.appState().accounts).toHaveLength(2)
    expect(dstor.listFiles().map((f) => f.name)).toEqual(['one.png'])

    const dstorKey = [...session.secrets.entries.keys()].find((k) => k.startsWith('dstor:'))
    expect(dstorKey).toBeDefined()
    const remove = page.getByRole('button', { name: /^Remove dStor at/ })
    // Cancel keeps everything, and focus goes back to the button.
    await remove.click()
    const dialog = page.getByRole('dialog', { name: /^Remove dStor at/ })
    await dialog.waitFor()
    expect(await dialog.textContent()).toMatch(/deletes its saved API key from this computer/)
    await session.screenshot('settings-remove-account', { fullPage: false })
    expect(await session.axe()).toEqual([])
    await page.keyboard.press('Escape')
    await dialog.waitFor({ state: 'detached' })
    expect(await remove.evaluate((el) => el === document.activeElement)).toBe(true)
    expect(session.app.appState().accounts).toHaveLength(2)

    await remove.click()
    await dialog.getByRole('button', { name: 'Remove' }).click()
    await dialog.waitFor({ state: 'detached' })
    await until(() => session.app.appState().accounts.length === 1, 'the account removed')
    expect(session.secrets.entries.has(dstorKey as string)).toBe(false)
    expect(session.secrets.entries.size).toBe(1)
    await page.getByRole('heading', { name: /^dStor at/ }).waitFor({ state: 'detached' })
  })

  it('export diagnostics writes a bundle with the log and without secrets', async () => {
    const { page } = session
    await page.getByRole('button', { name: 'Export diagnostics…' }).click()
    const saved = page.getByText(/^Saved to /)
    await saved.waitFor()
    const dir = ((await saved.textContent()) ?? '').replace(/^Saved to /, '')
    expect((await readdir(dir)).sort()).toEqual([
      'about.txt',
      'ferry.log',
      'settings.json',
      'status.json',
    ])
    // The refusal of the limit above, as the app logged it.
    expect(await readFile(join(dir, 'ferry.log'), 'utf8')).toMatch(
      /\[ipc\] refused preferences:set: invalid arguments/,
    )
    expect(await readFile(join(dir, 'about.txt'), 'utf8')).toContain('Logs included: ferry.log')
    for (const name of await readdir(dir)) {
      expect(await readFile(join(dir, name), 'utf8')).not.toContain('kala-key')
    }
    expect(await session.problems()).toEqual([])
  })
})
