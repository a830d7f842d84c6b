import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import {
  createDstorServer,
  DSTOR_DEFAULT_API_KEY,
  type DstorServer,
} from '../servers/dstor-server.ts'
import { sha256Hex } from '../helpers/tree.ts'
import {
  KILLS,
  crashSeed,
  runCrashScenario,
  type Confirmed,
  type CrashContext,
  type CrashTarget,
} from './crash-harness.ts'

/** A file's path under the tree's root: its remote folder (`d3`, `d3/sub1`) and its name. */
function remotePath(folderPath: string, name: string): string {
  return folderPath === '' ? name : `${folderPath}/${name}`
}

/**
 * dStor keeps each folder process with the files its chunks carried, and (test-only) every file
 * part it received. Each synced folder `Tree/dN` goes to remote folder `/dN`, so a file's remote
 * folder and name give back its path in the tree.
 */
function dstorTarget(server: DstorServer): CrashTarget<number> {
  const cidOf = (c: Confirmed): string => (c.remote as { cid: string }).cid
  /** Processes whose every chunk had arrived when a kill left their files unrecorded. */
  const cutAfterLastChunk = new Set<string>()
  /** What the server stored, from its own records: DONE processes and single uploads. */
  const storedCids = (): Map<string, Set<string>> => {
    const stored = new Map<string, Set<string>>()
    const add = (path: string, cid: string): void => {
      stored.set(path, (stored.get(path) ?? new Set()).add(cid))
    }
    for (const p of server.processes()) {
      if (p.status !== 'DONE') continue
      for (const file of p.files) add(remotePath(p.folderPath, file.name), file.cid)
    }
    for (const file of server.listFiles()) {
      if (file.via === 'single') add(remotePath(file.folderPath, file.name), file.cid)
    }
    return stored
  }
  const bytesOf = async (cid: string): Promise<Buffer> => {
    const file = server.listFiles().find((f) => f.cid === cid)
    expect(file, `no stored file has CID ${cid}`).toBeDefined()
    return readFile(file?.storedPath as string)
  }
  return {
    backend: 'dstor',
    url: server.url,
    secret: DSTOR_DEFAULT_API_KEY,
    injectFaults({ random }: CrashContext) {
      const faults = server.router.faults
      // Spread over the loop's ~50 processes: a failed process puts 200 files in backoff.
      for (let i = 0; i < 6; i++) {
        // A refused or cut-off chunk abandons its process: its files go again in a new one.
        faults.inject(
          'dstor.upload',
          random() < 0.5
            ? { type: 'status', status: 503 }
            : { type: 'drop', afterBytes: 1000 + Math.floor(random() * 200_000) },
          { skip: Math.floor(random() * 250) },
        )
        faults.inject(
          'dstor.get-token',
          { type: 'status', status: 503, headers: { 'retry-after': '0' } },
          { skip: Math.floor(random() * 250) },
        )
        // A status poll that fails once is asked again.
        faults.inject(
          'dstor.status',
          random() < 0.5 ? { type: 'status', status: 502 } : { type: 'drop' },
          { skip: Math.floor(random() * 400) },
        )
      }
      for (let i = 0; i < 3; i++) {
        faults.inject('dstor.single', { type: 'drop', afterBytes: 500 }, { skip: i * 2 })
      }
      // The first processes to complete fail at a stage: their files go again.
      server.injectProcessError(
        { stage: random() < 0.5 ? 'ADDING_TO_IPFS' : 'SAVING_DATA', explanation: 'disk full' },
        { times: 2 },
      )
    },
    clearFaults: () => server.router.faults.clear(),
    mark: () => server.receipts().length,
    async resentSince(mark, confirmed) {
      return server
        .receipts()
        .slice(mark)
        .map((r) => remotePath(r.folderPath, r.name))
        .filter((path) => confirmed.has(path))
    },
    async checkStored(confirmed, context) {
      const stored = storedCids()
      for (const c of confirmed) {
        expect(
          [...(stored.get(c.path) ?? [])],
          `${c.path} is confirmed as ${cidOf(c)}, stored as`,
        ).toContain(cidOf(c))
        expect(sha256Hex(await bytesOf(cidOf(c))), c.path).toBe(context.sha256.get(c.path))
      }
    },
    async checkExactTree(rows, _folders, context) {
      // The stored tree (latest file per folder and name) is exactly the local one.
      const listed = new Map(
        server.listFiles().map((f) => [remotePath(f.folderPath, f.name), f.cid]),
      )
      expect([...listed.keys()].sort()).toEqual(context.tree.map((f) => f.relPath).sort())
      for (const c of rows.values()) expect(listed.get(c.path), c.path).toBe(cidOf(c))
      // Each file in at most one DONE process: a process cut off after its last chunk was
      // recovered (its result asked for), not sent again as a new one.
      const done = new Map<string, number>()
      for (const p of server.processes()) {
        if (p.status !== 'DONE') continue
        for (const f of p.files) {
          const path = remotePath(p.folderPath, f.name)
          done.set(path, (done.get(path) ?? 0) + 1)
        }
      }
      expect([...done].filter(([, n]) => n > 1)).toEqual([])
    },
    contentRequests: () => ({
      'dstor.get-token': server.router.log.count('dstor.get-token'),
      'dstor.upload': server.router.log.count('dstor.upload'),
      'dstor.single': server.router.log.count('dstor.single'),
      'dstor.status': server.router.log.count('dstor.status'),
    }),
    resetRequestLog: () => server.router.log.reset(),
    afterKill(confirmed) {
      for (const p of server.processes()) {
        if (p.chunksReceived < p.chunksNumber) continue
        const paths = p.files.map((f) => remotePath(p.folderPath, f.name))
        if (paths.some((path) => !confirmed.has(path))) cutAfterLastChunk.add(p.token)
      }
    },
    summary: () => {
      const processes = server.processes()
      const count = (status: string): number => processes.filter((p) => p.status === status).length
      const singles = server.receipts().filter((r) => r.route === 'dstor.single').length
      return (
        `${processes.length} processes (${count('DONE')} DONE, ${count('ERROR')} ERROR, ` +
        `${count('UPLOADING')} cut off), ${singles} single uploads; ` +
        `${cutAfterLastChunk.size} processes had every chunk when a kill left them unrecorded`
      )
    },
    close: () => server.close(),
  }
}

describe('crash safety: kill -9 `ferry sync` syncing to dStor', () => {
  const seed = crashSeed()
  it(`converges after ${KILLS} kill -9s mid-sync with faults injected (seed ${seed})`, async () => {
    // Each step after the last chunk takes a while, so kills land between it and DONE too.
    const server = await createDstorServer({ stageDelayMs: 150 })
    await runCrashScenario(dstorTarget(server), {
      seed,
      layout: 'folder-per-top-dir',
      bandwidthLimit: 16 * 1024 * 1024,
      // A process is all or nothing: give more runs the time to finish one.
      uploadWindowMs: 2000,
    })
  }, 120_000)
})
