import { existsSync } from 'node:fs'

/**
 * Where a worker-thread entry named `name` (without extension) is, seen from the module at
 * `from` (its import.meta.url): next to it when running from source (`name.ts`), or, once built,
 * next to the entry that was built (out/main/name.js) — one folder up when the caller was bundled
 * into a shared chunk. Undefined when it is nowhere (callers then work on their own thread).
 */
export function workerUrl(from: string, name: string): URL | undefined {
  const candidates = from.endsWith('.ts') ? [`./${name}.ts`] : [`./${name}.js`, `../${name}.js`]
  for (const candidate of candidates) {
    const url = new URL(candidate, from)
    if (url.protocol === 'file:' && existsSync(url)) return url
  }
  return undefined
}
