import { spawn } from 'node:child_process'
import { join } from 'node:path'

const repo = join(import.meta.dirname, '..', '..')

/** The CLI's source entry, run by Node's own type stripping: always the code under test. */
export const FERRY_SOURCE = join(repo, 'main', 'cli', 'ferry.ts')
/** The built launcher `npx ferry` runs (needs `npm run build`). */
export const FERRY_BIN = join(repo, 'bin', 'ferry.js')

export interface FerryRun {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
  /** The parsed last stdout line, for --json runs. */
  json<T = PushJson>(): T
}

export interface PushJson {
  uploaded: number
  skipped: number
  failed: { path: string; error: string }[]
  files: { path: string; size: number; sha256: string; remote: Record<string, string> }[]
  root?: string
}

/** Runs `ferry` in a real child process, as a user would. */
export function runFerry(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  options: {
    entry?: string
    input?: string
    /** Runs the command under a wrapper (e.g. setpriv to drop root's permission bypass). */
    wrapper?: readonly string[]
  } = {},
): Promise<FerryRun> {
  return new Promise((resolve, reject) => {
    const [command, ...prefix] = [...(options.wrapper ?? []), process.execPath]
    const child = spawn(command as string, [...prefix, options.entry ?? FERRY_SOURCE, ...args], {
      env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ...env } as NodeJS.ProcessEnv,
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')))
    child.stdin.end(options.input ?? '')
    child.on('error', reject)
    child.on('close', (code) =>
      resolve({
        code,
        stdout,
        stderr,
        json: <T>() => {
          const last = stdout.trim().split('\n').pop() ?? ''
          try {
            return JSON.parse(last) as T
          } catch {
            throw new Error(`not JSON: ${last}\nstderr: ${stderr}`)
          }
        },
      }),
    )
  })
}
