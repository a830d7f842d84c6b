import { readFile, stat, writeFile, mkdir } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { RotatingLogFile, SecretRedactor } from '../../main/platform/log-file.ts'
import { tempDir } from '../helpers/tree.ts'

const JWT =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJkZW1vIiwiZXhwIjoxNzAwMDAwMDAwfQ.c2lnbmF0dXJlLWJ5dGVz'

describe('SecretRedactor', () => {
  const redact = (text: string): string => new SecretRedactor().redact(text)

  it('removes what looks like a secret', () => {
    const cases: [string, string][] = [
      ['Authorization: Bearer abc.def-123', 'Authorization: Bearer [redacted]'],
      ['authorization=Basic dXNlcjpwYXNz', 'authorization=Basic [redacted]'],
      ['"Authorization": "Token 123456789"', '"Authorization": "Token [redacted]"'],
      ['x-api-key: sk_live_1234567890', 'x-api-key: [redacted]'],
      ['headers {"api-key":"k-123456"}', 'headers {"api-key":"[redacted]"}'],
      ['Cookie: session=abc; theme=dark', 'Cookie: [redacted]'],
      [`token ${JWT} expired`, 'token [redacted] expired'],
      [
        'POST /login?user=ann&password=hunter22&x=1',
        'POST /login?user=ann&password=[redacted]&x=1',
      ],
      ['client_secret=s3cr3t&grant=x', 'client_secret=[redacted]&grant=x'],
      ['{"password": "with space", "user": "ann"}', '{"password": [redacted], "user": "ann"}'],
      ['{"accessToken":"t-abcdef","n":1}', '{"accessToken":[redacted],"n":1}'],
      ['api_key: 12345678 rest', 'api_key: [redacted] rest'],
      ['refresh_token=r1r2r3r4', 'refresh_token=[redacted]'],
      ['GET https://ann:pa55word@files.example/x', 'GET https://ann:[redacted]@files.example/x'],
      ['a Bearer eyJzomething.long', 'a Bearer [redacted]'],
    ]
    for (const [input, expected] of cases) expect(redact(input), input).toBe(expected)
  })

  it('leaves ordinary log lines alone', () => {
    for (const line of [
      '[sync] /home/me/Photos: folder tree stored, root sha224-0123456789abcdef',
      '[sync] uploaded 12 files (3.4 MB) in 2 s',
      'Sign in again to Kala at files.example: no saved key',
      'https://files.example/api/manage/filestore/files/5f0c',
      '[watcher] tokens: 5, keys: 3',
    ]) {
      expect(redact(line)).toBe(line)
    }
  })

  it('removes every registered secret, anywhere, and its URL-encoded form', () => {
    const redactor = new SecretRedactor()
    redactor.add('my plain key/with+odd=chars')
    redactor.add('ferry-sandbox-kala-key')
    redactor.add('abc') // too short to replace everywhere
    expect(redactor.redact('sent ferry-sandbox-kala-key to the server')).toBe(
      'sent [redacted] to the server',
    )
    expect(redactor.redact(`q=${encodeURIComponent('my plain key/with+odd=chars')}`)).toBe(
      'q=[redacted]',
    )
    expect(redactor.redact('error: my plain key/with+odd=chars was refused')).toBe(
      'error: [redacted] was refused',
    )
    expect(redactor.redact('abc def')).toBe('abc def')
  })
})

describe('RotatingLogFile', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  beforeEach(async () => {
    dir = await tempDir()
  })
  afterEach(async () => {
    await dir.dispose()
  })

  it('writes time-stamped, redacted lines, one entry per line', async () => {
    const redactor = new SecretRedactor()
    const log = new RotatingLogFile({
      dir: join(dir.path, 'logs'),
      redactor,
      now: () => new Date('2030-01-02T03:04:05.000Z'),
    })
    redactor.add('registered-at-run-time')
    log.write('[sync] started')
    log.write('[ipc] failed with registered-at-run-time and Authorization: Bearer zzz123')
    log.write('two\nlines')
    await log.close()
    log.write('after close: ignored')
    await log.flush()
    expect(await readFile(log.path, 'utf8')).toBe(
      '2030-01-02T03:04:05.000Z [sync] started\n' +
        '2030-01-02T03:04:05.000Z [ipc] failed with [redacted] and Authorization: Bearer [redacted]\n' +
        '2030-01-02T03:04:05.000Z two ⏎ lines\n',
    )
    expect(log.files()).toEqual([log.path])
  })

  it('rotates by size over a fixed number of files, dropping the oldest', async () => {
    const log = new RotatingLogFile({ dir: dir.path, maxBytes: 1000, maxFiles: 3 })
    for (let i = 0; i < 200; i++) {
      log.write(`line ${String(i).padStart(4, '0')} ${'x'.repeat(40)}`)
      // Some flushes in between, so rotation happens at line boundaries across batches too.
      if (i % 7 === 0) await log.flush()
    }
    await log.flush()
    const files = log.files()
    expect(files.map((f) => basename(f))).toEqual(['ferry.2.log', 'ferry.1.log', 'ferry.log'])
    for (const file of files) expect((await stat(file)).size).toBeLessThanOrEqual(1000)
    const text = (await Promise.all(files.map((f) => readFile(f, 'utf8')))).join('')
    const numbers = [...text.matchAll(/line (\d{4})/g)].map((m) => Number(m[1]))
    // What is kept is the newest lines, in order, none cut in half.
    expect(numbers.at(-1)).toBe(199)
    expect(numbers).toEqual(numbers.map((_, i) => (numbers[0] as number) + i))
    expect(numbers.length).toBeLessThan(200)
    expect(
      text
        .split('\n')
        .filter(Boolean)
        .every((l) => /x{40}$/.test(l)),
    ).toBe(true)
  })

  it('continues an existing file and counts its size', async () => {
    await mkdir(dir.path, { recursive: true })
    await writeFile(join(dir.path, 'ferry.log'), 'y'.repeat(950) + '\n')
    const log = new RotatingLogFile({ dir: dir.path, maxBytes: 1000, maxFiles: 2 })
    log.write('one more line that does not fit')
    await log.close()
    expect(log.files().map((f) => basename(f))).toEqual(['ferry.1.log', 'ferry.log'])
    expect(await readFile(join(dir.path, 'ferry.1.log'), 'utf8')).toBe('y'.repeat(950) + '\n')
  })

  it('never throws when the log cannot be written', async () => {
    await writeFile(join(dir.path, 'not-a-folder'), 'x')
    const log = new RotatingLogFile({ dir: join(dir.path, 'not-a-folder', 'logs') })
    log.write('lost')
    await log.close()
    expect(log.files()).toEqual([])
  })
})
