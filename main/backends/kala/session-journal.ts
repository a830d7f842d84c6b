import type { LocalFile, UploadJournal } from '../backend.ts'

/** What the journal keeps of a Kala session: its id and the content it was opened for. */
export interface JournaledSession {
  readonly uuid: string
  readonly size: number
  readonly mtimeMs: number
  /** The `hash` the session was created with (Kala form, not a secret). */
  readonly hash: string
  readonly createdAt: number
}

const PREFIX = 'kala:session:'
// The reference server expires open sessions after 24 h (PROTOCOLS.md §2.3); an older entry is
// either expired or left behind by an outcome that was recorded just before a crash.
const MAX_AGE_MS = 24 * 60 * 60 * 1000

/**
 * The Kala sessions of one synced folder, one per file (`kala:session:<relPath>`), so that an
 * upload interrupted by a crash restarts its session instead of opening another (§2.3).
 */
export class KalaSessionJournal {
  readonly #journal: UploadJournal
  readonly #clock: () => number

  constructor(journal: UploadJournal, clock: () => number = Date.now) {
    this.#journal = journal
    this.#clock = clock
  }

  /** Drops entries too old to be of use (and unreadable ones). */
  prune(): void {
    for (const key of this.#journal.keys(PREFIX)) {
      const entry = parse(this.#journal.get(key))
      if (!entry || this.#clock() - entry.createdAt > MAX_AGE_MS) this.#journal.delete(key)
    }
  }

  /**
   * The session journaled for `file` if it was opened for this very content (size, mtime and
   * hash); an entry for other content is stale and dropped.
   */
  find(file: LocalFile, hash: string): JournaledSession | undefined {
    const key = PREFIX + file.relPath
    const value = this.#journal.get(key)
    if (value === undefined) return undefined
    const entry = parse(value)
    if (entry && entry.size === file.size && entry.mtimeMs === file.mtimeMs && entry.hash === hash)
      return entry
    this.#journal.delete(key)
    return undefined
  }

  /** Records the session just opened for `file`, before any byte of it is sent. */
  record(file: LocalFile, uuid: string, hash: string): void {
    const entry: JournaledSession = {
      uuid,
      size: file.size,
      mtimeMs: file.mtimeMs,
      hash,
      createdAt: this.#clock(),
    }
    this.#journal.set(PREFIX + file.relPath, JSON.stringify(entry))
  }

  forget(file: LocalFile): void {
    this.#journal.delete(PREFIX + file.relPath)
  }
}

function parse(value: string | undefined): JournaledSession | undefined {
  if (value === undefined) return undefined
  try {
    const entry = JSON.parse(value) as Partial<JournaledSession> | null
    if (
      typeof entry?.uuid === 'string' &&
      entry.uuid !== '' &&
      typeof entry.size === 'number' &&
      typeof entry.mtimeMs === 'number' &&
      typeof entry.hash === 'string' &&
      typeof entry.createdAt === 'number'
    ) {
      return entry as JournaledSession
    }
  } catch {
    // Unreadable: treated like no entry, and dropped by the caller.
  }
  return undefined
}
