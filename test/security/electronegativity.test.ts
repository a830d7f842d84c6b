import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { tempDir } from '../helpers/tree.ts'
import { formatReport, scanElectronSecurity } from './electronegativity.ts'

const ROOT = join(import.meta.dirname, '..', '..')

async function writeFiles(root: string, files: Record<string, string>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true })
    await writeFile(join(root, path), content)
  }
}

const CSP_PAGE = `<!doctype html>
<html><head>
<meta http-equiv="Content-Security-Policy" content="default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'" />
</head><body></body></html>
`

// What the gate expects of a window, written the way the tool can verify it. The tool flags every
// preload for review (MEDIUM); once reviewed, it is silenced on that line only.
const REVIEWED_PRELOAD =
  "preload: 'preload.cjs', // eng-disable PRELOAD_JS_CHECK (reviewed: exposes an allow-listed API only)"
const SECURE_MAIN = `import { app, BrowserWindow, session } from 'electron'

void app.whenReady().then(() => {
  session.defaultSession.setPermissionRequestHandler((_contents, _permission, callback) => callback(false))
  const window = new BrowserWindow({
    webPreferences: {
      ${REVIEWED_PRELOAD}
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      disableBlinkFeatures: 'Auxclick',
    },
  })
  window.webContents.on('will-navigate', (event) => event.preventDefault())
  window.webContents.setWindowOpenHandler(() => ({ action: 'deny' }))
  void window.loadFile('index.html')
})
`

describe('electronegativity gate', () => {
  it("finds no HIGH or MEDIUM issue in the app's main, preload and renderer", async () => {
    const report = await scanElectronSecurity(ROOT)
    // The message is the readable report, so a failure says what to fix and where.
    expect(report.parseErrors, formatReport(report)).toEqual([])
    expect(report.failing, formatReport(report)).toEqual([])
  })

  it('fails an insecure window (the gate can fail)', async () => {
    const dir = await tempDir('ferry-eng-bad-')
    try {
      await writeFiles(dir.path, {
        'main/index.ts': `import { BrowserWindow } from 'electron'
const window = new BrowserWindow({ webPreferences: { nodeIntegration: true, contextIsolation: false } })
void window.loadURL('http://example.com/')
`,
        'renderer/index.html': '<!doctype html><html><body></body></html>\n',
      })
      const report = await scanElectronSecurity(dir.path, ['main', 'renderer'])
      const failing = report.failing.map((f) => `${f.id} ${f.file}`)
      expect(failing).toEqual(
        expect.arrayContaining([
          'CONTEXT_ISOLATION_JS_CHECK main/index.ts',
          'HTTP_RESOURCES_WITH_NODE_INTEGRATION_GLOBAL_CHECK N/A',
          'SANDBOX_JS_CHECK main/index.ts',
          'LIMIT_NAVIGATION_GLOBAL_CHECK N/A',
          'CSP_GLOBAL_CHECK N/A',
        ]),
      )
      const contextIsolation = report.failing.find((f) => f.id === 'CONTEXT_ISOLATION_JS_CHECK')
      expect(contextIsolation?.line).toBe(2)
      expect(formatReport(report)).toContain('main/index.ts:2:')
    } finally {
      await dir.dispose()
    }
  })

  it('passes a locked-down window; an eng-disable comment silences one check on one line', async () => {
    const dir = await tempDir('ferry-eng-good-')
    try {
      await writeFiles(dir.path, { 'main/index.ts': SECURE_MAIN, 'renderer/index.html': CSP_PAGE })
      const report = await scanElectronSecurity(dir.path, ['main', 'renderer'])
      expect(report.failing, formatReport(report)).toEqual([])
      expect(report.parseErrors).toEqual([])

      const unreviewed = SECURE_MAIN.replace(REVIEWED_PRELOAD, "preload: 'preload.cjs',")
      await writeFiles(dir.path, { 'main/index.ts': unreviewed })
      const without = await scanElectronSecurity(dir.path, ['main', 'renderer'])
      expect(without.failing.map((f) => `${f.id} ${f.file}:${f.line}`)).toEqual([
        'PRELOAD_JS_CHECK main/index.ts:7',
      ])
    } finally {
      await dir.dispose()
    }
  })

  it('reports a file it cannot parse instead of passing it unchecked', async () => {
    const dir = await tempDir('ferry-eng-parse-')
    try {
      await writeFiles(dir.path, {
        'main/index.ts': SECURE_MAIN,
        'main/broken.ts': 'const = = ;\n',
        'renderer/index.html': CSP_PAGE,
      })
      const report = await scanElectronSecurity(dir.path, ['main', 'renderer'])
      expect(report.parseErrors.map((e) => e.file)).toEqual(['main/broken.ts'])
    } finally {
      await dir.dispose()
    }
  })
})
