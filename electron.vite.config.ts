import { resolve } from 'node:path'
import { defineConfig } from 'electron-vite'

// The CLI is a second entry of the main build: same Node target, same externals, no Electron.
export default defineConfig({
  main: {
    build: {
      rollupOptions: {
        input: {
          index: resolve('main/index.ts'),
          cli: resolve('main/cli/ferry.ts'),
          // Perkeep's hashing thread: loaded at run time by path, next to the entries above.
          'hash-worker': resolve('main/backends/perkeep/hash-worker.ts'),
        },
      },
    },
  },
  preload: {
    build: { rollupOptions: { input: { index: resolve('preload/index.ts') } } },
  },
  renderer: {
    root: 'renderer',
    build: { rollupOptions: { input: { index: resolve('renderer/index.html') } } },
  },
})
