/** Tables of the sync benchmark: aligned text for the terminal, and Markdown for the README. */

/** The bars of issue #3 §7 (informational: the benchmark never fails on them). */
export const SYNC_BARS = {
  scanVsWalk: 3,
  latencyP95Ms: 1000,
  idleCpuPercent: 1,
  idleRssBytes: 300e6,
} as const

/** One line of the table: a figure, and the bar it is held against when there is one. */
export interface Figure {
  readonly label: string
  readonly value: string
  /** Nested under the figure above it (a part of it). */
  readonly detail?: boolean
  readonly bar?: { readonly text: string; readonly met: boolean }
}

/** A group of figures under a heading. */
export interface Section {
  readonly title: string
  readonly figures: readonly Figure[]
}

const HEADERS = ['measure', 'figure', 'bar', '']

function cells(figure: Figure): string[] {
  return [
    `${figure.detail ? '  ' : ''}${figure.label}`,
    figure.value,
    figure.bar?.text ?? '',
    figure.bar ? (figure.bar.met ? '✓' : '✗') : '',
  ]
}

/** The aligned terminal table of every section. */
export function syncTextTable(sections: readonly Section[]): string {
  const rows = sections.flatMap((s) => s.figures.map(cells))
  const widths = HEADERS.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (r: readonly string[]): string =>
    r
      .map((cell, i) => (i === 1 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd()
  const out = [line(HEADERS), widths.map((w) => '-'.repeat(w)).join('  ')]
  for (const section of sections) {
    out.push(section.title)
    for (const figure of section.figures) out.push(line(cells(figure)))
  }
  return out.join('\n')
}

/** One Markdown table, section titles as bold rows. */
export function syncMarkdownTable(sections: readonly Section[]): string {
  const out = ['| Measure | Figure | Bar | |', '| --- | ---: | --- | :---: |']
  for (const section of sections) {
    out.push(`| **${section.title}** | | | |`)
    for (const figure of section.figures) {
      const [label, value, bar, mark] = cells(figure).map((c) => c.replaceAll('|', '\\|'))
      out.push(
        `| ${figure.detail ? '&nbsp;&nbsp;' : ''}${label?.trim()} | ${value} | ${bar} | ${mark} |`,
      )
    }
  }
  return out.join('\n')
}

/** The bar verdicts, one line each (MET/MISS, like bench:push). */
export function syncVerdicts(sections: readonly Section[]): string[] {
  return sections.flatMap((section) =>
    section.figures
      .filter((figure) => figure.bar)
      .map(
        (figure) =>
          `${figure.bar!.met ? 'MET ' : 'MISS'} ${section.title} — ${figure.label}: ${figure.value}, bar ${figure.bar!.text}`,
      ),
  )
}

/** The value at percentile `p` (0–100) of `values`, nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length))
  return sorted[rank - 1] as number
}

export const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(0)} MB`
export const sec = (seconds: number): string => `${seconds.toFixed(2)} s`
export const ms = (millis: number): string => `${millis.toFixed(0)} ms`
