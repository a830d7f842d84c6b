/**
 * Draws Ferry's app icon and tray icons as SVG and rasterizes them with headless Chromium into
 * main/electron/assets/. The PNGs are committed, so packaging never needs Chromium; run this again
 * (`npm run icons`) after changing a drawing, and look at the preview sheet it writes.
 *
 *   node test/assets/make-icons.ts [--preview <file.png>]
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { chromium, type Page } from 'playwright-core'

/** The tray states the app shows, in the order the tray code names them (`tray-<state>.png`). */
export const TRAY_STATES = [
  'idle',
  'syncing',
  'paused',
  'offline',
  'error',
  'needs-sign-in',
] as const

/** One of the tray states. */
export type TrayState = (typeof TRAY_STATES)[number]

/** Sizes of the square app icon PNGs under assets/icons/ (Linux picks them by name). */
export const APP_ICON_SIZES = [16, 32, 48, 64, 128, 256, 512] as const

/** Where the generated assets live. */
export const ASSETS_DIR = join(import.meta.dirname, '..', '..', 'main', 'electron', 'assets')

// A cloud on a 16-unit grid, flat at the bottom, leaving a 7×6 body for the glyph; drawn for 16 px
// so the glyph strokes land on whole pixels, and scaled ×2 for @2x.
const CLOUD = 'M4.3 14h7.9a3.3 3.3 0 0 0 .55-6.56A4.7 4.7 0 0 0 3.6 7.3 3.4 3.4 0 0 0 4.3 14z'

// The glyph of each state, drawn in `currentColor` on the cloud's body, and the cloud's colour.
// Shapes differ as well as colours, so the states read for colour-blind people and in the
// monochrome macOS template variants.
const TRAY: Record<TrayState, { readonly color: string; readonly glyph: string }> = {
  // Check mark: everything is stored.
  idle: {
    color: '#1b7f45',
    glyph:
      '<path d="M5.2 10.3 7.2 12.3 11 8.3" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round"/>',
  },
  // Up arrow: uploading.
  syncing: {
    color: '#1f64c8',
    glyph:
      '<path d="M8 13V8" stroke="currentColor" stroke-width="2"/><path d="M5.4 10.1 8 7.5l2.6 2.6" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round"/>',
  },
  // Pause bars.
  paused: {
    color: '#6b7482',
    glyph:
      '<rect x="5" y="8" width="2" height="5" rx=".3" fill="currentColor"/><rect x="9" y="8" width="2" height="5" rx=".3" fill="currentColor"/>',
  },
  // Drawn apart below: a hollow cloud struck through.
  offline: { color: '#6b7482', glyph: '' },
  // Exclamation mark.
  error: {
    color: '#c62828',
    glyph:
      '<rect x="7" y="6" width="2" height="4.5" rx=".5" fill="currentColor"/><rect x="7" y="11.5" width="2" height="2" rx=".6" fill="currentColor"/>',
  },
  // A person: sign in again.
  'needs-sign-in': {
    color: '#a35a00',
    glyph:
      '<circle cx="8" cy="8.2" r="1.8" fill="currentColor"/><path d="M5 13.5a3 2.9 0 0 1 6 0z" fill="currentColor"/>',
  },
}

/** The SVG of a tray icon: coloured (white glyph on a coloured cloud) or a macOS template. */
export function traySvg(state: TrayState, variant: 'color' | 'template', px: number): string {
  const { color, glyph } = TRAY[state]
  const fill = variant === 'color' ? color : '#000'
  let body: string
  if (state === 'offline') {
    // A hollow cloud and a slash, the slash cut out of the cloud's outline so both stay apart.
    body = `<mask id="m"><rect width="16" height="16" fill="#fff"/><path d="M2 2.6 13.4 14" stroke="#000" stroke-width="3.4"/></mask>
<path d="${CLOUD}" transform="matrix(.86 0 0 .86 1.12 1.4)" fill="none" stroke="${fill}" stroke-width="1.6" mask="url(#m)"/>
<path d="M2.4 3 13 13.6" stroke="${fill}" stroke-width="1.5" stroke-linecap="round"/>`
  } else if (variant === 'color') {
    body = `<path d="${CLOUD}" fill="${fill}"/><g color="#fff">${glyph}</g>`
  } else {
    // Template images are black and alpha only: the glyph is a hole through the cloud.
    body = `<mask id="m"><rect width="16" height="16" fill="#fff"/><g color="#000">${glyph}</g></mask>
<path d="${CLOUD}" fill="#000" mask="url(#m)"/>`
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${px}" height="${px}" viewBox="0 0 16 16">${body}</svg>`
}

/** The SVG of the app icon: a white cloud with an up arrow riding the water on a blue tile. */
export function appIconSvg(px: number): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${px}" height="${px}" viewBox="0 0 512 512">
<defs><linearGradient id="g" x1="0" y1="0" x2="0" y2="1">
<stop offset="0" stop-color="#2f8cf0"/><stop offset="1" stop-color="#1646a8"/></linearGradient></defs>
<rect x="24" y="24" width="464" height="464" rx="104" fill="url(#g)"/>
<path d="M150 330h214a76 76 0 0 0 12-151A110 110 0 0 0 166 160a86 86 0 0 0-16 170z" fill="#fff"/>
<path d="M256 300V196M212 238l44-44 44 44" fill="none" stroke="#1f64c8" stroke-width="30" stroke-linecap="round" stroke-linejoin="round"/>
<path d="M104 384q38-26 76 0t76 0 76 0 76 0M136 428q30-20 60 0t60 0 60 0 60 0" fill="none" stroke="#cfe3ff" stroke-width="18" stroke-linecap="round"/>
</svg>`
}

async function rasterize(page: Page, svg: string, px: number): Promise<Buffer> {
  await page.setViewportSize({ width: px, height: px })
  await page.setContent(
    `<!doctype html><html><body style="margin:0;background:transparent">${svg}</body></html>`,
  )
  return page.screenshot({ omitBackground: true, clip: { x: 0, y: 0, width: px, height: px } })
}

// The tray PNGs as rendered, enlarged without smoothing so each pixel shows, on a light and a
// dark panel; then at their real size; then the app icon.
function previewHtml(pngs: ReadonlyMap<string, Buffer>, appIcon: Buffer): string {
  const img = (png: Buffer, width: number): string =>
    `<img style="width:${width}px;image-rendering:pixelated;vertical-align:middle" src="data:image/png;base64,${png.toString('base64')}">`
  const row = (bg: string, suffix: string, scale: number): string =>
    `<div style="background:${bg};padding:6px">${TRAY_STATES.map((s) => {
      const png = pngs.get(`tray-${s}${suffix}.png`) as Buffer
      const px = suffix.endsWith('@2x') ? 32 : 16
      return `<span style="margin-right:10px">${img(png, px * scale)}</span>`
    }).join('')}</div>`
  return `<!doctype html><html><body style="margin:0;background:#888">
${row('#f2f2f2', '', 6)}${row('#2b2b2b', '', 6)}${row('#f2f2f2', 'Template', 6)}
${row('#f2f2f2', '', 1)}${row('#2b2b2b', '', 1)}${row('#2b2b2b', '@2x', 1)}
${row('#f2f2f2', '@2x', 3)}
${img(appIcon, 128)} ${img(appIcon, 32)}
</body></html>`
}

async function main(): Promise<void> {
  const previewIndex = process.argv.indexOf('--preview')
  const preview = previewIndex > 0 ? process.argv[previewIndex + 1] : undefined
  const browser = await chromium.launch({
    executablePath: process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium',
  })
  try {
    const page = await browser.newPage({ deviceScaleFactor: 1 })
    const out = async (name: string, png: Buffer): Promise<void> => {
      const path = join(ASSETS_DIR, name)
      await mkdir(dirname(path), { recursive: true })
      await writeFile(path, png)
    }
    const pngs = new Map<string, Buffer>()
    const appIcon = await rasterize(page, appIconSvg(512), 512)
    await out('icon.png', appIcon)
    for (const px of APP_ICON_SIZES) {
      await out(`icons/${px}x${px}.png`, await rasterize(page, appIconSvg(px), px))
    }
    for (const state of TRAY_STATES) {
      for (const [variant, suffix] of [
        ['color', ''],
        ['template', 'Template'],
      ] as const) {
        for (const [px, scale] of [
          [16, ''],
          [32, '@2x'],
        ] as const) {
          const name = `tray-${state}${suffix}${scale}.png`
          const png = await rasterize(page, traySvg(state, variant, px), px)
          pngs.set(name, png)
          await out(`tray/${name}`, png)
        }
      }
    }
    if (preview) {
      await page.setViewportSize({ width: 760, height: 560 })
      await page.setContent(previewHtml(pngs, appIcon))
      await page.screenshot({ path: preview, fullPage: true })
    }
  } finally {
    await browser.close()
  }
}

if (import.meta.main) await main()
