import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { inflateSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { APP_ICON_SIZES, ASSETS_DIR, TRAY_STATES } from './make-icons.ts'

interface Rgba {
  readonly width: number
  readonly height: number
  readonly pixels: Uint8Array
}

// Decodes the only PNG flavour the generator writes (8-bit RGBA, not interlaced), so the test can
// look at pixels without an image library.
function decodePng(png: Buffer): Rgba {
  expect(png.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a')
  let offset = 8
  let width = 0
  let height = 0
  const idat: Buffer[] = []
  while (offset < png.length) {
    const length = png.readUInt32BE(offset)
    const type = png.toString('latin1', offset + 4, offset + 8)
    const data = png.subarray(offset + 8, offset + 8 + length)
    if (type === 'IHDR') {
      width = data.readUInt32BE(0)
      height = data.readUInt32BE(4)
      expect([data[8], data[9], data[12]], 'bit depth, colour type, interlace').toEqual([8, 6, 0])
    } else if (type === 'IDAT') idat.push(data)
    offset += 12 + length
  }
  const raw = inflateSync(Buffer.concat(idat))
  const stride = width * 4
  const pixels = new Uint8Array(stride * height)
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]
    for (let x = 0; x < stride; x++) {
      const value = raw[y * (stride + 1) + 1 + x] as number
      const a = x >= 4 ? (pixels[y * stride + x - 4] as number) : 0
      const b = y > 0 ? (pixels[(y - 1) * stride + x] as number) : 0
      const c = x >= 4 && y > 0 ? (pixels[(y - 1) * stride + x - 4] as number) : 0
      let predictor = 0
      if (filter === 1) predictor = a
      else if (filter === 2) predictor = b
      else if (filter === 3) predictor = (a + b) >> 1
      else if (filter === 4) {
        const p = a + b - c
        const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)]
        predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c
      }
      pixels[y * stride + x] = (value + predictor) & 0xff
    }
  }
  return { width, height, pixels }
}

const load = async (name: string): Promise<Rgba> =>
  decodePng(await readFile(join(ASSETS_DIR, name)))

// How many pixels two same-sized images differ in (by more than a little, in colour or alpha).
function differingPixels(a: Rgba, b: Rgba): number {
  let count = 0
  for (let i = 0; i < a.pixels.length; i += 4) {
    for (let k = 0; k < 4; k++) {
      if (Math.abs((a.pixels[i + k] as number) - (b.pixels[i + k] as number)) > 48) {
        count++
        break
      }
    }
  }
  return count
}

describe('committed icons (test/assets/make-icons.ts)', () => {
  it('has the app icon at 512 px and every Linux size', async () => {
    expect((await load('icon.png')).width).toBe(512)
    for (const px of APP_ICON_SIZES) {
      const icon = await load(`icons/${px}x${px}.png`)
      expect([icon.width, icon.height]).toEqual([px, px])
    }
  })

  it('has a 16 px and a 32 px @2x tray icon per state, in colour and as a macOS template', async () => {
    for (const state of TRAY_STATES) {
      for (const suffix of ['', 'Template']) {
        const one = await load(`tray/tray-${state}${suffix}.png`)
        const two = await load(`tray/tray-${state}${suffix}@2x.png`)
        expect([one.width, one.height, two.width, two.height]).toEqual([16, 16, 32, 32])
      }
    }
  })

  it('draws each state with a different shape, not only a different colour', async () => {
    // Templates are black and alpha only, so comparing them compares shapes alone.
    const shapes = await Promise.all(TRAY_STATES.map((s) => load(`tray/tray-${s}Template.png`)))
    for (let i = 0; i < shapes.length; i++) {
      for (let j = i + 1; j < shapes.length; j++) {
        const pair = `${TRAY_STATES[i]} vs ${TRAY_STATES[j]}`
        expect(differingPixels(shapes[i] as Rgba, shapes[j] as Rgba), pair).toBeGreaterThan(8)
      }
    }
  })

  it('makes the template icons pure black with alpha, as macOS requires', async () => {
    for (const state of TRAY_STATES) {
      const { pixels } = await load(`tray/tray-${state}Template@2x.png`)
      let opaque = 0
      for (let i = 0; i < pixels.length; i += 4) {
        if ((pixels[i + 3] as number) === 0) continue
        opaque++
        expect([pixels[i], pixels[i + 1], pixels[i + 2]], state).toEqual([0, 0, 0])
      }
      expect(opaque, state).toBeGreaterThan(100)
    }
  })
})
