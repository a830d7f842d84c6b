import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createKalaServer, type KalaServer } from '../servers/kala-server.ts'
import { launchHarness, until, type Harness, type Session } from './harness.ts'

const KEY = 'kala-keyboard-key'

/** What has focus: its accessible name, and whether a focus ring can be seen on it. */
interface Focus {
  readonly name: string
  readonly tag: string
  /** :focus-visible, with an outline of 2 px or more on it or on its choice card. */
  readonly ring: boolean
  /** Inside the window (scrolled into view). */
  readonly inView: boolean
}

function focus(page: Page): Promise<Focus> {
  return page.evaluate(() => {
    const el = document.activeElement as HTMLElement | null
    if (!el || el === document.body) return { name: '', tag: 'body', ring: false, inView: false }
    const hasRing = (node: Element | null): boolean => {
      if (!node) return false
      const style = getComputedStyle(node)
      return style.outlineStyle !== 'none' && Number.parseFloat(style.outlineWidth) >= 2
    }
    const label = (el as HTMLInputElement).labels?.[0]
    const name = (
      el.getAttribute('aria-label') ??
      (label ? (label.querySelector('.choice-name') ?? label).textContent : el.textContent) ??
      ''
    ).trim()
    const box = el.getBoundingClientRect()
    return {
      name,
      tag: el.tagName.toLowerCase(),
      ring: el.matches(':focus-visible') && (hasRing(el) || hasRing(el.closest('.choice'))),
      inView: box.bottom > 0 && box.top < window.innerHeight && box.width > 0,
    }
  })
}

/** Presses a key and checks that focus, wherever it went, can be seen. */
async function press(page: Page, key: string, mayLeavePage = false): Promise<Focus> {
  await page.keyboard.press(key)
  const now = await focus(page)
  if (mayLeavePage && now.tag === 'body') return now
  expect(now.tag, `focus lost after ${key}`).not.toBe('body')
  expect(now.ring, `no visible focus on "${now.name}" after ${key}`).toBe(true)
  expect(now.inView, `"${now.name}" has focus but is out of view`).toBe(true)
  return now
}

/** Tabs (or Shift+Tabs) until `name` has focus, checking the focus ring at every stop. */
async function tabTo(page: Page, name: RegExp, back = false): Promise<Focus> {
  const seen: string[] = []
  let left = false
  for (let i = 0; i < 40; i++) {
    // Past the last control, Tab leaves the page for the browser's own UI (once per round);
    // Electron's window has none and goes round to the first control.
    const now = await press(page, back ? 'Shift+Tab' : 'Tab', !left)
    if (now.tag === 'body') {
      left = true
      continue
    }
    if (name.test(now.name)) return now
    seen.push(now.name)
  }
  throw new Error(
    `${String(name)} not reached by ${back ? 'Shift+Tab' : 'Tab'}: ${seen.join(' → ')}`,
  )
}

/**
 * Tabs round the whole window and returns what no Tab reached: every visible, enabled control
 * (for a group of radio buttons, the one Tab stops at) must be among the stops.
 */
async function unreachable(page: Page): Promise<string[]> {
  const count = await page.evaluate(() => {
    const selector =
      'a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]), ' +
      'select:not([disabled]), textarea:not([disabled]), summary, [tabindex]:not([tabindex="-1"])'
    let n = 0
    for (const el of document.querySelectorAll<HTMLElement>(selector)) {
      el.removeAttribute('data-kb')
      if (!el.checkVisibility()) continue
      if (el instanceof HTMLInputElement && el.type === 'radio') {
        const group = [
          ...document.querySelectorAll<HTMLInputElement>(`input[type=radio][name="${el.name}"]`),
        ]
        const stop = group.find((r) => r.checked) ?? group[0]
        if (stop !== el) continue
      }
      el.dataset['kb'] = String(n++)
    }
    return n
  })
  const reached = new Set<string>()
  for (let i = 0; i < count * 2 + 4; i++) {
    await page.keyboard.press('Tab')
    const id = await page.evaluate(
      () => (document.activeElement as HTMLElement | null)?.dataset['kb'],
    )
    if (id !== undefined) reached.add(id)
  }
  return page.evaluate(
    (ids) =>
      [...document.querySelectorAll<HTMLElement>('[data-kb]')]
        .filter((el) => !ids.includes(el.dataset['kb'] ?? ''))
        .map(
          (el) =>
            `${el.tagName.toLowerCase()} "${el.getAttribute('aria-label') ?? el.textContent?.trim()}"`,
        ),
    [...reached],
  )
}

describe('renderer end to end: onboarding and pause/resume with the keyboard alone', () => {
  let harness: Harness
  let server: KalaServer
  let session: Session
  let folder: string

  beforeAll(async () => {
    harness = await launchHarness()
    server = await createKalaServer({ apiKeys: [KEY] })
    session = await harness.open()
    folder = join(session.dir, 'Letters')
    await mkdir(folder)
    await writeFile(join(folder, 'dear-bob.txt'), 'Dear Bob')
  })

  afterAll(async () => {
    await harness?.close()
    await server?.close()
  })

  it('onboarding: choose Kala, type the server and key, test, connect, choose a folder', async () => {
    const { page } = session
    await page.getByRole('heading', { name: 'Welcome to Ferry' }).waitFor()
    expect(await unreachable(page)).toEqual([])

    // Radio buttons are one Tab stop; the arrow keys choose within the group.
    await tabTo(page, /^dStor$/)
    expect((await press(page, 'ArrowDown')).name).toBe('Kala')
    expect(await page.getByRole('radio', { name: /^Kala/ }).isChecked()).toBe(true)

    await tabTo(page, /^Server address$/)
    await page.keyboard.type(server.url)
    await tabTo(page, /^API key$/)
    await page.keyboard.type(KEY)
    await tabTo(page, /^Test connection$/)
    await press(page, 'Enter')
    await page.getByText(/Connected to Kala at 127\.0\.0\.1/).waitFor()
    // Focus stayed on the button while the test ran: the next Tab goes on from there.
    expect((await focus(page)).name).toBe('Test connection')
    expect((await press(page, 'Tab')).name).toBe('Save and continue')
    await page.keyboard.press('Enter')

    const step = page.getByRole('heading', { name: 'Step 2 of 2: Choose a folder' })
    await step.waitFor()
    const onStep = await focus(page)
    expect(onStep).toMatchObject({ name: 'Step 2 of 2: Choose a folder', ring: true })
    expect(await unreachable(page)).toEqual([])

    session.chosenFolder = folder
    await tabTo(page, /^Choose folder…$/)
    await press(page, 'Space')
    await page.getByText(folder, { exact: true }).waitFor()
    expect((await focus(page)).name).toBe('Choose another folder…')
    await tabTo(page, /^Start keeping it safe$/)
    await page.keyboard.press('Enter')

    await page.getByRole('heading', { name: 'Overview' }).waitFor()
    await until(() => server.files().length === 1, 'the file on the server')
    await page.getByRole('status').filter({ hasText: 'Everything is stored' }).waitFor()
    expect(await focus(page)).toMatchObject({ name: 'Overview', ring: true })
  })

  it('Home: every control reachable; pause and resume all with Space, Shift+Tab and Enter', async () => {
    const { page } = session
    expect(await unreachable(page)).toEqual([])

    await tabTo(page, /^Pause all$/)
    await press(page, 'Space')
    // The same button, relabelled: focus stays on it.
    await page.getByRole('button', { name: 'Resume all' }).waitFor()
    expect(await focus(page)).toMatchObject({ name: 'Resume all', ring: true })
    await page
      .getByRole('status')
      .filter({ hasText: /^Paused$/ })
      .waitFor()
    expect(session.settings.read().paused).toBe(true)

    // On to the folder's own button and back again.
    await tabTo(page, /^Pause Letters$|^Resume Letters$/)
    await tabTo(page, /^Resume all$/, true)
    await press(page, 'Enter')
    await page.getByRole('status').filter({ hasText: 'Everything is stored' }).waitFor()
    expect(await focus(page)).toMatchObject({ name: 'Pause all', ring: true })
    expect(session.settings.read().paused).toBe(false)
    expect(await session.problems()).toEqual([])
  })
})
