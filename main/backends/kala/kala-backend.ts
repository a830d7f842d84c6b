import { basename } from 'node:path'
import type { Backend, LocalFile, UploadOptions, UploadOutcome } from '../backend.ts'
import { mapLimit } from '../concurrency.ts'
import type { ErrorKind, FerryError } from '../errors.ts'
import { IntegrityError, PermanentError, RetryableError, toFerryError } from '../errors.ts'
import type { AuthProvider, HttpClient } from '../http/client.ts'
import { multipartBody } from '../http/multipart.ts'
import { backoffDelay, sleep, withRetry } from '../http/retry.ts'
import { assertUnchanged, hashFile } from '../local-file.ts'
import { ProgressTracker } from '../progress.ts'
import { TokenCache } from '../token-cache.ts'
import { kalaHashFromHex } from './hash.ts'
import { KalaSessionJournal } from './session-journal.ts'

export type KalaAuth =
  | { readonly method: 'login'; readonly username: string; readonly password: string }
  | { readonly method: 'api-key'; readonly key: string; readonly headerName?: string }

export interface KalaOptions {
  readonly server: string
  readonly auth: KalaAuth
  readonly http: HttpClient
  /** First chunk size; halved on 413, not below MIN_CHUNK (PROTOCOLS.md §2.3). */
  readonly chunkSize?: number
  /** Files uploaded at once (one session each). */
  readonly concurrency?: number
}

export const DEFAULT_CHUNK = 8 * 1024 * 1024
export const MIN_CHUNK = 256 * 1024
const SESSIONS = '/api/manage/filestore/sessions'
// A failed close opens a new session (PROTOCOLS.md §2.3); a third failure is reported.
const SESSION_ATTEMPTS = 3
// Failures after which the journaled session is still worth restarting on the next try.
const KEEP_SESSION: ReadonlySet<ErrorKind> = new Set(['retryable', 'cancelled'])

/**
 * Kala filestore: one upload session per file, WRITE then APPEND chunks, then close. With a
 * journal, each session is recorded before its first byte is sent, so an upload cut short by a
 * crash restarts that session (or finds it already closed) instead of opening another.
 */
export class KalaBackend implements Backend {
  readonly kind = 'kala'
  readonly #base: URL
  readonly #auth: KalaAuth
  readonly #http: HttpClient
  readonly #concurrency: number
  readonly #tokens: TokenCache
  readonly #authProvider: AuthProvider
  #chunkSize: number

  constructor(options: KalaOptions) {
    this.#http = options.http
    this.#base = this.#http.checkUrl(options.server)
    this.#auth = options.auth
    this.#concurrency = options.concurrency ?? 4
    this.#chunkSize = options.chunkSize ?? DEFAULT_CHUNK
    this.#tokens = new TokenCache((signal) => this.#login(signal))
    this.#authProvider = {
      headers: async (signal) => {
        if (this.#auth.method === 'api-key') {
          return { [this.#auth.headerName ?? 'X-API-Key']: this.#auth.key }
        }
        return { authorization: `Bearer ${await this.#tokens.get(signal)}` }
      },
      refresh: async (signal) => {
        if (this.#auth.method === 'login') await this.#tokens.refresh(signal)
      },
    }
  }

  /** The current chunk size (it shrinks after a 413 and stays small for the server's limit). */
  get chunkSize(): number {
    return this.#chunkSize
  }

  async checkAuth(signal?: AbortSignal): Promise<void> {
    // No "who am I" endpoint: a file that cannot exist answers 404 behind the auth check, 401
    // in front of it.
    await this.#http.request({
      method: 'GET',
      url: this.#url('/api/manage/filestore/files/00000000-0000-0000-0000-000000000000'),
      auth: this.#authProvider,
      signal,
      acceptStatus: [404],
    })
  }

  async upload(files: readonly LocalFile[], options: UploadOptions = {}): Promise<UploadOutcome[]> {
    const sessions = options.journal ? new KalaSessionJournal(options.journal) : undefined
    sessions?.prune()
    return mapLimit(
      files,
      this.#concurrency,
      async (file) => {
        const outcome = await this.#uploadOne(file, options, sessions)
        if (!outcome.ok && outcome.error.kind === 'auth') throw outcome.error
        options.onOutcome?.(outcome)
        // Only once the outcome is reported: a crash before this finds the session again.
        if (outcome.ok || !KEEP_SESSION.has(outcome.error.kind)) sessions?.forget(file)
        return outcome
      },
      options.signal,
    )
  }

  async close(): Promise<void> {
    await this.#http.close()
  }

  async #uploadOne(
    file: LocalFile,
    options: UploadOptions,
    sessions: KalaSessionJournal | undefined,
  ): Promise<UploadOutcome> {
    const { signal } = options
    const progress = new ProgressTracker(options.onProgress)
    try {
      const sha256 = await hashFile(file, [], signal)
      const hash = kalaHashFromHex(sha256)
      let resumed = sessions?.find(file, hash)?.uuid
      if (resumed !== undefined) {
        const state = await this.#probeSession(resumed, signal)
        if (state === 'closed') {
          await assertUnchanged(file)
          return { ok: true, file, sha256, remote: { uuid: resumed } }
        }
        if (state === 'gone') resumed = undefined
      }
      let lastError: FerryError | undefined
      for (let attempt = 0; attempt < SESSION_ATTEMPTS; attempt++) {
        if (lastError)
          await sleep(backoffDelay(this.#http.retry, attempt, lastError.retryAfterMs), signal)
        let uuid: string
        if (resumed !== undefined) {
          // §2.3: a session persisted across a restart is restarted from byte 0 with WRITE.
          uuid = resumed
          resumed = undefined
        } else {
          uuid = await withRetry(this.#http.retry, signal, () =>
            this.#createSession(file, hash, signal),
          )
          sessions?.record(file, uuid, hash)
        }
        try {
          // A lost session (404) is not retried in place: the next turn opens a new one.
          await withRetry(
            this.#http.retry,
            signal,
            () => this.#writeAll(uuid, file, progress, options),
            {
              retryIf: (error) => error.status !== 404,
            },
          )
        } catch (error) {
          lastError = toFerryError(error, signal)
          if (lastError.status === 404) continue
          throw lastError
        }
        try {
          await this.#closeSession(uuid, signal)
        } catch (error) {
          // A close that failed, or may have, leaves us unsure: never reuse that session.
          lastError = toFerryError(error, signal)
          if (lastError.kind !== 'permanent' && lastError.kind !== 'retryable') throw lastError
          // A rejected size or hash usually means the file moved under us: that is the story.
          await assertUnchanged(file)
          continue
        }
        await assertUnchanged(file)
        return { ok: true, file, sha256, remote: { uuid } }
      }
      throw lastError ?? new PermanentError('Kala did not accept the upload')
    } catch (error) {
      return { ok: false, file, error: toFerryError(error, signal) }
    }
  }

  async #createSession(file: LocalFile, hash: string, signal?: AbortSignal): Promise<string> {
    const { body } = await this.#http.json<{ data?: unknown }>({
      method: 'POST',
      url: this.#url(SESSIONS),
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        originalFilename: basename(file.relPath),
        fileSize: file.size,
        hash,
      }),
      auth: this.#authProvider,
      signal,
    })
    if (typeof body.data !== 'string' || !body.data) {
      throw new IntegrityError('Kala answered a new session without its id')
    }
    return body.data
  }

  /**
   * Sends the whole file: WRITE first, APPEND after, one request at a time. Any failure restarts
   * from byte 0 (the caller retries this whole step), since APPEND carries no offset and the
   * server cannot be asked how much it holds (PROTOCOLS.md §2.3).
   */
  async #writeAll(
    uuid: string,
    file: LocalFile,
    progress: ProgressTracker,
    options: UploadOptions,
  ): Promise<void> {
    for (;;) {
      const chunk = this.#chunkSize
      try {
        let offset = 0
        do {
          const length = Math.min(chunk, file.size - offset)
          await this.#write(uuid, file, offset, length, progress, options)
          offset += length
        } while (offset < file.size)
        return
      } catch (error) {
        const typed = toFerryError(error, options.signal)
        if (typed.status === 413 && chunk > MIN_CHUNK) {
          this.#chunkSize = Math.max(MIN_CHUNK, Math.floor(chunk / 2))
          continue
        }
        if (typed.status === 404) {
          throw new RetryableError('Kala forgot the upload session; starting a new one', {
            status: 404,
          })
        }
        throw typed
      }
    }
  }

  async #write(
    uuid: string,
    file: LocalFile,
    offset: number,
    length: number,
    progress: ProgressTracker,
    options: UploadOptions,
  ): Promise<void> {
    const body = multipartBody(
      [
        {
          name: 'mode',
          contentType: 'text/plain',
          source: { bytes: Buffer.from(offset === 0 ? 'WRITE' : 'APPEND') },
        },
        {
          name: 'file',
          filename: basename(file.relPath),
          source: { path: file.absPath, start: offset, length },
        },
      ],
      {
        onPartProgress: (part, sent) => {
          if (part === 1) progress.reach(file.relPath, offset + sent, file.relPath)
        },
      },
    )
    const { body: answer } = await this.#http.json<{ data?: { size?: unknown } }>({
      method: 'POST',
      url: this.#url(`${SESSIONS}/${encodeURIComponent(uuid)}/write`),
      body,
      auth: this.#authProvider,
      signal: options.signal,
    })
    const held = answer.data?.size
    // The server's count is our only view of the session: if it disagrees, start over.
    if (typeof held === 'number' && held !== offset + length) {
      throw new RetryableError(
        `Kala holds ${held} bytes of ${file.relPath} where ${offset + length} were sent`,
      )
    }
  }

  /**
   * What became of a journaled session, learnt without sending any of the file: close it. A
   * close succeeds only when the session holds exactly the declared size and hash (§2.2), and
   * the journal only offers a session declared with the local file's hash.
   * - 200: every byte had arrived before the interruption; the session is now closed.
   * - 409: it was closed already (the crash came between its close and the engine recording
   *   it); the server checked the bytes against that same hash when it closed it.
   * - 400: it is open and does not hold the whole file (a failed close leaves it open).
   * - 404: unknown or expired.
   * A repeated probe is harmless (409), so network failures are retried.
   */
  async #probeSession(uuid: string, signal?: AbortSignal): Promise<'closed' | 'open' | 'gone'> {
    const { status } = await withRetry(this.#http.retry, signal, () =>
      this.#http.request({
        method: 'POST',
        url: this.#url(`${SESSIONS}/${encodeURIComponent(uuid)}/close`),
        auth: this.#authProvider,
        signal,
        acceptStatus: [400, 404, 409],
      }),
    )
    if (status === 404) return 'gone'
    if (status === 400) return 'open'
    return 'closed'
  }

  async #closeSession(uuid: string, signal?: AbortSignal): Promise<void> {
    await this.#http.request({
      method: 'POST',
      url: this.#url(`${SESSIONS}/${encodeURIComponent(uuid)}/close`),
      auth: this.#authProvider,
      signal,
    })
  }

  async #login(signal?: AbortSignal): Promise<string> {
    if (this.#auth.method !== 'login') throw new Error('login without a password')
    const { body } = await this.#http.json<{ data?: { access_token?: unknown } }>({
      method: 'POST',
      url: this.#url('/api/auth/access-token'),
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: this.#auth.username, password: this.#auth.password }),
      signal,
      authEndpoint: true,
    })
    const token = body.data?.access_token
    if (typeof token !== 'string') throw new IntegrityError('Kala answered a login without a token')
    return token
  }

  #url(path: string): URL {
    return new URL(
      path.replace(/^\//, ''),
      this.#base.href.endsWith('/') ? this.#base : `${this.#base.href}/`,
    )
  }
}
