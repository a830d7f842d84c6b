import ignore, { type Ignore } from 'ignore'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'

/**
 * What nobody wants uploaded: OS metadata, editor swap and lock files, partial downloads.
 * Users can re-include any of them with a negated pattern (`!*.tmp`).
 */
export const DEFAULT_EXCLUDES: readonly string[] = [
  // macOS, Windows and Linux desktop metadata
  '.DS_Store',
  '._*',
  '.Spotlight-V100/',
  '.Trashes/',
  '.fseventsd/',
  '.TemporaryItems/',
  'Thumbs.db',
  'ehthumbs.db',
  'desktop.ini',
  '$RECYCLE.BIN/',
  'System Volume Information/',
  '.Trash-*/',
  '.directory',
  // Editors and office suites: swap, backup and lock files
  '*.swp',
  '*.swo',
  '*.swx',
  '*~',
  '.#*',
  '#*#',
  '~$*',
  '.~lock.*#',
  '*.tmp',
  // Browsers and download managers: files still arriving
  '*.crdownload',
  '*.part',
  '*.partial',
  '*.download',
  '*.opdownload',
]

/** The per-folder exclude file, in .gitignore syntax, at the root of a synced folder. */
export const FERRYIGNORE = '.ferryignore'

/**
 * Decides what under a synced folder is not uploaded: the defaults, then the folder's own
 * patterns, then its `.ferryignore` — later lines win, so `!pattern` re-includes. The matching
 * is the `ignore` package's, which follows git's rules.
 */
export class ExcludeMatcher {
  readonly #ignore: Ignore

  constructor(patterns: readonly string[] = [], ferryignore = '') {
    this.#ignore = ignore({ allowRelativePaths: false }).add([
      ...DEFAULT_EXCLUDES,
      ...patterns,
      ...ferryignore.split(/\r?\n/),
    ])
  }

  /** `relPath` uses forward slashes; folders are matched with a trailing slash, as git does. */
  excludes(relPath: string, isFolder = false): boolean {
    if (relPath === '') return false
    return this.#ignore.ignores(isFolder ? `${relPath}/` : relPath)
  }

  /** Loads a folder's matcher: its settings' patterns plus its `.ferryignore`, if any. */
  static async forFolder(root: string, patterns: readonly string[] = []): Promise<ExcludeMatcher> {
    const text = await readFile(join(root, FERRYIGNORE), 'utf8').catch((error: unknown) => {
      if ((error as { code?: string }).code === 'ENOENT') return ''
      throw error
    })
    return new ExcludeMatcher(patterns, text)
  }
}
