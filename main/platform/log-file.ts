import { appendFile, mkdir, rename, rm, stat } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'

const REDACTED = '[redacted]'

/** Known secrets shorter than this are not replaced everywhere: they would shred the log. */
const MIN_KNOWN_SECRET_LENGTH = 4

// Names of headers whose whole value is a credential.
const HEADER =
  /((?:proxy-)?authorization|x-api-key|api-key|x-auth-token|x-access-token|x-amz-security-token)(["']?\s*[:=]\s*["']?)(?:(bearer|basic|token|digest|negotiate)\s+)?(?!["']?\[redacted\])[^\s"',;&]+/gi
const COOKIE = /((?:set-)?cookie)(["']?\s*[:=]\s*)[^\r\n]+/gi
// `password=…`, `"token": "…"`, `api_key: …`: a name holding one of these words, then a value.
const PARAM =
  /([\w.-]*?(?:password|passwd|pwd|passphrase|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credentials?))(["']?\s*[:=]\s*)(?!["']?\[redacted\])(?:"[^"]*"|'[^']*'|[^\s"'&,;)}\]]+)/gi
const SCHEME_TOKEN = /\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi
const JWT = /\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g
// scheme://user:password@host — the user name stays, it helps and is no secret.
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*):[^\s/@]*@/gi

/**
 * Removes secrets from text meant for logs and diagnostics: anything that looks like one
 * (Authorization and API-key header values, bearer tokens, JWTs, `password=`/`secret=`/`token=`
 * parameters, credentials in URLs) plus every secret value registered with {@link add}.
 */
export class SecretRedactor {
  readonly #known = new Set<string>()
  // Longest first, so a secret containing another is replaced whole.
  #ordered: string[] = []

  /** Registers a value to replace wherever it appears (and its URL-encoded form). */
  add(secret: string): void {
    if (secret.length < MIN_KNOWN_SECRET_LENGTH) return
    const before = this.#known.size
    this.#known.add(secret)
    const encoded = encodeURIComponent(secret)
    if (encoded !== secret) this.#known.add(encoded)
    if (this.#known.size !== before) {
      this.#ordered = [...this.#known].sort((a, b) => b.length - a.length)
    }
  }

  redact(text: string): string {
    let out = text
    for (const secret of this.#ordered) out = out.replaceAll(secret, REDACTED)
    return out
      .replace(URL_CREDENTIALS, `$1:${REDACTED}@`)
      .replace(JWT, REDACTED)
      .replace(COOKIE, `$1$2${REDACTED}`)
      .replace(
        HEADER,
        (match, name: string, sep: string, scheme: string | undefined, at: number, all: string) => {
          if (scheme) return `${name}${sep}${scheme} ${REDACTED}`
          // `Authorization: Bearer [redacted]`: the token is gone already, keep the scheme.
          if (all.startsWith(` ${REDACTED}`, at + match.length)) return match
          return `${name}${sep}${REDACTED}`
        },
      )
      .replace(SCHEME_TOKEN, `$1 ${REDACTED}`)
      .replace(PARAM, `$1$2${REDACTED}`)
  }
}

/** How the log file is kept. */
export interface RotatingLogOptions {
  /** The folder of the log files (created when needed). */
  readonly dir: string
  /** Base name: `ferry.log`, rotated to `ferry.1.log` … */
  readonly name?: string
  /** Size at which the current file is rotated (default 1 MB). */
  readonly maxBytes?: number
  /** Files kept, the current one included (default 5). */
  readonly maxFiles?: number
  readonly redactor?: SecretRedactor
  readonly now?: () => Date
}

/**
 * The app's log: one line per call, time-stamped, redacted before it is written, appended
 * asynchronously in order (never blocking the caller), rotated by size over a fixed number of
 * files so it never grows without bound.
 */
export class RotatingLogFile {
  readonly #dir: string
  readonly #base: string
  readonly #ext: string
  readonly #maxBytes: number
  readonly #maxFiles: number
  readonly #redactor: SecretRedactor
  readonly #now: () => Date
  #queue: string[] = []
  #size: number | undefined
  #draining: Promise<void> | undefined
  #closed = false

  constructor(options: RotatingLogOptions) {
    this.#dir = options.dir
    const name = options.name ?? 'ferry.log'
    const dot = name.lastIndexOf('.')
    this.#base = dot > 0 ? name.slice(0, dot) : name
    this.#ext = dot > 0 ? name.slice(dot) : ''
    this.#maxBytes = options.maxBytes ?? 1_000_000
    this.#maxFiles = Math.max(1, options.maxFiles ?? 5)
    this.#redactor = options.redactor ?? new SecretRedactor()
    this.#now = options.now ?? (() => new Date())
  }

  /** The current file's path. */
  get path(): string {
    return this.#file(0)
  }

  /** Queues a line (redacted now, so a secret registered later cannot change what was meant). */
  write(line: string): void {
    if (this.#closed) return
    // One entry per line: a message with newlines cannot forge entries of its own.
    const flat = line.replace(/\r?\n/g, ' ⏎ ')
    this.#queue.push(`${this.#now().toISOString()} ${this.#redactor.redact(flat)}\n`)
    this.#draining ??= this.#drain()
  }

  /** Resolves once every line written so far is on disk. */
  async flush(): Promise<void> {
    while (this.#draining) await this.#draining
  }

  /** Flushes and stops accepting lines. */
  async close(): Promise<void> {
    this.#closed = true
    await this.flush()
  }

  /** The log files that exist, oldest first (for a diagnostics bundle). */
  files(): string[] {
    const out: string[] = []
    for (let i = this.#maxFiles - 1; i >= 0; i--) {
      if (existsSync(this.#file(i))) out.push(this.#file(i))
    }
    return out
  }

  #file(index: number): string {
    return join(
      this.#dir,
      index === 0 ? `${this.#base}${this.#ext}` : `${this.#base}.${index}${this.#ext}`,
    )
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.join('')
        this.#queue = []
        await this.#append(batch)
      }
    } catch {
      // A log that cannot be written must never take the app down; the lines are lost.
      this.#queue = []
    } finally {
      this.#draining = undefined
    }
  }

  async #append(text: string): Promise<void> {
    if (this.#size === undefined) {
      await mkdir(this.#dir, { recursive: true })
      this.#size = await stat(this.path).then(
        (s) => s.size,
        () => 0,
      )
    }
    const bytes = Buffer.byteLength(text)
    if (this.#size > 0 && this.#size + bytes > this.#maxBytes) await this.#rotate()
    await appendFile(this.path, text, { mode: 0o600 })
    this.#size += bytes
  }

  async #rotate(): Promise<void> {
    await rm(this.#file(this.#maxFiles - 1), { force: true })
    for (let i = this.#maxFiles - 2; i >= 0; i--) {
      await rename(this.#file(i), this.#file(i + 1)).catch(() => undefined)
    }
    this.#size = 0
  }
}
