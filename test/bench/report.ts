/** Tables and bar verdicts of the push benchmark: aligned text for the terminal, and Markdown. */
import type { WorkloadName } from './options.ts'

/** One measured line of a workload. */
export interface Row {
  readonly label: string
  readonly kind: 'floor' | 'post' | 'post-single' | 'push'
  readonly seconds?: number
  readonly maxRssBytes?: number
  readonly cpuSeconds?: number
  readonly serverCpuSeconds?: number
  /** Set when the step failed; the row then has no figures. */
  readonly error?: string
}

export interface WorkloadResult {
  readonly name: WorkloadName
  readonly description: string
  readonly files: number
  readonly bytes: number
  readonly rows: readonly Row[]
}

/** The bars of the issue (informational: the benchmark never fails on them). */
export const BARS = { pushVsBaselines: 1.3, maxRssBytes: 150e6, minFilesPerSecond: 500 } as const

const HEADERS = [
  'step',
  'seconds',
  'rate',
  '× floor',
  '× (floor+POST)',
  'peak RSS MB',
  'CPU s (client)',
  'CPU s (server)',
]

function cells(result: WorkloadResult, row: Row): string[] {
  if (row.seconds === undefined) return [row.label, 'FAILED', ...HEADERS.slice(2).map(() => '')]
  const floor = result.rows.find((r) => r.kind === 'floor')?.seconds
  const post = result.rows.find((r) => r.kind === 'post')?.seconds
  const ratio = (base: number | undefined): string =>
    base === undefined ? '–' : `${(row.seconds! / base).toFixed(2)}`
  return [
    row.label,
    row.seconds.toFixed(2),
    rate(result, row.seconds),
    ratio(floor),
    floor !== undefined && post !== undefined ? ratio(floor + post) : '–',
    row.maxRssBytes === undefined ? '–' : (row.maxRssBytes / 1e6).toFixed(0),
    row.cpuSeconds === undefined ? '–' : row.cpuSeconds.toFixed(2),
    row.serverCpuSeconds === undefined ? '–' : row.serverCpuSeconds.toFixed(2),
  ]
}

function rate(result: WorkloadResult, seconds: number): string {
  return result.name === 'A'
    ? `${(result.bytes / 1e6 / seconds).toFixed(0)} MB/s`
    : `${(result.files / seconds).toFixed(0)} files/s`
}

/** The aligned terminal table of one workload. */
export function textTable(result: WorkloadResult): string {
  const rows = [HEADERS, ...result.rows.map((row) => cells(result, row))]
  const widths = HEADERS.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)))
  const line = (r: readonly string[]): string =>
    r
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join('  ')
      .trimEnd()
  return [
    `Workload ${result.name}: ${result.description}`,
    line(rows[0]!),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.slice(1).map(line),
    ...failures(result).map((failure) => `  ${failure}`),
  ].join('\n')
}

/** One Markdown table for all workloads, to paste into the README. */
export function markdownTable(results: readonly WorkloadResult[]): string {
  const head = ['Workload', ...HEADERS.slice(0, 6)]
  const out = [
    `| ${head.join(' | ')} |`,
    `|${head.map((_, i) => (i < 2 ? ' --- ' : ' ---: ')).join('|')}|`,
  ]
  for (const result of results) {
    for (const row of result.rows) {
      out.push(`| ${result.name} | ${cells(result, row).slice(0, 6).join(' | ')} |`)
    }
  }
  const notes = results.flatMap(failures).map((failure) => failure.replaceAll('|', '\\|'))
  return [out.join('\n'), ...notes].join('\n\n')
}

function failures(result: WorkloadResult): string[] {
  return result.rows
    .filter((row) => row.error !== undefined)
    .map((row) => `FAILED ${result.name} ${row.label}: ${row.error}`)
}

/** The bar verdicts, one line each. */
export function verdicts(results: readonly WorkloadResult[]): string[] {
  const lines: string[] = []
  const mark = (ok: boolean): string => (ok ? 'MET ' : 'MISS')
  for (const result of results) {
    const floor = result.rows.find((r) => r.kind === 'floor')?.seconds
    const post = result.rows.find((r) => r.kind === 'post')?.seconds
    for (const row of result.rows.filter((r) => r.kind === 'push')) {
      const name = `${result.name} ${row.label}`
      if (row.seconds === undefined) {
        lines.push(`MISS ${name}: failed (${row.error ?? '?'})`)
        continue
      }
      if (result.name === 'A' && floor !== undefined && post !== undefined) {
        const ratio = row.seconds / (floor + post)
        lines.push(
          `${mark(ratio <= BARS.pushVsBaselines)} ${name}: ${ratio.toFixed(2)} × (floor + plain POST), bar ≤ ${BARS.pushVsBaselines}`,
        )
      }
      if (result.name === 'B') {
        const perSecond = result.files / row.seconds
        lines.push(
          `${mark(perSecond >= BARS.minFilesPerSecond)} ${name}: ${perSecond.toFixed(0)} files/s, bar ≥ ${BARS.minFilesPerSecond}`,
        )
      }
      if (row.maxRssBytes !== undefined) {
        lines.push(
          `${mark(row.maxRssBytes < BARS.maxRssBytes)} ${name}: peak RSS ${(row.maxRssBytes / 1e6).toFixed(0)} MB, bar < ${BARS.maxRssBytes / 1e6} MB`,
        )
      }
    }
  }
  return lines
}
