/** A one-line progress bar for a TTY, redrawn at most ten times a second. */
export class ProgressBar {
  readonly #out: NodeJS.WritableStream & { columns?: number }
  readonly #totalBytes: number
  readonly #totalFiles: number
  readonly #started = Date.now()
  #bytes = 0
  #files = 0
  #lastDraw = 0

  constructor(
    out: NodeJS.WritableStream & { columns?: number },
    totalFiles: number,
    totalBytes: number,
  ) {
    this.#out = out
    this.#totalFiles = totalFiles
    this.#totalBytes = totalBytes
  }

  addBytes(bytes: number): void {
    this.#bytes = Math.min(this.#totalBytes, this.#bytes + bytes)
    this.#draw(false)
  }

  fileDone(): void {
    this.#files++
    this.#draw(false)
  }

  finish(): void {
    this.#draw(true)
    this.#out.write('\n')
  }

  #draw(force: boolean): void {
    const now = Date.now()
    if (!force && now - this.#lastDraw < 100) return
    this.#lastDraw = now
    const fraction =
      this.#totalBytes > 0
        ? this.#bytes / this.#totalBytes
        : this.#files / Math.max(1, this.#totalFiles)
    const seconds = Math.max(0.001, (now - this.#started) / 1000)
    const rate = this.#bytes / seconds
    const label = ` ${Math.floor(fraction * 100)}% ${this.#files}/${this.#totalFiles} files ${formatBytes(this.#bytes)}/${formatBytes(this.#totalBytes)} ${formatBytes(rate)}/s`
    const width = Math.max(10, Math.min(40, (this.#out.columns ?? 80) - label.length - 3))
    const filled = Math.round(fraction * width)
    this.#out.write(`\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]${label}\x1b[K`)
  }
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB']
  let value = bytes
  let unit = 0
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000
    unit++
  }
  return `${value >= 100 || unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`
}
