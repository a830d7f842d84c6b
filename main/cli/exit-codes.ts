import type { FerryError } from '../backends/errors.ts'

/** The CLI's exit codes (issue #2 §4), shared by every command. */
export const EXIT = {
  ok: 0,
  someFailed: 1,
  usage: 2,
  auth: 3,
} as const

export type ExitCode = (typeof EXIT)[keyof typeof EXIT]

/** A failure that ends the command with a message and an exit code. */
export class CliError extends Error {
  readonly code: ExitCode

  constructor(code: ExitCode, message: string) {
    super(message)
    this.name = 'CliError'
    this.code = code
  }
}

/** Maps a whole-command failure from the protocol layer onto an exit code. */
export function exitCodeFor(error: FerryError): ExitCode {
  if (error.kind === 'auth') return EXIT.auth
  if (error.kind === 'config') return EXIT.usage
  return EXIT.someFailed
}
