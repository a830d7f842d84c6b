import { createHash } from 'node:crypto'
import type { LocalFile, UploadJournal } from '../backend.ts'

/** A file as a process carried it: enough to tell whether a requested file is the same one. */
export type JournaledFile = readonly [relPath: string, size: number, mtimeMs: number]

/** What the journal keeps of a dStor folder process (PROTOCOLS.md §1.2). */
export interface JournaledProcess {
  /** A digest of the upload token, naming the entry. */
  readonly id: string
  /**
   * The process's upload token: get-status needs it next to a fresh access token. It only works
   * with the account's own access token, which is never journaled.
   */
  readonly uploadToken: string
  /** `folder_path` the process was opened for. */
  readonly folderPath: string
  /** `chunks_number`. */
  readonly chunks: number
  readonly files: readonly JournaledFile[]
  readonly createdAt: number
  /** Chunk requests the server answered 200. */
  readonly sent: number
}

type Stored = Omit<JournaledProcess, 'id' | 'sent'>

const PROCESS = 'dstor:process:'
// The count changes with every chunk: kept apart so that the file list is written only once.
const SENT = 'dstor:process-sent:'
// A finished process's result stays readable; an older entry was most likely left behind by an
// outcome recorded just before a crash, and its files are not asked about any more.
const MAX_AGE_MS = 7 * 24 * 60 * 60 * 1000

/**
 * The folder processes of one synced folder (`dstor:process:<id>`, and its sent-chunk count in
 * `dstor:process-sent:<id>`), so a push restarted after a crash asks dStor for the result of a
 * process whose chunks all went out instead of sending them again.
 */
export class DstorProcessJournal {
  readonly #journal: UploadJournal
  readonly #clock: () => number

  constructor(journal: UploadJournal, clock: () => number = Date.now) {
    this.#journal = journal
    this.#clock = clock
  }

  /** Every readable, recent entry; unreadable, old and orphaned ones are dropped. */
  entries(): JournaledProcess[] {
    const entries: JournaledProcess[] = []
    for (const key of this.#journal.keys(PROCESS)) {
      const id = key.slice(PROCESS.length)
      const stored = parse(this.#journal.get(key))
      if (!stored || this.#clock() - stored.createdAt > MAX_AGE_MS) {
        this.forget(id)
        continue
      }
      const sent = Number(this.#journal.get(SENT + id) ?? 0)
      entries.push({ ...stored, id, sent: Number.isSafeInteger(sent) ? sent : 0 })
    }
    for (const key of this.#journal.keys(SENT)) {
      if (this.#journal.get(PROCESS + key.slice(SENT.length)) === undefined) {
        this.#journal.delete(key)
      }
    }
    return entries
  }

  /** Records a process just opened (get-token answered), before any chunk is sent. */
  begin(
    uploadToken: string,
    folderPath: string,
    chunks: readonly (readonly LocalFile[])[],
  ): string {
    const id = createHash('sha256').update(uploadToken).digest('hex').slice(0, 24)
    const stored: Stored = {
      uploadToken,
      folderPath,
      chunks: chunks.length,
      files: chunks.flat().map((file) => [file.relPath, file.size, file.mtimeMs] as const),
      createdAt: this.#clock(),
    }
    this.#journal.set(PROCESS + id, JSON.stringify(stored))
    return id
  }

  /** The server confirmed `sent` chunk requests of process `id`. */
  chunksSent(id: string, sent: number): void {
    this.#journal.set(SENT + id, String(sent))
  }

  forget(id: string): void {
    this.#journal.delete(PROCESS + id)
    this.#journal.delete(SENT + id)
  }
}

function parse(value: string | undefined): Stored | undefined {
  if (value === undefined) return undefined
  try {
    const stored = JSON.parse(value) as Partial<Stored> | null
    if (
      typeof stored?.uploadToken === 'string' &&
      typeof stored.folderPath === 'string' &&
      typeof stored.chunks === 'number' &&
      typeof stored.createdAt === 'number' &&
      Array.isArray(stored.files) &&
      stored.files.every(
        (file) =>
          Array.isArray(file) &&
          typeof file[0] === 'string' &&
          typeof file[1] === 'number' &&
          typeof file[2] === 'number',
      )
    ) {
      return stored as Stored
    }
  } catch {
    // Unreadable: treated like no entry, and dropped by the caller.
  }
  return undefined
}
