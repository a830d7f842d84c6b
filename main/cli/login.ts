import type { AccountConfig } from '../backends/account.ts'
import type { Backend } from '../backends/backend.ts'
import { toFerryError } from '../backends/errors.ts'
import { KeychainUnavailableError } from '../platform/keychain.ts'
import type { SecretStore } from '../platform/secret-store.ts'
import { CliError, EXIT, exitCodeFor, type ExitCode } from './exit-codes.ts'
import type { CliIo } from './io.ts'
import { accountKey, describeSecret } from './secret.ts'

/**
 * `ferry login`: takes the secret (FERRY_SECRET, else a hidden prompt, else one line of stdin),
 * proves it works against the server, and only then keeps it in the OS keychain.
 */
export async function login(
  account: AccountConfig,
  makeBackend: (secret: string) => Backend,
  secrets: SecretStore,
  io: CliIo,
  options: { keychainOptional?: boolean } = {},
): Promise<ExitCode> {
  const secret = io.env['FERRY_SECRET'] || (await readSecret(io, `${describeSecret(account)}: `))
  if (!secret) throw new CliError(EXIT.usage, `No ${describeSecret(account)} given`)
  const backend = makeBackend(secret)
  try {
    await backend.checkAuth()
  } catch (error) {
    const typed = toFerryError(error)
    throw new CliError(exitCodeFor(typed), typed.message)
  } finally {
    await backend.close()
  }
  try {
    await keep(() => secrets.set(accountKey(account), secret))
  } catch (error) {
    // Headless, with the secret in FERRY_SECRET, a missing keychain is not a reason to fail.
    if (!options.keychainOptional || !io.env['FERRY_SECRET']) throw error
    io.stderr.write(
      `ferry: no system keychain here; set FERRY_SECRET whenever Ferry runs for ${account.server}.\n`,
    )
    return EXIT.ok
  }
  io.stdout.write(
    `Signed in to ${account.server}; the ${describeSecret(account)} is in the system keychain.\n`,
  )
  return EXIT.ok
}

/** `ferry logout`: forgets the account's secret. */
export async function logout(
  account: AccountConfig,
  secrets: SecretStore,
  io: CliIo,
): Promise<ExitCode> {
  const removed = await keep(() => secrets.delete(accountKey(account)))
  io.stdout.write(
    removed ? `Signed out of ${account.server}.\n` : `No saved secret for ${account.server}.\n`,
  )
  return EXIT.ok
}

async function keep<T>(action: () => Promise<T>): Promise<T> {
  try {
    return await action()
  } catch (error) {
    if (error instanceof KeychainUnavailableError) {
      throw new CliError(EXIT.usage, `${error.message}. Use FERRY_SECRET instead.`)
    }
    throw error
  }
}

/** Reads a secret without echoing it on a TTY; from a pipe, reads the first line. */
async function readSecret(io: CliIo, prompt: string): Promise<string> {
  const { stdin } = io
  if (stdin.isTTY && stdin.setRawMode) {
    io.stderr.write(prompt)
    stdin.setRawMode(true)
    stdin.resume()
    try {
      return await new Promise<string>((resolve, reject) => {
        let value = ''
        const onData = (data: Buffer): void => {
          for (const char of data.toString('utf8')) {
            if (char === '\r' || char === '\n') {
              stdin.off('data', onData)
              io.stderr.write('\n')
              resolve(value)
              return
            }
            if (char === '\u0003') {
              stdin.off('data', onData)
              reject(new CliError(EXIT.usage, 'Cancelled'))
              return
            }
            if (char === '\u007f') value = value.slice(0, -1)
            else value += char
          }
        }
        stdin.on('data', onData)
      })
    } finally {
      stdin.setRawMode(false)
      stdin.pause()
    }
  }
  let text = ''
  for await (const chunk of stdin as AsyncIterable<Buffer>) {
    text += chunk.toString('utf8')
    if (text.includes('\n')) break
  }
  return text.split(/\r?\n/)[0]?.trim() ?? ''
}
