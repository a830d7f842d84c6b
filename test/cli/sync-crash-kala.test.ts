import { readFile } from 'node:fs/promises'
import { basename } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createKalaServer, type KalaServer } from '../servers/kala-server.ts'
import { sha256Hex } from '../helpers/tree.ts'
import {
  KILLS,
  crashSeed,
  runCrashScenario,
  type Confirmed,
  type CrashContext,
  type CrashTarget,
} from './crash-harness.ts'

/** Session uuid → write requests it had received. */
type KalaMark = ReadonlyMap<string, number>

/**
 * Kala keeps a file per closed session, named by the base name the client declared; the tree's
 * base names are unique, so each session names its file.
 */
function kalaTarget(server: KalaServer): CrashTarget<KalaMark> {
  let pathOf = new Map<string, string>()
  /** Sessions whose bytes had all arrived, or that had closed, when a kill left them unrecorded. */
  const cutAfterLastByte = new Set<string>()
  const uuidOf = (c: Confirmed): string => (c.remote as { uuid: string }).uuid
  return {
    backend: 'kala',
    url: server.url,
    secret: 'good-key',
    injectFaults(context: CrashContext) {
      pathOf = new Map(context.tree.map((f) => [basename(f.relPath), f.relPath]))
      const { random } = context
      // Refused writes, dropped connections, refused sessions, failed closes.
      for (let i = 0; i < 60; i++) {
        server.router.faults.inject(
          'kala.write',
          random() < 0.5 ? { type: 'status', status: 503 } : { type: 'drop', afterBytes: 1000 },
          { skip: Math.floor(random() * 3000) },
        )
        server.router.faults.inject(
          'kala.session',
          { type: 'status', status: 503, headers: { 'retry-after': '0' } },
          { skip: Math.floor(random() * 1500) },
        )
      }
      for (let i = 0; i < 20; i++) {
        server.router.faults.inject(
          'kala.close',
          random() < 0.5 ? { type: 'status', status: 503 } : { type: 'drop' },
          { skip: Math.floor(random() * 1500) },
        )
      }
    },
    clearFaults: () => server.router.faults.clear(),
    mark: () => new Map(server.sessions().map((s) => [s.uuid, s.writes])),
    async resentSince(mark, confirmed) {
      // A new session for a confirmed file, or a write to an old one, sends it again.
      return server
        .sessions()
        .filter((s) => {
          const path = pathOf.get(s.originalFilename ?? '')
          const before = mark.get(s.uuid)
          return path !== undefined && confirmed.has(path) && (before ?? -1) < s.writes
        })
        .map((s) => pathOf.get(s.originalFilename ?? '') as string)
    },
    async checkStored(confirmed, context) {
      const stored = new Map(server.files().map((f) => [f.uuid, f]))
      for (const c of confirmed) {
        const file = stored.get(uuidOf(c))
        expect(file, `${c.path} is confirmed as session ${uuidOf(c)}`).toBeDefined()
        expect(file?.originalFilename).toBe(basename(c.path))
        expect(file?.sha256hex, c.path).toBe(context.sha256.get(c.path))
        const bytes = await readFile(file?.storedPath as string)
        expect(sha256Hex(bytes), c.path).toBe(context.sha256.get(c.path))
      }
    },
    async checkExactTree(rows, _folders, context) {
      // Each name stored once: a confirmed upload is never repeated, and nothing else is there.
      const names = server.files().map((f) => f.originalFilename ?? '')
      const twice = names.filter((name, i) => names.indexOf(name) !== i)
      expect(twice).toEqual([])
      expect(names.sort()).toEqual(context.tree.map((f) => basename(f.relPath)).sort())
      const uuids = new Set(server.files().map((f) => f.uuid))
      for (const c of rows.values()) expect(uuids.has(uuidOf(c)), c.path).toBe(true)
    },
    contentRequests: () => ({
      'kala.session': server.router.log.count('kala.session'),
      'kala.write': server.router.log.count('kala.write'),
      'kala.close': server.router.log.count('kala.close'),
    }),
    resetRequestLog: () => server.router.log.reset(),
    afterKill(confirmed) {
      for (const s of server.sessions()) {
        const path = pathOf.get(s.originalFilename ?? '')
        const whole = s.state === 'closed' || s.size === s.fileSize
        if (path !== undefined && whole && !confirmed.has(path)) cutAfterLastByte.add(s.uuid)
      }
    },
    summary: () =>
      `${server.sessions().length} sessions for ${server.files().length} files; ` +
      `${cutAfterLastByte.size} sessions held every byte when a kill left them unrecorded`,
    close: () => server.close(),
  }
}

describe('crash safety: kill -9 `ferry sync` syncing to Kala', () => {
  const seed = crashSeed()
  it(`converges after ${KILLS} kill -9s mid-sync with faults injected (seed ${seed})`, async () => {
    // A 1 MiB body limit: the client halves its chunks on 413, so the ~3 MiB files go in
    // several WRITE/APPEND requests that a kill can cut between.
    const server = await createKalaServer({ apiKeys: ['good-key'], maxBodyBytes: 1024 * 1024 })
    await runCrashScenario(kalaTarget(server), {
      seed,
      layout: 'one-folder',
      bandwidthLimit: 1024 * 1024,
    })
  }, 120_000)
})
