/**
 * The crash-safety harness shared by the per-backend kill -9 tests (issue 3 §3, §6): a 1 000-file
 * tree, `ferry sync` killed with SIGKILL at random moments while it syncs with the server's own
 * faults injected, a final `ferry sync --once` without faults, and then the checks every backend
 * must pass:
 * - after every kill, each file the index calls synced is on the server with exactly its bytes
 *   (nothing unconfirmed is marked synced), checked against the server's own records;
 * - after convergence the server holds exactly the local tree, each index row carrying the
 *   server's reference;
 * - no file the index had confirmed before a kill had its content sent again after it, counted
 *   from the server's log of what it received;
 * - one more `ferry sync --once` sends nothing at all.
 * Each backend (`CrashTarget`) says how to reach its server, which faults to arm and how to read
 * its records. `FERRY_CRASH_SEED=<seed>` replays a run's faults and kill points (not its timing).
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join, relative, sep } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { expect } from 'vitest'
import type { RemoteRef } from '../../main/backends/backend.ts'
import { ConfSettingsStore } from '../../main/settings/conf-settings-store.ts'
import { addFolder } from '../../main/settings/edit-settings.ts'
import { SyncIndex } from '../../main/sync/sync-index.ts'
import { sha256Hex, tempDir, writeTree, type SampleFile } from '../helpers/tree.ts'
import { FERRY_SOURCE, runFerry } from './run-ferry.ts'

/** A small deterministic PRNG, so a failing run can be replayed from its seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** The seed of this run: `FERRY_CRASH_SEED`, else a fresh one (printed in the test's name). */
export function crashSeed(): number {
  return Number(process.env['FERRY_CRASH_SEED'] ?? Date.now() % 100_000)
}

export const KILLS = 20
const TOP_FOLDERS = 5

/** A file of the tree as the index confirmed it. */
export interface Confirmed {
  /** Path under the tree's root (forward slashes), unique across synced folders. */
  readonly path: string
  readonly size: number
  readonly sha256: string
  readonly remote: RemoteRef
}

/** The tree as the harness wrote it, and what the index says about it. */
export interface CrashContext {
  readonly tree: readonly SampleFile[]
  /** Each file's sha256 (hex), by path under the tree's root. */
  readonly sha256: ReadonlyMap<string, string>
  readonly random: () => number
}

/** One synced folder's rows after convergence. */
export interface FolderRows {
  /** The folder's path under the tree's root ('' = the tree itself). */
  readonly prefix: string
  readonly folderId: string
  /** Its Perkeep root directory, if the backend stores trees. */
  readonly rootRef: string | undefined
}

/** What a backend's test supplies: its server, its faults and how to read its records. */
export interface CrashTarget<Mark> {
  readonly backend: 'kala' | 'dstor' | 'perkeep'
  readonly url: string
  readonly secret: string
  /** `ferry account add` options beyond --backend/--server/--name. */
  readonly accountArgs?: readonly string[]
  /** Called once the tree is written: arms the server's own faults for the kill loop. */
  injectFaults(context: CrashContext): void
  clearFaults(): void
  /** Where the server's record of received content stands now. */
  mark(): Mark
  /**
   * The paths of `confirmed` files whose content (any part of it, in any request, whole or cut
   * off) the server received after `mark`.
   */
  resentSince(mark: Mark, confirmed: ReadonlyMap<string, Confirmed>): Promise<string[]>
  /** Fails unless every confirmed file is on the server as confirmed, with the local bytes. */
  checkStored(confirmed: readonly Confirmed[], context: CrashContext): Promise<void>
  /** Fails unless the server holds exactly the tree (no file missing, extra or repeated). */
  checkExactTree(
    rows: ReadonlyMap<string, Confirmed>,
    folders: readonly FolderRows[],
    context: CrashContext,
  ): Promise<void>
  /** Requests that carried (or opened an upload of) file content, by route. */
  contentRequests(): Record<string, number>
  resetRequestLog(): void
  /** Called after each kill with what the index had confirmed then (for statistics). */
  afterKill?(confirmed: ReadonlyMap<string, Confirmed>): void
  /** A line of statistics for the log. */
  summary?(): string
  close(): Promise<void>
}

export interface CrashOptions {
  readonly seed: number
  /** One synced folder for the whole tree, or one per top-level folder (d0…d4). */
  readonly layout: 'one-folder' | 'folder-per-top-dir'
  /** Bytes per second during the kill loop, so the sync spans the kills. */
  readonly bandwidthLimit: number
  /** How far into a run's uploads a kill may come; default 1 500 ms. */
  readonly uploadWindowMs?: number
}

/**
 * 1 000 files (~36 MB) with unique base names (Kala keeps only the base name, so uploads can be
 * counted per file), in five top folders of three subfolders each; mostly small, and ten of
 * ~3 MiB, all in d2 (so with a folder per top folder, four folders are quick and one is slow).
 */
export function crashTree(): SampleFile[] {
  return Array.from({ length: 1000 }, (_, i) => {
    const size = i % 100 === 7 ? 3 * 1024 * 1024 + i : 200 + ((i * 7919) % 12_000)
    const content = Buffer.alloc(size, `file ${i} `)
    return { relPath: `d${i % TOP_FOLDERS}/sub${i % 3}/file-${i}.bin`, content }
  })
}

/** Runs the whole scenario against `target`; every check is an expect. */
export async function runCrashScenario<Mark>(
  target: CrashTarget<Mark>,
  options: CrashOptions,
): Promise<void> {
  const random = mulberry32(options.seed)
  const dir = await tempDir()
  const times: string[] = []
  let lap = Date.now()
  const time = (what: string): void => {
    times.push(`${what} ${((Date.now() - lap) / 1000).toFixed(1)} s`)
    lap = Date.now()
  }
  try {
    const root = join(dir.path, 'Tree')
    const home = join(dir.path, 'state')
    const env = {
      FERRY_HOME: home,
      FERRY_SECRET: target.secret,
      DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent',
    }
    const tree = crashTree()
    await writeTree(root, tree)
    const context: CrashContext = {
      tree,
      sha256: new Map(tree.map((f) => [f.relPath, sha256Hex(f.content)])),
      random,
    }
    const add = await runFerry(
      [
        'account',
        'add',
        '--backend',
        target.backend,
        '--server',
        target.url,
        '--name',
        'acct',
        ...(target.accountArgs ?? []),
      ],
      env,
    )
    expect(add.code, add.stderr).toBe(0)
    const settings = new ConfSettingsStore(home)
    if (options.layout === 'one-folder') {
      const folder = await runFerry(['folder', 'add', root, '--account', 'acct'], env)
      expect(folder.code, folder.stderr).toBe(0)
    } else {
      // The same rules as `ferry folder add`, without five more processes to start.
      for (let top = 0; top < TOP_FOLDERS; top++) {
        await mkdir(join(root, `d${top}`), { recursive: true })
        settings.update((s) =>
          addFolder(s, { path: join(root, `d${top}`), accountId: 'acct', remotePath: `/d${top}` }),
        )
      }
    }
    const folders = settings.read().folders
    const prefixOf = new Map(
      folders.map((f) => [f.id, relative(root, f.path).split(sep).join('/')]),
    )
    const indexPath = join(home, 'sync.sqlite')

    /** What the index has confirmed, by path under the tree's root. */
    const readConfirmed = (): Map<string, Confirmed> => {
      const confirmed = new Map<string, Confirmed>()
      // A run killed early may not have made the index yet.
      if (!existsSync(indexPath)) return confirmed
      const index = new SyncIndex(indexPath, { readonly: true })
      try {
        for (const [folderId, prefix] of prefixOf) {
          for (const row of index.all(folderId).values()) {
            if (row.state !== 'synced' || !row.synced) continue
            const path = prefix === '' ? row.relPath : `${prefix}/${row.relPath}`
            confirmed.set(path, {
              path,
              size: row.synced.size,
              sha256: row.synced.sha256,
              remote: row.synced.remote,
            })
          }
        }
        return confirmed
      } finally {
        index.close()
      }
    }

    target.injectFaults(context)
    // A bandwidth limit stretches the sync over all the kills.
    settings.update((s) => ({ ...s, bandwidthLimit: options.bandwidthLimit }))

    /** Requests about file content the server has seen so far (never reset in the loop). */
    const activity = (): number =>
      Object.values(target.contentRequests()).reduce((sum, n) => sum + n, 0)
    /** How long a run takes to send its first request about file content (a running mean). */
    const startup = {
      estimate: 1000,
      runs: 0,
      seen(ms: number) {
        this.estimate = (this.estimate * this.runs + ms) / ++this.runs
      },
      /** A run with work left sent nothing in time: start-up is slower than thought. */
      tooShort() {
        if (this.runs === 0) this.estimate = Math.min(8000, this.estimate * 1.5)
      },
    }
    const marks: { mark: Mark; confirmed: Map<string, Confirmed>; kill: number }[] = []
    const checked = new Set<string>()
    const syncedAfterKill: number[] = []
    let kills = 0
    time('setup')
    for (let run = 0; kills < KILLS && run < KILLS * 3; run++) {
      const child = spawn(process.execPath, [FERRY_SOURCE, 'sync'], {
        env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ...env },
        stdio: ['ignore', 'ignore', 'pipe'],
      })
      let stderr = ''
      child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)))
      const exited = new Promise<void>((resolve) => child.on('close', () => resolve()))
      // Anywhere from start-up to well into the uploads: a fifth of the kills come during
      // start-up, the others once this run's uploads began (start-up takes as long as it takes
      // on a busy machine, and a kill before any upload tests little).
      const at = random()
      if (at < 0.2) await sleep(100 + (at / 0.2) * startup.estimate)
      else {
        const before = activity()
        const spawned = Date.now()
        // Nothing may be left to send: then the kill comes a little after a usual start-up.
        const cap = spawned + 1.5 * startup.estimate + 300
        while (activity() === before && Date.now() < cap && child.exitCode === null) {
          await sleep(20)
        }
        if (activity() === before && (syncedAfterKill.at(-1) ?? 0) < tree.length) {
          startup.tooShort()
        }
        if (activity() !== before) {
          startup.seen(Date.now() - spawned)
          await sleep(((at - 0.2) / 0.8) * (options.uploadWindowMs ?? 1500))
        }
      }
      if (child.exitCode === null) {
        child.kill('SIGKILL')
        kills++
      }
      await exited
      // `ferry sync` watches until stopped: ending by itself is a failure of its own.
      expect(child.signalCode, `ferry sync exited by itself:\n${stderr}`).toBe('SIGKILL')
      // Bytes the dead process had written may still be in the server's socket buffers.
      await sleep(50)
      const confirmed = readConfirmed()
      syncedAfterKill.push(confirmed.size)
      // Nothing unconfirmed is marked synced: each newly confirmed file is on the server now.
      const fresh = [...confirmed.values()].filter(
        (c) => !checked.has(`${c.path}\n${JSON.stringify(c.remote)}`),
      )
      for (const c of fresh) {
        expect(c.sha256, `${c.path} (seed ${options.seed})`).toBe(context.sha256.get(c.path))
      }
      await target.checkStored(fresh, context)
      for (const c of fresh) checked.add(`${c.path}\n${JSON.stringify(c.remote)}`)
      target.afterKill?.(confirmed)
      marks.push({ mark: target.mark(), confirmed, kill: kills })
    }
    expect(kills).toBe(KILLS)
    const label = `crash test ${target.backend} (seed ${options.seed})`
    console.info(
      `${label}: synced after each kill: ${syncedAfterKill.join(' ')}; ` +
        `uploads began ${Math.round(startup.estimate)} ms after start on average`,
    )
    if (target.summary) console.info(`${label}: ${target.summary()}`)
    // The kills landed mid-sync: uploads progressed between them, and most kills found the
    // tree not yet all stored.
    expect(syncedAfterKill.at(-1), label).toBeGreaterThan(0)
    const midSync = syncedAfterKill.filter((n) => n < tree.length).length
    expect(midSync, label).toBeGreaterThanOrEqual(KILLS / 2)

    time('kill loop')
    target.clearFaults()
    settings.update((s) => ({ ...s, bandwidthLimit: 0 }))
    const last = await runFerry(['sync', '--once'], env)
    expect(last.code, `${label}\n${last.stderr}`).toBe(0)

    // The index confirms every file, and the server holds exactly the local tree.
    const rows = readConfirmed()
    expect([...rows.keys()].sort(), label).toEqual(tree.map((f) => f.relPath).sort())
    for (const c of rows.values()) expect(c.sha256, c.path).toBe(context.sha256.get(c.path))
    const index = new SyncIndex(indexPath, { readonly: true })
    const folderRows = folders.map((f) => ({
      prefix: prefixOf.get(f.id) ?? '',
      folderId: f.id,
      rootRef: index.rootRef(f.id),
    }))
    index.close()
    time('final sync')
    await target.checkStored([...rows.values()], context)
    await target.checkExactTree(rows, folderRows, context)

    // No file confirmed before a kill had its content sent again after it.
    time('tree checks')
    const resent: string[] = []
    for (const { mark, confirmed, kill } of marks) {
      for (const path of await target.resentSince(mark, confirmed)) {
        resent.push(`${path} (confirmed before kill ${kill})`)
      }
    }
    expect([...new Set(resent)], label).toEqual([])

    // Everything is stored: one more run sends nothing.
    time('re-send checks')
    const quiet = target.mark()
    target.resetRequestLog()
    const idle = await runFerry(['sync', '--once'], env)
    expect(idle.code, idle.stderr).toBe(0)
    const requests = target.contentRequests()
    expect(
      Object.entries(requests).filter(([, n]) => n > 0),
      label,
    ).toEqual([])
    expect(await target.resentSince(quiet, rows), label).toEqual([])
    time('idle sync')
    console.info(`${label}: ${times.join(', ')}`)
  } finally {
    await target.close()
    await dir.dispose()
  }
}
