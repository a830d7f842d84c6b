import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { formatBytes, ProgressBar } from '../../main/cli/progress.ts'

function screen(): Writable & { columns: number; text: string } {
  const out = new Writable({
    write(chunk, _encoding, done) {
      out.text += String(chunk)
      done()
    },
  }) as Writable & { columns: number; text: string }
  out.columns = 80
  out.text = ''
  return out
}

describe('ProgressBar', () => {
  it('draws one line in place, never past 100 %, within the terminal width', () => {
    const out = screen()
    const bar = new ProgressBar(out, 2, 2_000_000)
    bar.addBytes(1_000_000)
    bar.addBytes(5_000_000)
    bar.fileDone()
    bar.fileDone()
    bar.finish()
    const frames = out.text.split('\r').filter(Boolean)
    const last = frames[frames.length - 1] as string
    expect(last).toContain('100% 2/2 files 2.0 MB/2.0 MB')
    for (const frame of frames)
      expect(frame.replaceAll('\x1b[K', '').replaceAll('\n', '').length).toBeLessThanOrEqual(80)
  })

  it('formats sizes for people', () => {
    expect(formatBytes(0)).toBe('0 B')
    expect(formatBytes(999)).toBe('999 B')
    expect(formatBytes(1_500_000)).toBe('1.5 MB')
    expect(formatBytes(1_073_741_824)).toBe('1.1 GB')
  })
})
