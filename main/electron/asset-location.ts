import { join } from 'node:path'

export interface AssetLocationOptions {
  readonly isPackaged: boolean
  /** Electron's process.resourcesPath (the packaged app's resources/ folder). */
  readonly resourcesPath: string
  /** The folder of the built main (out/main). */
  readonly builtMainDir: string
}

/**
 * The folder holding the window icon (`icon.png`) and the tray icons (`tray/tray-<state>.png`).
 * Packaged: resources/, outside app.asar, where electron-builder.yml's extraResources puts
 * them — the Linux tray (StatusNotifierItem) reads icons by real file path, and a path inside
 * the asar is not one. Development: out/main/assets, where electron.vite.config.ts copies them.
 */
export function assetsDir(options: AssetLocationOptions): string {
  return options.isPackaged ? options.resourcesPath : join(options.builtMainDir, 'assets')
}
