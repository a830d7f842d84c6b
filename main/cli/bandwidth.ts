import type { SettingsStore } from '../settings/settings-store.ts'
import { CliError, EXIT, type ExitCode } from './exit-codes.ts'
import type { CliIo } from './io.ts'
import { formatBytes } from './progress.ts'

const UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  kib: 1024,
  m: 1e6,
  mb: 1e6,
  mib: 1024 ** 2,
  g: 1e9,
  gb: 1e9,
  gib: 1024 ** 3,
}

/** Parses "2MB", "500 KiB/s", "1.5m" or "off" into bytes per second (0 = unlimited). */
export function parseRate(text: string): number {
  const trimmed = text.trim().toLowerCase()
  if (trimmed === 'off' || trimmed === 'none' || trimmed === 'unlimited') return 0
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*?)(?:\/s|ps)?$/.exec(trimmed)
  const unit = match ? UNITS[match[2] ?? ''] : undefined
  if (!match || unit === undefined) {
    throw new CliError(EXIT.usage, `Cannot read "${text}" as a rate: try 2MB, 500KiB or off`)
  }
  return Math.round(Number(match[1]) * unit)
}

/**
 * `ferry bandwidth [<rate>|off]`: shows or sets the upload limit. A running `ferry sync` (or the
 * app) picks the change up at once.
 */
export function bandwidth(args: readonly string[], io: CliIo, settings: SettingsStore): ExitCode {
  if (args.length > 1) throw new CliError(EXIT.usage, 'bandwidth takes one rate, or none')
  const [rate] = args
  const limit =
    rate === undefined
      ? settings.read().bandwidthLimit
      : settings.update((s) => ({ ...s, bandwidthLimit: parseRate(rate) })).bandwidthLimit
  io.stdout.write(
    limit === 0
      ? 'Uploads are not limited.\n'
      : `Uploads are limited to ${formatBytes(limit)}/s.\n`,
  )
  return EXIT.ok
}
