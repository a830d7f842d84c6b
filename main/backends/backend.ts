import type { FerryError } from './errors.ts'

/** The three storage services Ferry speaks to. */
export type BackendKind = 'dstor' | 'kala' | 'perkeep'

/** A local file handed to a backend: where it is, and what it looked like when it was picked. */
export interface LocalFile {
  /** Path relative to the synced folder, forward slashes, no leading slash. */
  readonly relPath: string
  readonly absPath: string
  readonly size: number
  readonly mtimeMs: number
}

/** What the server confirmed it holds for a file; the shape names the backend. */
export type RemoteRef =
  { readonly cid: string } | { readonly uuid: string } | { readonly fileRef: string }

export type UploadOutcome =
  | {
      readonly ok: true
      readonly file: LocalFile
      /** Lowercase hex sha256 of the bytes that were confirmed. */
      readonly sha256: string
      readonly remote: RemoteRef
    }
  | { readonly ok: false; readonly file: LocalFile; readonly error: FerryError }

/** Byte-level progress: `bytes` more of `relPath` went onto the wire. */
export interface ProgressEvent {
  readonly relPath: string
  readonly bytes: number
}

export interface UploadOptions {
  readonly signal?: AbortSignal
  readonly onProgress?: (event: ProgressEvent) => void
  /** Called as soon as each file's outcome is known (before the whole call resolves). */
  readonly onOutcome?: (outcome: UploadOutcome) => void
  /**
   * Protocol state that survives a crash (Kala sessions, dStor processes). Without it an
   * interrupted upload starts over. Record each outcome durably inside `onOutcome`: the backend
   * drops its journal entry right after that call returns.
   */
  readonly journal?: UploadJournal
}

/**
 * Where a backend keeps protocol state that must survive a crash (a Kala session, a dStor process),
 * so a restarted upload recovers it instead of starting over. Values are small strings (JSON);
 * never secrets. The engine backs it with its SQLite index; writes are durable when set() returns.
 */
export interface UploadJournal {
  get(key: string): string | undefined
  set(key: string, value: string): void
  delete(key: string): void
  /** Keys starting with prefix. */
  keys(prefix: string): string[]
}

/**
 * One storage service. Both upload shapes (chunked: dStor folder processes, Kala sessions;
 * blob: Perkeep, dStor single file) hide behind `upload`: the caller hands over files and gets
 * back, per file, a confirmed remote reference or a typed error. `upload` itself only rejects
 * when the whole call cannot proceed (auth, config, cancellation).
 */
export interface Backend {
  readonly kind: BackendKind
  /** Proves the credentials work (used by `login` and "Test connection"). */
  checkAuth(signal?: AbortSignal): Promise<void>
  upload(files: readonly LocalFile[], options?: UploadOptions): Promise<UploadOutcome[]>
  /**
   * Backends that store folders as objects of their own (Perkeep's directory blobs) record the
   * folder's tree once its files are confirmed, and return the root's reference. Only they can
   * keep symlinks (as symlink blobs); the others skip them.
   */
  storeTree?(tree: FolderTree, options?: UploadOptions): Promise<string>
  close(): Promise<void>
}

/** A synced folder as confirmed on the server: its folders and its confirmed files. */
export interface FolderTree {
  /** Absolute path of the synced folder (for folder metadata). */
  readonly root: string
  /** Relative paths of every folder, '' for the root. */
  readonly folders: readonly string[]
  readonly files: readonly { readonly relPath: string; readonly remote: RemoteRef }[]
  /** Relative paths of symlinks, stored as links (never followed) by backends that can. */
  readonly symlinks?: readonly string[]
}
