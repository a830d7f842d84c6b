import { basename } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createPerkeepServer, type PerkeepServer } from '../servers/perkeep-server.ts'
import type { TreeNode } from '../servers/perkeep-schema-reader.ts'
import { sha256Hex } from '../helpers/tree.ts'
import {
  KILLS,
  crashSeed,
  runCrashScenario,
  type Confirmed,
  type CrashTarget,
} from './crash-harness.ts'

const PASSWORD = 'pk-crash-pw'

/**
 * Perkeep keeps blobs: a file is its `file` schema blob, the `bytes` blobs under it and its
 * chunks; each synced folder `Tree/dN` is a `directory` blob. The server logs (test-only) every
 * blob part it received, and notes those it already had.
 */
function perkeepTarget(server: PerkeepServer): CrashTarget<number> {
  const fileRefOf = (c: Confirmed): string => (c.remote as { fileRef: string }).fileRef
  /** Every blob a file's schema blob reaches (itself, bytes blobs, chunks), read from the server. */
  const refsCache = new Map<string, Set<string>>()
  const refsOf = async (fileRef: string): Promise<Set<string>> => {
    const cached = refsCache.get(fileRef)
    if (cached) return cached
    const refs = new Set<string>()
    const walk = async (ref: string): Promise<void> => {
      refs.add(ref)
      const schema = await server.readSchema(ref)
      for (const part of (schema.parts ?? []) as { blobRef?: string; bytesRef?: string }[]) {
        if (part.blobRef !== undefined) refs.add(part.blobRef)
        if (part.bytesRef !== undefined) await walk(part.bytesRef)
      }
    }
    await walk(fileRef)
    refsCache.set(fileRef, refs)
    return refs
  }
  return {
    backend: 'perkeep',
    url: server.url,
    secret: PASSWORD,
    injectFaults({ random }) {
      const faults = server.router.faults
      for (let i = 0; i < 20; i++) {
        // A refused upload, or one cut off mid-body (the parts before the cut are stored).
        faults.inject(
          'perkeep.upload',
          random() < 0.5
            ? { type: 'status', status: 503 }
            : { type: 'drop', afterBytes: 1000 + Math.floor(random() * 500_000) },
          { skip: Math.floor(random() * 200) },
        )
        faults.inject(
          'perkeep.stat',
          random() < 0.5 ? { type: 'status', status: 502 } : { type: 'drop' },
          { skip: Math.floor(random() * 200) },
        )
      }
    },
    clearFaults: () => server.router.faults.clear(),
    mark: () => server.received().length,
    async resentSince(mark, confirmed) {
      const owner = new Map<string, string>()
      for (const c of confirmed.values()) {
        for (const ref of await refsOf(fileRefOf(c))) owner.set(ref, c.path)
      }
      return server
        .received()
        .slice(mark)
        .flatMap((r) => {
          const path = owner.get(r.ref)
          return path === undefined ? [] : [path]
        })
    },
    async checkStored(confirmed, context) {
      for (const c of confirmed) {
        const schema = await server.readSchema(fileRefOf(c), 'file')
        expect(schema.fileName, c.path).toBe(basename(c.path))
        const stored = await server.fileDigest(fileRefOf(c))
        expect(stored, c.path).toEqual({ size: c.size, digest: context.sha256.get(c.path) })
      }
    },
    async checkExactTree(rows, folders, context) {
      // Each folder's root directory, as the index recorded it, holds exactly its files.
      const files = new Map<string, TreeNode>()
      const walk = (node: TreeNode, path: string): void => {
        for (const child of node.children ?? []) {
          const at = `${path}/${child.name}`
          if (child.type === 'directory') walk(child, at)
          else files.set(at, child)
        }
      }
      for (const folder of folders) {
        expect(folder.rootRef, `root directory of ${folder.prefix}`).toBeDefined()
        const root = await server.readDirectory(folder.rootRef as string)
        expect(root.name).toBe(folder.prefix)
        walk(root, folder.prefix)
      }
      expect([...files.keys()].sort()).toEqual(context.tree.map((f) => f.relPath).sort())
      for (const [path, node] of files) {
        expect(node.type, path).toBe('file')
        expect(node.fileRef, path).toBe(fileRefOf(rows.get(path) as Confirmed))
        const bytes = await server.fileBytes(node.fileRef as string)
        expect(sha256Hex(bytes), path).toBe(context.sha256.get(path))
      }
    },
    contentRequests: () => ({
      'perkeep.stat': server.router.log.count('perkeep.stat'),
      'perkeep.upload': server.router.log.count('perkeep.upload'),
      'perkeep.put': server.router.log.count('perkeep.put'),
    }),
    resetRequestLog: () => server.router.log.reset(),
    summary: () =>
      `the server received ${server.received().length} blob parts, ` +
      `${server.resentCount()} of them blobs it already had`,
    close: () => server.close(),
  }
}

describe('crash safety: kill -9 `ferry sync` syncing to Perkeep', () => {
  const seed = crashSeed()
  it(`converges after ${KILLS} kill -9s mid-sync with faults injected (seed ${seed})`, async () => {
    const server = await createPerkeepServer({ auth: { user: 'ferry', password: PASSWORD } })
    await runCrashScenario(perkeepTarget(server), {
      seed,
      layout: 'folder-per-top-dir',
      bandwidthLimit: 2 * 1024 * 1024,
      // Blobs that arrived stay: even short runs move the sync on.
      uploadWindowMs: 1000,
    })
  }, 120_000)
})
