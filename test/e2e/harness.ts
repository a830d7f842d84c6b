/**
 * The renderer end to end: the built renderer (out/renderer) in headless Chromium, with
 * `window.ferry` made by the real preload/bridge.ts and every call sent over the DevTools
 * socket to this process, where it goes through the real IPC router (sender check, argument
 * validation) to the real AppService — real sync engine, real settings file, real reference
 * servers, with the app's secret redaction. Only Electron itself is missing: the folder picker
 * answers what the test says, and secrets live in memory (the keychain has its own test against
 * a real one).
 */
import { mkdir, readFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { stripTypeScriptTypes } from 'node:module'
import { extname, join, normalize, sep } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import type { Channel, EventName, Events } from '../../preload/contract.ts'
import { registeringHandlers, registeringSecrets } from '../../main/electron/secret-registration.ts'
import { AppService, type AppServiceOptions } from '../../main/ipc/app-service.ts'
import { createHandlers } from '../../main/ipc/ipc-handlers.ts'
import { dispatch } from '../../main/ipc/ipc-router.ts'
import { CHANNEL_ARGS } from '../../main/ipc/ipc-schemas.ts'
import { RotatingLogFile, SecretRedactor } from '../../main/platform/log-file.ts'
import { ConfSettingsStore } from '../../main/settings/conf-settings-store.ts'
import { SANDBOX, startSandbox, type Sandbox } from '../servers/sandbox.ts'
import { MemorySecretStore } from '../helpers/memory-secret-store.ts'
import { tempDir } from '../helpers/tree.ts'

const ROOT = join(import.meta.dirname, '..', '..')
const RENDERER = join(ROOT, 'out', 'renderer')
/** Screenshots of every run (gitignored). */
export const ARTIFACTS = join(import.meta.dirname, 'artifacts')
/** The README's screenshots, refreshed only when FERRY_UPDATE_SCREENSHOTS=1. */
const README_SHOTS = join(ROOT, 'renderer', 'screenshots')
/** The README's shots are of a smaller window than the tests use: small files, readable text. */
const README_VIEWPORT = { width: 1000, height: 700 }
const VIEWPORT = { width: 1100, height: 860 }

const CHROMIUM = process.env['FERRY_CHROMIUM'] ?? '/usr/bin/chromium'
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
]

export type ColorScheme = 'light' | 'dark'

/** A browser and the built renderer on a local HTTP server; one per test file. */
export interface Harness {
  /** A fresh app (its own state folder and settings) with a page open on the renderer. */
  open(options?: SessionOptions): Promise<Session>
  close(): Promise<void>
}

export interface SessionOptions {
  /** Runs on the started app before the page loads (accounts and folders made directly). */
  readonly setup?: (session: Session) => Promise<void>
  /** Offer "Try it with the local sandbox" (as development builds do); default true. */
  readonly sandbox?: boolean
}

/** One running app and the page showing it. */
export interface Session {
  readonly page: Page
  readonly app: AppService
  readonly secrets: MemorySecretStore
  /** The app's redactor: every secret the app has seen is registered with it. */
  readonly redactor: SecretRedactor
  readonly settings: ConfSettingsStore
  /** A temp folder for the test's own files; removed on close. */
  readonly dir: string
  /** What the next "Choose folder…" answers (null: the user cancelled). */
  chosenFolder: string | null
  /** Paths the app asked the system to open. */
  readonly opened: readonly string[]
  /** Every launch-at-login change the app made. */
  readonly launchAtLogin: readonly boolean[]
  /**
   * Saves `<name>-light.png` and `<name>-dark.png` under artifacts/ (the whole page unless
   * `fullPage` is false: a modal dialog's backdrop only covers the window); `readme` also saves
   * those themes, in a 1000×700 window, to renderer/screenshots/ when FERRY_UPDATE_SCREENSHOTS=1.
   */
  screenshot(
    name: string,
    options?: { readonly readme?: readonly ColorScheme[]; readonly fullPage?: boolean },
  ): Promise<void>
  /** axe-core's violations on the page as it is, in both themes (empty when all is well). */
  axe(): Promise<string[]>
  /** CSP violations, console errors and uncaught page errors seen so far. */
  problems(): Promise<string[]>
  close(): Promise<void>
}

/** Starts Chromium and the renderer's server. The renderer must be built (`npm run build`). */
export async function launchHarness(): Promise<Harness> {
  await readFile(join(RENDERER, 'index.html')).catch(() => {
    throw new Error('out/renderer is missing: run `npm run build` first (npm test does)')
  })
  const server = await serveRenderer()
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
  })
  const init = await pageScript()
  const axeSource = await readFile(join(ROOT, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8')
  const sessions = new Set<Session>()
  return {
    open: async (options = {}) => {
      const session = await openSession(browser, origin, init, axeSource, options)
      sessions.add(session)
      const close = session.close
      return Object.assign(session, {
        close: async () => {
          sessions.delete(session)
          await close()
        },
      })
    },
    close: async () => {
      for (const session of [...sessions]) await session.close()
      await browser.close()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

async function openSession(
  browser: Browser,
  origin: string,
  init: string,
  axeSource: string,
  options: SessionOptions,
): Promise<Session> {
  const work = await tempDir('ferry-e2e-')
  const stateDir = join(work.path, 'state')
  const secrets = new MemorySecretStore()
  const redactor = new SecretRedactor()
  const redact = (text: string): string => redactor.redact(text)
  // The app's own log, as main/index.ts keeps it (diagnostics bundles carry it).
  const logFile = new RotatingLogFile({ dir: join(stateDir, 'logs'), redactor })
  const log = (line: string): void => logFile.write(line)
  const settings = new ConfSettingsStore(stateDir)
  const opened: string[] = []
  const launchAtLogin: boolean[] = []
  let sandbox: Sandbox | undefined
  let closed = false

  const serviceOptions: AppServiceOptions = {
    settings,
    secrets: registeringSecrets(secrets, redactor),
    stateDir,
    version: '0.1.0-e2e',
    chooseFolder: async () => session.chosenFolder,
    chooseDiagnosticsFolder: async () => {
      await mkdir(join(work.path, 'diagnostics'), { recursive: true })
      return join(work.path, 'diagnostics')
    },
    openPath: async (path) => void opened.push(path),
    setLaunchAtLogin: (enabled) => void launchAtLogin.push(enabled),
    redact,
    log,
    logFiles: () => logFile.files(),
    engine: { settleMs: 200 },
    ...(options.sandbox === false
      ? {}
      : {
          startSandbox: async () => {
            sandbox ??= await startSandbox(join(work.path, 'sandbox'), { ephemeralPorts: true })
            return {
              backend: 'kala' as const,
              server: sandbox.urls.kala,
              auth: 'api-key' as const,
              secret: SANDBOX.kala.apiKey,
            }
          },
        }),
  }
  const app = new AppService(serviceOptions)
  await app.start()

  const context = await browser.newContext({
    viewport: VIEWPORT,
    colorScheme: 'light',
    reducedMotion: 'reduce',
  })
  const page = await context.newPage()
  const pageErrors: string[] = []
  page.on('console', (message) => {
    if (message.type() === 'error') pageErrors.push(`console: ${message.text()}`)
  })
  page.on('pageerror', (error) => pageErrors.push(`page error: ${error.message}`))

  // The renderer's own page, and nothing else, may call the app (as the app's main process
  // allows only its bundled index.html).
  const trusted = `${origin}/index.html`
  const handlers = registeringHandlers(createHandlers(app), redactor)
  await page.exposeBinding('__ferryInvoke', async (source, channel: unknown, args: unknown) => {
    if (typeof channel !== 'string' || !Object.hasOwn(CHANNEL_ARGS, channel)) {
      return { ok: false, error: { kind: 'invalid', message: 'Unknown call' } }
    }
    return dispatch(
      channel as Channel,
      { senderFrame: { url: source.frame.url() } },
      Array.isArray(args) ? args : [args],
      handlers,
      { isTrustedSender: (url) => url === trusted, redact, log },
    )
  })
  await page.addInitScript(init)

  const push = <E extends EventName>(event: E, payload: Events[E]): void => {
    if (closed) return
    page
      .evaluate(([name, value]) => (window as unknown as PageHooks).__ferryEmit?.(name, value), [
        event,
        payload,
      ] as const)
      // A page that is navigating or closing misses the event; it reloads state on load.
      .catch(() => undefined)
  }
  const offs = [
    app.onDidChangeStatus((status) => push('status:changed', status)),
    app.onDidChangeApp((state) => push('app:changed', state)),
  ]

  const session: Session = {
    page,
    app,
    secrets,
    redactor,
    settings,
    dir: work.path,
    chosenFolder: null,
    opened,
    launchAtLogin,
    screenshot: async (name, shotOptions = {}) => {
      await mkdir(ARTIFACTS, { recursive: true })
      // No hover effect left over from the last click.
      await page.mouse.move(0, 0)
      for (const scheme of ['light', 'dark'] as const) {
        await page.emulateMedia({ colorScheme: scheme })
        const file = join(ARTIFACTS, `${name}-${scheme}.png`)
        await page.screenshot({
          path: file,
          fullPage: shotOptions.fullPage ?? true,
          animations: 'disabled',
        })
        if (process.env['FERRY_UPDATE_SCREENSHOTS'] && shotOptions.readme?.includes(scheme)) {
          await mkdir(README_SHOTS, { recursive: true })
          await page.setViewportSize(README_VIEWPORT)
          await page.screenshot({
            path: join(README_SHOTS, `${name}-${scheme}.png`),
            animations: 'disabled',
          })
          await page.setViewportSize(VIEWPORT)
        }
      }
      await page.emulateMedia({ colorScheme: 'light' })
    },
    axe: async () => {
      const found: string[] = []
      for (const scheme of ['light', 'dark'] as const) {
        await page.emulateMedia({ colorScheme: scheme })
        // evaluate() runs outside the page's CSP, which would refuse an inline <script>.
        if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(axeSource)
        const violations = await page.evaluate(async () => {
          const axe = (window as unknown as PageHooks).axe
          const result = await axe.run(document, { resultTypes: ['violations'] })
          return result.violations.map(
            (v) =>
              `${v.id} (${v.impact ?? 'n/a'}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`,
          )
        })
        found.push(...violations.map((v) => `[${scheme}] ${v}`))
      }
      await page.emulateMedia({ colorScheme: 'light' })
      return found
    },
    problems: async () => {
      const csp = await page
        .evaluate(() => (window as unknown as PageHooks).__ferryCsp ?? [])
        .catch(() => [] as string[])
      return [...csp.map((v) => `CSP: ${v}`), ...pageErrors]
    },
    close: async () => {
      if (closed) return
      closed = true
      for (const off of offs) off()
      await context.close()
      await app.stop()
      await logFile.close()
      await sandbox?.close()
      await work.dispose()
    },
  }
  await options.setup?.(session)
  await page.goto(trusted)
  return session
}

/** What the init script adds to the page, for the harness's own calls into it. */
interface PageHooks {
  __ferryEmit?: (event: string, payload: unknown) => void
  __ferryCsp?: string[]
  axe: {
    run(
      context: Document,
      options: object,
    ): Promise<{
      violations: {
        id: string
        impact?: string
        help: string
        nodes: { target: string[] }[]
      }[]
    }>
  }
}

/**
 * The script every page runs before its own: the real bridge code (preload/bridge.ts with its
 * types stripped) over a transport made of the harness binding and pushed events, plus a
 * recorder of CSP violations.
 */
async function pageScript(): Promise<string> {
  const source = await readFile(join(ROOT, 'preload', 'bridge.ts'), 'utf8')
  const bridge = stripTypeScriptTypes(source, { mode: 'strip' }).replace(/^export /gm, '')
  return `(() => {
${bridge}
  const csp = []
  document.addEventListener('securitypolicyviolation', (e) => {
    csp.push(e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' at ' + e.sourceFile + ':' + e.lineNumber)
  })
  const listeners = new Map()
  Object.defineProperty(window, '__ferryCsp', { value: csp })
  Object.defineProperty(window, '__ferryEmit', {
    value: (event, payload) => {
      for (const listener of [...(listeners.get(event) ?? [])]) listener(payload)
    },
  })
  const api = createFerryApi({
    invoke: (channel, args) => window.__ferryInvoke(channel, args),
    subscribe: (event, listener) => {
      const set = listeners.get(event) ?? new Set()
      listeners.set(event, set)
      set.add(listener)
      return () => set.delete(listener)
    },
  })
  Object.defineProperty(window, 'ferry', { value: Object.freeze(api) })
})()`
}

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
}

/** out/renderer over HTTP on loopback (static files only, nothing outside the folder). */
async function serveRenderer(): Promise<Server> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)
    if (path === '/favicon.ico') {
      res.writeHead(204).end()
      return
    }
    const file = normalize(join(RENDERER, path))
    if (!file.startsWith(RENDERER + sep)) {
      res.writeHead(403).end()
      return
    }
    readFile(file).then(
      (body) => {
        res.writeHead(200, {
          'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
          'cache-control': 'no-store',
        })
        res.end(body)
      },
      () => res.writeHead(404).end(),
    )
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return server
}

/** Polls `check` until it holds (a generous deadline: a loaded machine is slow, not wrong). */
export async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
