/**
 * Typed errors of the protocol layer. Callers decide by `kind`, never by parsing messages:
 * - auth: the credential is wrong, expired beyond refresh, or revoked; ask the user.
 * - retryable: network, timeout, 429, 5xx; try again later with backoff (`retryAfterMs` if known).
 * - permanent: the server refused this request for good (other 4xx), with its message.
 * - integrity: the server answered, but its answer does not prove our bytes arrived intact
 *   (wrong hash, CID, size, or unreadable JSON). Never recorded as synced.
 * - local: the local file could not be read, or changed or vanished while being sent.
 * - config: bad settings (URL, auth method) that no retry fixes.
 * - cancelled: the caller aborted.
 */
export type ErrorKind =
  'auth' | 'retryable' | 'permanent' | 'integrity' | 'local' | 'config' | 'cancelled'

export interface FerryErrorDetails {
  readonly status?: number
  readonly serverMessage?: string
  readonly retryAfterMs?: number
  readonly cause?: unknown
}

export class FerryError extends Error {
  readonly kind: ErrorKind
  readonly status: number | undefined
  readonly serverMessage: string | undefined
  readonly retryAfterMs: number | undefined

  constructor(kind: ErrorKind, message: string, details: FerryErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause })
    this.name = 'FerryError'
    this.kind = kind
    this.status = details.status
    this.serverMessage = details.serverMessage
    this.retryAfterMs = details.retryAfterMs
  }
}

export class AuthError extends FerryError {
  constructor(message: string, details?: FerryErrorDetails) {
    super('auth', message, details)
    this.name = 'AuthError'
  }
}

export class RetryableError extends FerryError {
  constructor(message: string, details?: FerryErrorDetails) {
    super('retryable', message, details)
    this.name = 'RetryableError'
  }
}

export class PermanentError extends FerryError {
  constructor(message: string, details?: FerryErrorDetails) {
    super('permanent', message, details)
    this.name = 'PermanentError'
  }
}

export class IntegrityError extends FerryError {
  constructor(message: string, details?: FerryErrorDetails) {
    super('integrity', message, details)
    this.name = 'IntegrityError'
  }
}

export class LocalFileError extends FerryError {
  constructor(message: string, details?: FerryErrorDetails) {
    super('local', message, details)
    this.name = 'LocalFileError'
  }
}

/**
 * The file changed (or shrank) while it was being read or sent: what the server got, if
 * anything, is not what the file is now. Not the file's fault: the caller queues it again
 * (PROTOCOLS.md §4) rather than counting a failure.
 */
export class FileChangedError extends LocalFileError {
  constructor(message: string, details?: FerryErrorDetails) {
    super(message, details)
    this.name = 'FileChangedError'
  }
}

export class ConfigError extends FerryError {
  constructor(message: string, details?: FerryErrorDetails) {
    super('config', message, details)
    this.name = 'ConfigError'
  }
}

export class CancelledError extends FerryError {
  constructor(message = 'Cancelled', details?: FerryErrorDetails) {
    super('cancelled', message, details)
    this.name = 'CancelledError'
  }
}

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ERR_STREAM_PREMATURE_CLOSE',
])

/** True for failures of the network itself (undici's UND_ERR_* and the OS's socket errors). */
export function isNetworkError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && (code.startsWith('UND_ERR_') || NETWORK_CODES.has(code))
}

/**
 * Wraps anything thrown into a FerryError, keeping typed ones as they are. Only real network
 * failures become retryable: anything else is a bug or a refusal, and retrying it blindly
 * would only repeat it.
 */
export function toFerryError(error: unknown, signal?: AbortSignal): FerryError {
  if (error instanceof FerryError) return error
  if (signal?.aborted) return new CancelledError('Cancelled', { cause: error })
  if (error instanceof Error && error.name === 'AbortError') {
    return new CancelledError('Cancelled', { cause: error })
  }
  const message = error instanceof Error ? error.message : String(error)
  if (isNetworkError(error))
    return new RetryableError(`Network error: ${message}`, { cause: error })
  return new PermanentError(`Internal error: ${message}`, { cause: error })
}
