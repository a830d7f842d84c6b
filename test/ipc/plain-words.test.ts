import { createServer } from 'node:net'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { AppService, type AppServiceOptions } from '../../main/ipc/app-service.ts'
import { plainFailure } from '../../main/ipc/failure-wording.ts'
import { startupProblem } from '../../main/ipc/startup-problem.ts'
import { ConfSettingsStore } from '../../main/settings/conf-settings-store.ts'
import { EngineLock } from '../../main/sync/engine-lock.ts'
import { MemorySecretStore } from '../helpers/memory-secret-store.ts'
import { tempDir } from '../helpers/tree.ts'

describe('failure reasons in plain words (codes only in the details)', () => {
  it('a server error: its own message, what it means, no status code', () => {
    const raw =
      'Kala answered 503: Storage is being maintained (POST http://127.0.0.1:4000/api/manage/filestore/sessions)'
    expect(plainFailure(raw)).toEqual({
      text: 'Kala says: “Storage is being maintained”. The server cannot take files right now. Ferry tries again later.',
      detail: raw,
    })
  })

  it('every shape the HTTP client writes loses its code and request', () => {
    const cases: [string, string][] = [
      [
        'Perkeep answered 502 (POST https://pk.example/bs/upload)',
        'Perkeep cannot take files right now (it may be busy or under maintenance). Ferry tries again later.',
      ],
      [
        'dStor answered 429 (POST https://api.dstor.cloud/v1/upload/)',
        'dStor asked Ferry to slow down. Ferry tries again later.',
      ],
      [
        'Perkeep answered 413: Blob too big. (POST https://pk.example/bs/upload)',
        'Perkeep says: “Blob too big”. Perkeep refused the file because it is too large.',
      ],
      [
        'Kala answered 400: Bad name (POST https://k.example/api/manage/filestore/sessions)',
        'Kala refused the file and says: “Bad name”.',
      ],
      [
        'Kala answered 401: invalid api key (GET https://k.example/api/x)',
        'Kala says: “invalid api key”. Kala did not accept the saved key or password.',
      ],
      [
        'Connection to kala failed: connect ECONNREFUSED 127.0.0.1:4000 (POST http://127.0.0.1:4000/api/x)',
        'Ferry could not reach 127.0.0.1:4000. It tries again by itself once the connection is back.',
      ],
      [
        'Cannot find dstor host (GET https://api.dstor.cloud/v1/dev/temp-token)',
        'Ferry could not find the server api.dstor.cloud. Check your internet connection and the server address.',
      ],
    ]
    for (const [raw, text] of cases) {
      const plain = plainFailure(raw)
      expect(plain.text, raw).toBe(text)
      expect(plain.text).not.toMatch(/\b[45]\d\d\b|GET|POST|ECONN/)
      expect(plain.detail).toBe(raw)
    }
  })

  it('messages that are already plain stay as they are, without details', () => {
    expect(plainFailure('Cannot read notes.txt: permission denied')).toEqual({
      text: 'Cannot read notes.txt: permission denied',
    })
  })
})

describe('the app service in plain words', () => {
  let work: Awaited<ReturnType<typeof tempDir>>
  let options: AppServiceOptions

  beforeEach(async () => {
    work = await tempDir()
    const stateDir = join(work.path, 'state')
    options = {
      settings: new ConfSettingsStore(stateDir),
      secrets: new MemorySecretStore(),
      stateDir,
      version: '0.1.0-test',
      chooseFolder: async () => null,
      chooseDiagnosticsFolder: async () => null,
      openPath: async () => undefined,
      setLaunchAtLogin: () => undefined,
    }
  })

  afterEach(async () => {
    await work.dispose()
  })

  it('"Test connection" to a server that is not running says so, without socket codes', async () => {
    // A port that was just free: nothing listens there.
    const probe = createServer()
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
    const { port } = probe.address() as { port: number }
    await new Promise((resolve) => probe.close(resolve))

    const verdict = await new AppService(options).testConnection({
      backend: 'kala',
      server: `http://127.0.0.1:${port}`,
      auth: 'api-key',
      secret: 'any-key',
    })
    expect(verdict).toEqual({
      ok: false,
      message: `Ferry could not reach 127.0.0.1:${port}. Check the address and that the server is running.`,
    })
  })

  it('another Ferry syncing the same folders: the start error says what to do, not a pid', async () => {
    const other = new EngineLock(options.stateDir)
    other.acquire()
    try {
      const app = new AppService(options)
      const error = await app.start().then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(error).toBeDefined()
      const problem = startupProblem(error, '/home/me/.config/Ferry/logs/ferry.log')
      expect(problem).toEqual({
        title: 'Ferry is already running',
        message:
          'Another copy of Ferry is already keeping the same folders stored — probably the ' +
          '“ferry sync” command in a terminal window. Quit it (press Ctrl+C in that window), ' +
          'then open Ferry again.',
      })
      expect(problem.message).not.toContain(String(process.pid))
    } finally {
      other.release()
    }
  })

  it('any other start error keeps its reason and points to the log', () => {
    expect(startupProblem(new Error('The disk is full'), '/logs/ferry.log')).toEqual({
      title: 'Ferry cannot start syncing',
      message:
        'The disk is full\n\nQuit Ferry and open it again. If this keeps happening, Ferry’s log says more: /logs/ferry.log',
    })
  })
})
