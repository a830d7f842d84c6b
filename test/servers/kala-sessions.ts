/**
 * Upload sessions of the Kala reference server (PROTOCOLS.md §2.2): each session is a file on
 * disk named by its uuid, written in place, checked for size and sha256 on close. The sha256 is
 * kept running as bytes are written, so close() need not read the file again.
 */
import { createHash, randomUUID, type Hash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { HttpError } from './kit.ts'

/** What tests can see of a session. */
export interface KalaSessionInfo {
  readonly uuid: string
  readonly originalFilename: string | undefined
  readonly fileSize: number
  readonly hash: string
  /** Bytes the session holds on disk now. */
  readonly size: number
  readonly state: 'open' | 'closed'
  /** Write requests that reached this session, whatever their outcome. */
  readonly writes: number
  /** Most write requests ever in flight at once; the client must keep this at 1. */
  readonly peakConcurrentWrites: number
  /** Write requests being handled now (waiting their turn included). */
  readonly inFlightWrites: number
  readonly storedPath: string
  readonly createdAt: number
}

/** A file whose session closed successfully. */
export interface KalaStoredFile {
  readonly uuid: string
  readonly originalFilename: string | undefined
  readonly size: number
  readonly sha256hex: string
  readonly storedPath: string
}

export interface NewSession {
  readonly originalFilename: string | undefined
  readonly fileSize: number
  readonly hash: string
  readonly digest: Uint8Array
}

/** A session's size and running hash at one moment, to undo a write back to. */
export interface SessionMark {
  readonly size: number
  readonly content: Hash | undefined
}

/** One session's mutable state; requests touching it run one after another (`serialize`). */
export class KalaSession {
  readonly uuid: string
  readonly originalFilename: string | undefined
  readonly fileSize: number
  readonly hash: string
  readonly digest: Buffer
  readonly path: string
  readonly createdAt: number
  #size = 0
  state: 'open' | 'closed' = 'open'
  writes = 0
  inFlight = 0
  peakConcurrentWrites = 0
  #tail: Promise<unknown> = Promise.resolve()
  /** sha256 of exactly the file's `size` bytes; undefined once a failed write left it unsure. */
  #content: Hash | undefined = createHash('sha256')

  constructor(uuid: string, path: string, createdAt: number, init: NewSession) {
    this.uuid = uuid
    this.path = path
    this.createdAt = createdAt
    this.originalFilename = init.originalFilename
    this.fileSize = init.fileSize
    this.hash = init.hash
    this.digest = Buffer.from(init.digest)
  }

  /**
   * Runs `task` after every earlier task of this session, like a per-file lock: overlapping
   * requests wait rather than interleave their bytes.
   */
  serialize<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(task, task)
    this.#tail = run.catch(() => undefined)
    return run
  }

  /** Bytes the file holds (changed through wrote/emptied/undo, so the hash follows). */
  get size(): number {
    return this.#size
  }

  /** Records `chunk` as written at the end of the file. */
  wrote(chunk: Buffer): void {
    this.#size += chunk.length
    this.#content?.update(chunk)
  }

  /** Records that the file was truncated to nothing (WRITE). */
  emptied(): void {
    this.#size = 0
    this.#content = createHash('sha256')
  }

  /** Records that the file's bytes past `size` are unknown (a write failed part-way). */
  unsure(): void {
    this.#content = undefined
  }

  /** The state to go back to if the write starting now is undone. */
  mark(mode: 'WRITE' | 'APPEND'): SessionMark {
    if (mode === 'WRITE') return { size: 0, content: createHash('sha256') }
    return { size: this.#size, content: this.#content?.copy() }
  }

  /** Records that the file was truncated back to `mark`. */
  undo(mark: SessionMark): void {
    this.#size = mark.size
    this.#content = mark.content
  }

  /** sha256 of the bytes held, if known without reading the file. */
  knownDigest(): Buffer | undefined {
    return this.#content?.copy().digest()
  }

  info(): KalaSessionInfo {
    return {
      uuid: this.uuid,
      originalFilename: this.originalFilename,
      fileSize: this.fileSize,
      hash: this.hash,
      size: this.size,
      state: this.state,
      writes: this.writes,
      peakConcurrentWrites: this.peakConcurrentWrites,
      inFlightWrites: this.inFlight,
      storedPath: this.path,
      createdAt: this.createdAt,
    }
  }
}

export interface KalaSessionStoreOptions {
  readonly dir: string
  readonly expiryMs: number
  readonly clock: () => number
}

/** All sessions, open and closed, with lazy expiry of open ones. */
export class KalaSessionStore {
  readonly #sessions = new Map<string, KalaSession>()
  readonly #options: KalaSessionStoreOptions

  constructor(options: KalaSessionStoreOptions) {
    this.#options = options
  }

  async create(init: NewSession): Promise<KalaSession> {
    const uuid = randomUUID()
    const session = new KalaSession(
      uuid,
      join(this.#options.dir, uuid),
      this.#options.clock(),
      init,
    )
    await writeFile(session.path, '')
    this.#sessions.set(uuid, session)
    return session
  }

  /** The session, or undefined if unknown or expired (an expired one is deleted). */
  find(uuid: string): KalaSession | undefined {
    const session = this.#sessions.get(uuid)
    if (!session) return undefined
    if (
      session.state === 'open' &&
      this.#options.clock() - session.createdAt >= this.#options.expiryMs
    ) {
      this.#sessions.delete(uuid)
      void rm(session.path, { force: true })
      return undefined
    }
    return session
  }

  /** Makes a session expire now, as if it had been left open for too long. */
  expire(uuid: string): void {
    const session = this.#sessions.get(uuid)
    if (!session || session.state !== 'open') return
    this.#sessions.delete(uuid)
    void rm(session.path, { force: true })
  }

  /**
   * Checks size then hash, and closes the session; a failed check leaves it open. Call inside
   * `session.serialize`.
   */
  async close(session: KalaSession): Promise<void> {
    if (this.#sessions.get(session.uuid) !== session) throw new HttpError(404, 'Session not found')
    if (session.state === 'closed') throw new HttpError(409, 'Session is already closed')
    if (session.size !== session.fileSize) {
      throw new HttpError(400, 'File size does not match the expected size')
    }
    const digest = session.knownDigest() ?? (await hashFile(session.path))
    if (!digest.equals(session.digest)) {
      throw new HttpError(400, 'File hash does not match the expected hash')
    }
    session.state = 'closed'
  }

  sessions(): KalaSessionInfo[] {
    return [...this.#sessions.values()].map((s) => s.info())
  }

  files(): KalaStoredFile[] {
    return [...this.#sessions.values()]
      .filter((s) => s.state === 'closed')
      .map((s) => ({
        uuid: s.uuid,
        originalFilename: s.originalFilename,
        size: s.size,
        sha256hex: s.digest.toString('hex'),
        storedPath: s.path,
      }))
  }
}

// Only when a failed write left the running hash unsure.
async function hashFile(path: string): Promise<Buffer> {
  const hash = createHash('sha256')
  await pipeline(createReadStream(path), hash)
  return hash.digest()
}
