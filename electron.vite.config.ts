import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join, resolve, sep } from 'node:path'
import { defineConfig } from 'electron-vite'
import type { Plugin } from 'vite'

// The window and tray icons (main/electron/assets/**/*.png), copied next to the built main
// (out/main/assets/) for development builds. A packaged app uses the copies electron-builder.yml
// puts outside the asar (main/electron/asset-location.ts).
function copyMainAssets(): Plugin {
  const dir = resolve('main/electron/assets')
  return {
    name: 'ferry:copy-main-assets',
    generateBundle() {
      if (!existsSync(dir)) return
      for (const name of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
        if (!name.endsWith('.png')) continue
        const fileName = ['assets', ...name.split(sep)].join('/')
        this.emitFile({ type: 'asset', fileName, source: readFileSync(join(dir, name)) })
      }
    },
  }
}

export default defineConfig({
  main: {
    plugins: [copyMainAssets()],
    build: {
      rollupOptions: {
        input: {
          index: resolve('main/index.ts'),
          cli: resolve('main/cli/ferry.ts'),
          // Perkeep's hashing thread: loaded at run time by path, next to the entries above.
          'hash-worker': resolve('main/backends/perkeep/hash-worker.ts'),
          // The scan's walking thread (main/sync/folder-scan.ts), likewise.
          'scan-worker': resolve('main/sync/scan-worker.ts'),
        },
      },
    },
  },
  // Sandboxed preloads cannot be ES modules: CommonJS, as out/preload/index.cjs.
  preload: {
    build: {
      rolldownOptions: {
        input: { index: resolve('preload/index.ts') },
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
      },
    },
  },
  // Preact through oxc's automatic JSX runtime (no React, no extra Vite plugin).
  renderer: {
    root: 'renderer',
    oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
    plugins: [
      {
        // `npm start` only: Vite's live reload talks over a local WebSocket, which the CSP's
        // connect-src 'none' refuses. Builds keep the CSP exactly as written.
        name: 'ferry:dev-csp',
        apply: 'serve',
        transformIndexHtml: (html: string) =>
          html.replace(
            "connect-src 'none'",
            "connect-src 'self' ws://localhost:* ws://127.0.0.1:*",
          ),
      },
    ],
    build: { rollupOptions: { input: { index: resolve('renderer/index.html') } } },
  },
})
