import { spawn } from 'node:child_process'
import { connect } from 'node:net'
import { createInterface } from 'node:readline'
import type { SandboxAccount } from '../ipc/app-service.ts'

/**
 * The ports `npm run sandbox` (test/servers/sandbox.ts) listens on. Copied, not imported: the
 * app must not bundle the reference servers. test/electron/sandbox-process.test.ts keeps the
 * two equal.
 */
export const SANDBOX_PORTS = { perkeep: 3179, kala: 3180, dstor: 3181 } as const

/** The sandbox's Perkeep demo account (local only, never a real secret). */
export const SANDBOX_ACCOUNT: SandboxAccount = {
  backend: 'perkeep',
  server: `http://127.0.0.1:${SANDBOX_PORTS.perkeep}`,
  auth: 'userpass',
  user: 'ferry',
  secret: 'demo-password',
}

export interface SandboxProcessOptions {
  /** The Node that runs the script (npm's, in `npm start`). */
  readonly node: string
  /** test/servers/sandbox.ts */
  readonly script: string
  readonly cwd: string
  /** Where the servers keep what is uploaded (FERRY_SANDBOX_DIR). */
  readonly dataDir: string
  /** The ports to wait for (default: all of SANDBOX_PORTS). */
  readonly ports?: readonly number[]
  readonly timeoutMs?: number
  readonly log?: (line: string) => void
}

/** The running sandbox: its demo account, and how to stop it (on quit). */
export interface SandboxHandle {
  readonly account: SandboxAccount
  close(): Promise<void>
}

/**
 * Development only: starts the reference servers in a child process and resolves once every
 * port answers. A sandbox already running (`npm run sandbox` in a terminal) is used as is and
 * left running on close.
 */
export async function startSandboxProcess(options: SandboxProcessOptions): Promise<SandboxHandle> {
  const ports = options.ports ?? Object.values(SANDBOX_PORTS)
  if ((await Promise.all(ports.map((p) => portAnswers(p)))).every(Boolean)) {
    options.log?.('[sandbox] already running: using it')
    return { account: SANDBOX_ACCOUNT, close: async () => undefined }
  }
  const child = spawn(options.node, [options.script], {
    cwd: options.cwd,
    env: { ...process.env, FERRY_SANDBOX_DIR: options.dataDir },
    // Its stdout lists the demo credentials: not for the log.
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  const killOnExit = (): void => void child.kill()
  process.once('exit', killOnExit)
  let lastError = ''
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => {
    lastError = line
    options.log?.(`[sandbox] ${line}`)
  })
  let gone = false
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }))
    // Spawning itself failed (no such Node): no 'exit' follows.
    child.once('error', (error) => {
      lastError = error.message
      resolve({ code: null, signal: null })
    })
  }).finally(() => (gone = true))
  const close = async (): Promise<void> => {
    process.removeListener('exit', killOnExit)
    if (gone || child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
  }
  const deadline = Date.now() + (options.timeoutMs ?? 30_000)
  for (;;) {
    if (gone) {
      const { code, signal } = await exited
      const how = signal ?? (code === null ? 'not started' : `exit ${code}`)
      throw new Error(`The local sandbox stopped (${how})${lastError ? `: ${lastError}` : ''}`)
    }
    if ((await Promise.all(ports.map((p) => portAnswers(p)))).every(Boolean)) break
    if (Date.now() > deadline) {
      await close()
      throw new Error('The local sandbox did not start in time')
    }
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  options.log?.(`[sandbox] listening on ${ports.join(', ')}`)
  return { account: SANDBOX_ACCOUNT, close }
}

/** True if something accepts TCP connections on the loopback port. */
export async function portAnswers(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' })
    const done = (answered: boolean): void => {
      socket.destroy()
      resolve(answered)
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}
