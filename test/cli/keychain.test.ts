import { spawn } from 'node:child_process'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createKalaServer, type KalaServer } from '../servers/kala-server.ts'
import { tempDir, writeTree } from '../helpers/tree.ts'
import { FERRY_SOURCE } from './run-ferry.ts'

/**
 * The keychain round trip against a real gnome-keyring: each run gets its own D-Bus session and
 * an unlocked keyring in a throwaway HOME, so nothing touches the developer's own keychain.
 */
function inKeyringSession(
  script: string,
  env: Record<string, string>,
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'dbus-run-session',
      [
        '--',
        'sh',
        '-c',
        `echo -n ferry-test | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1; ${script}`,
      ],
      { env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (out += d.toString()))
    child.on('error', reject)
    // 'exit', not 'close': a daemon the session started may keep our pipes open after it ends.
    child.on('exit', (code) =>
      setTimeout(() => {
        child.stdout.destroy()
        child.stderr.destroy()
        resolve({ code, out })
      }, 200),
    )
  })
}

describe('keychain round trip (gnome-keyring over D-Bus)', () => {
  let server: KalaServer
  let dir: Awaited<ReturnType<typeof tempDir>>

  beforeAll(async () => {
    server = await createKalaServer({ users: { alice: 'alice-password' } })
    dir = await tempDir()
    await writeTree(join(dir.path, 'folder'), [
      { relPath: 'doc.txt', content: Buffer.from('kept safe') },
    ])
  })

  afterAll(async () => {
    await server.close()
    await dir.dispose()
  })

  it('login keeps the password in the keychain; push uses it; logout removes it', async () => {
    const ferry = `"${process.execPath}" "${FERRY_SOURCE}"`
    const account = `--backend kala --server ${server.url} --auth login --user alice`
    const script = [
      `FERRY_SECRET=wrong-password ${ferry} login ${account}; echo "login-wrong=$?"`,
      `FERRY_SECRET=alice-password ${ferry} login ${account}; echo "login=$?"`,
      `secret-tool search service Ferry 2>/dev/null | grep -c '^secret = alice-password$' | sed 's/^/stored=/'`,
      `${ferry} push "${join(dir.path, 'folder')}" ${account} --json; echo "push=$?"`,
      `${ferry} logout ${account}; echo "logout=$?"`,
      `secret-tool search service Ferry 2>/dev/null | grep -c '^secret' | sed 's/^/left=/'`,
      `${ferry} push "${join(dir.path, 'folder')}" ${account}; echo "push-after-logout=$?"`,
    ].join('; ')
    const home = join(dir.path, 'home')
    // gnome-keyring creates its login keyring under an existing HOME; without one it would
    // wait for a password prompt that never comes.
    await mkdir(join(home, '.local/share'), { recursive: true })
    const { out } = await inKeyringSession(script, {
      HOME: home,
      XDG_DATA_HOME: join(home, '.local/share'),
      XDG_CONFIG_HOME: join(home, '.config'),
      FERRY_HOME: join(dir.path, 'state'),
    })
    expect(out).toContain('login-wrong=3')
    expect(out).toContain('login=0')
    expect(out).toContain('stored=1')
    expect(out).toMatch(/"uploaded":1/)
    expect(out).toContain('push=0')
    expect(out).toContain('logout=0')
    expect(out).toContain('left=0')
    expect(out).toContain('push-after-logout=3')
    // The secret never shows in what the commands print.
    expect(out.replace(/secret = alice-password/g, '')).not.toContain('alice-password')
    expect(server.files()).toHaveLength(1)
  })
})
