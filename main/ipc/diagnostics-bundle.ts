import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { redactDeep } from './redact-deep.ts'

/** What goes into a diagnostics bundle. */
export interface DiagnosticsContent {
  readonly version: string
  /** The settings (they hold no secrets; redacted anyway). */
  readonly settings: unknown
  readonly status: unknown
  /** The log files, oldest first. */
  readonly logFiles: readonly string[]
  readonly redact: (text: string) => string
  readonly now?: Date
}

/**
 * Writes `ferry-diagnostics-<time>/` into `parent`: about.txt, settings.json, status.json and the
 * logs. Everything is redacted again on the way in — the logs were redacted as they were
 * written, but a secret registered since (a key typed later) is caught too. A log that cannot
 * be copied is named in about.txt with the reason, so whoever reads the bundle knows it is
 * missing rather than finding nothing. Returns the bundle's folder.
 */
export async function writeDiagnosticsBundle(
  parent: string,
  content: DiagnosticsContent,
): Promise<string> {
  const { redact } = content
  const stamp = (content.now ?? new Date()).toISOString().replace(/[:.]/g, '-')
  const dir = join(parent, `ferry-diagnostics-${stamp}`)
  await mkdir(dir, { recursive: true })
  const json = (value: unknown): string => JSON.stringify(redactDeep(value, redact), null, 2)
  await writeFile(join(dir, 'settings.json'), json(content.settings))
  await writeFile(join(dir, 'status.json'), json(content.status))

  const included: string[] = []
  const missing: string[] = []
  for (const file of content.logFiles) {
    const name = basename(file)
    try {
      await writeFile(join(dir, name), redact(await readFile(file, 'utf8')))
      included.push(name)
    } catch (error) {
      missing.push(`${name}: ${redact(error instanceof Error ? error.message : String(error))}`)
    }
  }

  const electron = process.versions['electron']
  const about = [
    `Ferry ${content.version}`,
    `${process.platform} ${process.arch}`,
    `Node ${process.versions.node}${electron ? `, Electron ${electron}` : ''}`,
    '',
    `Logs included: ${included.length > 0 ? included.join(', ') : 'none'}`,
    ...(missing.length > 0
      ? ['Logs that could not be included:', ...missing.map((line) => `  ${line}`)]
      : []),
  ]
  await writeFile(join(dir, 'about.txt'), `${about.join('\n')}\n`)
  return dir
}
