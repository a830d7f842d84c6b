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
  // Emacs auto-save files; escaped, since a line starting with # is a comment.
  '\\#*#',
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
  /**
   * Files' answers by name, when every rule matches by name alone (no `/` but a trailing one):
   * then a file in a folder that is not excluded is excluded or not by its name only, and most
   * names repeat across a tree. Checking 100 000 paths one by one was a third of a scan.
   */
  readonly #fileByName: Map<string, boolean> | undefined
  /** What it was made from (to make the same matcher on another thread). */
  readonly patterns: readonly string[]
  readonly ferryignore: string

  constructor(patterns: readonly string[] = [], ferryignore = '') {
    this.patterns = patterns
    this.ferryignore = ferryignore
    const rules = [...DEFAULT_EXCLUDES, ...patterns, ...ferryignore.split(/\r?\n/)]
    this.#ignore = ignore({ allowRelativePaths: false }).add(rules)
    this.#fileByName = rules.every(matchesByName) ? new Map() : undefined
  }

  /** `relPath` uses forward slashes; folders are matched with a trailing slash, as git does. */
  excludes(relPath: string, isFolder = false): boolean {
    if (relPath === '') return false
    if (isFolder || !this.#fileByName) {
      return this.#ignore.ignores(isFolder ? `${relPath}/` : relPath)
    }
    const slash = relPath.lastIndexOf('/')
    if (slash >= 0 && this.excludes(relPath.slice(0, slash), true)) return true
    const name = relPath.slice(slash + 1)
    let excluded = this.#fileByName.get(name)
    if (excluded === undefined) {
      excluded = this.#ignore.ignores(name)
      this.#fileByName.set(name, excluded)
    }
    return excluded
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

/** A rule that looks at a path's last name only: no `/` in it but a trailing one. */
function matchesByName(rule: string): boolean {
  const body = rule.trim().replace(/^!/, '').replace(/\/$/, '')
  return !body.includes('/')
}
