import type { UploadJournal } from './backend.ts'

/**
 * An UploadJournal kept in memory: for a one-off push that has no index, and for tests. It
 * survives a cancelled upload within the process, not a crash of it.
 */
export class MemoryJournal implements UploadJournal {
  readonly #entries = new Map<string, string>()

  get(key: string): string | undefined {
    return this.#entries.get(key)
  }

  set(key: string, value: string): void {
    this.#entries.set(key, value)
  }

  delete(key: string): void {
    this.#entries.delete(key)
  }

  keys(prefix: string): string[] {
    return [...this.#entries.keys()].filter((key) => key.startsWith(prefix)).sort()
  }
}
