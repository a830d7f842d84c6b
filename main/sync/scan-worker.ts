/**
 * Scan-thread entry: walks one synced folder with blocking calls (fast, and off the thread that
 * runs the engine and, in the app, the window and tray), posts the result and is done. Started
 * by scanFolder; an entry of the main build of its own (electron.vite.config.ts).
 */
import { parentPort, workerData } from 'node:worker_threads'
import { ExcludeMatcher } from './excludes.ts'
import type { ScanRequest } from './folder-scan.ts'
import { walkSync } from './scan-walk.ts'

const request = workerData as ScanRequest | undefined
if (parentPort && request) {
  const excludes = new ExcludeMatcher(request.patterns, request.ferryignore)
  parentPort.postMessage(walkSync(request.root, excludes))
}
