import { readFile, writeFile } from 'node:fs/promises'
import { createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  portAnswers,
  SANDBOX_ACCOUNT,
  SANDBOX_PORTS,
  startSandboxProcess,
} from '../../main/electron/sandbox-process.ts'
import { tempDir } from '../helpers/tree.ts'
import { SANDBOX } from '../servers/sandbox.ts'

/** A port nothing listens on (taken from the OS, then let go). */
async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

describe('the development sandbox', () => {
  it('knows the ports and the demo account test/servers/sandbox.ts serves', () => {
    expect(SANDBOX_PORTS).toEqual({
      perkeep: SANDBOX.perkeep.port,
      kala: SANDBOX.kala.port,
      dstor: SANDBOX.dstor.port,
    })
    expect(SANDBOX_ACCOUNT).toEqual({
      backend: 'perkeep',
      server: `http://127.0.0.1:${SANDBOX.perkeep.port}`,
      auth: 'userpass',
      user: SANDBOX.perkeep.user,
      secret: SANDBOX.perkeep.password,
    })
  })

  describe('startSandboxProcess (a stand-in script on free ports)', () => {
    let work: Awaited<ReturnType<typeof tempDir>>
    beforeEach(async () => {
      work = await tempDir()
    })
    afterEach(async () => {
      await work.dispose()
    })

    it('starts the script, resolves once its ports answer, and stops it on close', async () => {
      const ports = [await freePort(), await freePort()]
      const script = join(work.path, 'servers.mjs')
      // Listens late, like servers that take a moment; writes its data folder to prove the env.
      await writeFile(
        script,
        `import { createServer } from 'node:net'
import { writeFileSync } from 'node:fs'
writeFileSync(process.env.FERRY_SANDBOX_DIR + '/started', String(process.pid))
setTimeout(() => {
  for (const port of ${JSON.stringify(ports)}) createServer((s) => s.end()).listen(port, '127.0.0.1')
}, 300)
`,
      )
      const handle = await startSandboxProcess({
        node: process.execPath,
        script,
        cwd: work.path,
        dataDir: work.path,
        ports,
      })
      expect(handle.account).toEqual(SANDBOX_ACCOUNT)
      expect(Number(await readFile(join(work.path, 'started'), 'utf8'))).toBeGreaterThan(0)
      expect(await portAnswers(ports[0] as number)).toBe(true)
      await handle.close()
      expect(await portAnswers(ports[0] as number)).toBe(false)
      expect(await portAnswers(ports[1] as number)).toBe(false)
    })

    it('reuses a sandbox that already runs, and leaves it running', async () => {
      const server = createServer((s) => s.end())
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      const { port } = server.address() as AddressInfo
      try {
        const handle = await startSandboxProcess({
          node: '/nonexistent/node',
          script: '/nonexistent/sandbox.ts',
          cwd: work.path,
          dataDir: work.path,
          ports: [port],
        })
        await handle.close()
        expect(await portAnswers(port)).toBe(true)
      } finally {
        await new Promise((resolve) => server.close(resolve))
      }
    })

    it('says why when the servers cannot start', async () => {
      const script = join(work.path, 'broken.mjs')
      await writeFile(script, `console.error('EADDRINUSE: port 3179 is taken'); process.exit(3)\n`)
      await expect(
        startSandboxProcess({
          node: process.execPath,
          script,
          cwd: work.path,
          dataDir: work.path,
          ports: [await freePort()],
        }),
      ).rejects.toThrow('The local sandbox stopped (exit 3): EADDRINUSE: port 3179 is taken')
      await expect(
        startSandboxProcess({
          node: join(work.path, 'no-such-node'),
          script,
          cwd: work.path,
          dataDir: work.path,
          ports: [await freePort()],
        }),
      ).rejects.toThrow(/The local sandbox stopped \(not started\): .*ENOENT/)
    })
  })
})
