import { readdir, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { AppService } from '../../main/ipc/app-service.ts'
import { RotatingLogFile, SecretRedactor } from '../../main/platform/log-file.ts'
import { ConfSettingsStore } from '../../main/settings/conf-settings-store.ts'
import { MemorySecretStore } from '../helpers/memory-secret-store.ts'
import { tempDir } from '../helpers/tree.ts'

describe('export diagnostics: the real log files, redacted, and a note for any that is missing', () => {
  let work: Awaited<ReturnType<typeof tempDir>>
  let redactor: SecretRedactor
  let log: RotatingLogFile
  let extraLogs: string[]
  let app: AppService

  beforeEach(async () => {
    work = await tempDir()
    const stateDir = join(work.path, 'state')
    redactor = new SecretRedactor()
    // Small files, so a handful of lines rotates into several.
    log = new RotatingLogFile({ dir: join(stateDir, 'logs'), redactor, maxBytes: 400 })
    extraLogs = []
    app = new AppService({
      settings: new ConfSettingsStore(stateDir),
      secrets: new MemorySecretStore(),
      stateDir,
      version: '0.1.0-test',
      chooseFolder: async () => null,
      chooseDiagnosticsFolder: async () => work.path,
      openPath: async () => undefined,
      setLaunchAtLogin: () => undefined,
      logFiles: () => [...log.files(), ...extraLogs],
      redact: (text) => redactor.redact(text),
    })
  })

  afterEach(async () => {
    await log.close()
    await work.dispose()
  })

  const bundleFile = (dir: string, name: string): Promise<string> =>
    readFile(join(dir, name), 'utf8')

  it('holds every log file, with secrets redacted (also ones registered after the line was written)', async () => {
    redactor.add('known-secret-1234')
    for (let i = 0; i < 12; i++) log.write(`[kala] upload ${i} done`)
    log.write('[kala] sent Authorization: Bearer abcdefghijklmnop to the server')
    log.write('[app] key known-secret-1234 saved')
    // A key the log had not heard of when this line was written: the bundle redacts it too.
    log.write('[kala] server said: bad key later-secret-9876')
    await log.flush()
    redactor.add('later-secret-9876')
    const files = log.files().map((f) => f.slice(f.lastIndexOf('/') + 1))
    expect(files.length).toBeGreaterThan(1)

    const dir = (await app.exportDiagnostics()) as string
    expect((await readdir(dir)).sort()).toEqual(
      ['about.txt', 'settings.json', 'status.json', ...files].sort(),
    )
    const logs = (await Promise.all(files.map((name) => bundleFile(dir, name)))).join('')
    for (let i = 0; i < 12; i++) expect(logs).toContain(`[kala] upload ${i} done`)
    expect(logs).toContain('Authorization: Bearer [redacted]')
    expect(logs).toContain('[app] key [redacted] saved')
    expect(logs).toContain('bad key [redacted]')
    for (const secret of ['abcdefghijklmnop', 'known-secret-1234', 'later-secret-9876']) {
      expect(logs).not.toContain(secret)
    }
    expect(await bundleFile(dir, 'about.txt')).toContain(`Logs included: ${files.join(', ')}`)
    expect(await bundleFile(dir, 'about.txt')).not.toContain('could not be included')
  })

  it('a log that cannot be copied is named in about.txt with the reason', async () => {
    log.write('[app] starting')
    await log.flush()
    // Rotated away between listing and copying, as happens while the app keeps writing.
    const gone = join(work.path, 'state', 'logs', 'ferry.4.log')
    extraLogs.push(gone)
    await rm(gone, { force: true })

    const dir = (await app.exportDiagnostics()) as string
    expect(await bundleFile(dir, 'ferry.log')).toContain('[app] starting')
    const about = await bundleFile(dir, 'about.txt')
    expect(about).toContain('Logs included: ferry.log')
    expect(about).toMatch(/Logs that could not be included:\n {2}ferry\.4\.log: ENOENT/)
    expect(await readdir(dir)).not.toContain('ferry.4.log')
  })
})
