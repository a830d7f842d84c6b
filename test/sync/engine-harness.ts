import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { BackendKind } from '../../main/backends/backend.ts'
import { ConfSettingsStore } from '../../main/settings/conf-settings-store.ts'
import { addAccount, addFolder } from '../../main/settings/edit-settings.ts'
import type { AccountSettings } from '../../main/settings/settings-schema.ts'
import { createBackend } from '../../main/backends/create-backend.ts'
import { HttpClient } from '../../main/backends/http/client.ts'
import { BackendWiring } from '../../main/sync/backend-wiring.ts'
import {
  SyncEngine,
  type BackendFactory,
  type SyncEngineOptions,
} from '../../main/sync/sync-engine.ts'
import {
  createDstorServer,
  DSTOR_DEFAULT_API_KEY,
  type DstorServer,
} from '../servers/dstor-server.ts'
import { createKalaServer, type KalaServer } from '../servers/kala-server.ts'
import { createPerkeepServer, type PerkeepServer } from '../servers/perkeep-server.ts'
import type { TreeNode } from '../servers/perkeep-schema-reader.ts'
import { sha256Hex } from '../helpers/tree.ts'

/** A reference server with what an engine test needs of it. */
export interface TestServer {
  readonly kind: BackendKind
  readonly url: string
  readonly secret: string
  /** What the server holds for the folder: relPath → sha256 (read back from its storage). */
  stored(engine: SyncEngine, folderId: string): Promise<Map<string, string>>
  /** How many uploads of content the server received (to prove nothing went twice). */
  close(): Promise<void>
}

export async function startKala(
  options: Parameters<typeof createKalaServer>[0] = {},
): Promise<TestServer & { server: KalaServer }> {
  const server = await createKalaServer({ apiKeys: ['kala-key'], ...options })
  return {
    kind: 'kala',
    url: server.url,
    secret: 'kala-key',
    server,
    stored: async (engine, folderId) => {
      const byUuid = new Map(server.files().map((f) => [f.uuid, f]))
      const out = new Map<string, string>()
      for (const row of engine.index.all(folderId).values()) {
        if (row.state !== 'synced' || !row.synced || !('uuid' in row.synced.remote)) continue
        const file = byUuid.get(row.synced.remote.uuid)
        if (file) out.set(row.relPath, sha256Hex(await readFile(file.storedPath)))
      }
      return out
    },
    close: () => server.close(),
  }
}

export async function startDstor(): Promise<TestServer & { server: DstorServer }> {
  const server = await createDstorServer({ stageDelayMs: 1 })
  return {
    kind: 'dstor',
    url: server.url,
    secret: DSTOR_DEFAULT_API_KEY,
    server,
    stored: async () => {
      const out = new Map<string, string>()
      for (const file of server.listFiles()) {
        out.set(file.name, sha256Hex(await readFile(file.storedPath)))
      }
      return out
    },
    close: () => server.close(),
  }
}

export async function startPerkeep(): Promise<TestServer & { server: PerkeepServer }> {
  const server = await createPerkeepServer({ auth: { user: 'ferry', password: 'pk-pw' } })
  return {
    kind: 'perkeep',
    url: server.url,
    secret: 'pk-pw',
    server,
    stored: async (engine, folderId) => {
      const out = new Map<string, string>()
      const root = engine.index.rootRef(folderId)
      if (!root) return out
      const walk = async (node: TreeNode, prefix: string): Promise<void> => {
        for (const child of node.children ?? []) {
          const rel = prefix ? `${prefix}/${child.name}` : child.name
          if (child.type === 'directory') await walk(child, rel)
          else if (child.fileRef) out.set(rel, sha256Hex(await server.fileBytes(child.fileRef)))
        }
      }
      await walk(await server.readDirectory(root), '')
      return out
    },
    close: () => server.close(),
  }
}

/** The local tree as the server should hold it: relPath → sha256. */
export async function localTree(
  root: string,
  relPaths: readonly string[],
): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  for (const relPath of relPaths) out.set(relPath, sha256Hex(await readFile(join(root, relPath))))
  return out
}

export interface EngineSetup {
  readonly settings: ConfSettingsStore
  readonly account: AccountSettings
  readonly folderIds: string[]
  readonly wiring: BackendWiring
  engine(options?: Partial<SyncEngineOptions>): SyncEngine
  close(): Promise<void>
}

/**
 * Settings with one account on `server` and the given folders, and a factory for engines on a
 * state folder (several engines in turn model restarts). `accountOptions` overrides the
 * account's settings (e.g. `{ auth: 'login', user: 'ferry' }`).
 */
export function setupEngine(
  stateDir: string,
  server: TestServer,
  folders: readonly string[],
  secret: () => string = () => server.secret,
  accountOptions: Partial<Omit<AccountSettings, 'id' | 'backend' | 'server'>> = {},
): EngineSetup {
  const settings = new ConfSettingsStore(stateDir)
  const account: AccountSettings = {
    id: 'acct',
    backend: server.kind,
    server: server.url,
    auth: server.kind === 'perkeep' ? 'userpass' : 'api-key',
    ...(server.kind === 'perkeep' ? { user: 'ferry' } : {}),
    ...accountOptions,
  }
  settings.update((s) => addAccount(s, account))
  for (const path of folders) settings.update((s) => addFolder(s, { path, accountId: 'acct' }))
  const folderIds = settings.read().folders.map((f) => f.id)
  const wiring = new BackendWiring(0)
  const engines: SyncEngine[] = []
  return {
    settings,
    account,
    folderIds,
    wiring,
    engine: (options = {}) => {
      const engine = new SyncEngine({
        settings,
        secretFor: async () => secret(),
        makeBackend: wiring.makeBackend,
        indexPath: join(stateDir, 'sync.sqlite'),
        settleMs: 150,
        capMs: 1500,
        onBandwidthLimit: (limit) => wiring.bandwidth.setLimit(limit),
        ...options,
      })
      engines.push(engine)
      return engine
    },
    close: async () => {
      for (const engine of engines) await engine.stop()
      await wiring.close()
    },
  }
}

/** Polls until `condition` holds (generous timeout: CI machines are slow and shared). */
export async function waitUntil(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

/** Relative paths of a folder's rows in `state`, sorted. */
export function rowsIn(engine: SyncEngine, folderId: string, state: string): string[] {
  return [...engine.index.all(folderId).values()]
    .filter((row) => row.state === state)
    .map((row) => row.relPath)
    .sort()
}

/**
 * Kala: the sha256 of every upload the server completed, per file name (one entry per closed
 * session), to prove each file went up once per distinct content.
 */
export async function kalaUploads(server: KalaServer): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>()
  for (const file of server.files()) {
    const name = file.originalFilename ?? ''
    out.set(name, [...(out.get(name) ?? []), sha256Hex(await readFile(file.storedPath))])
  }
  return out
}

/** Kala: the file name a session was opened for (fault predicates match requests by it). */
export function kalaSessionName(server: KalaServer, uuid: string | undefined): string | undefined {
  return uuid === undefined ? undefined : server.session(uuid)?.originalFilename
}

/**
 * Real backends on the wiring's bandwidth limiter, but with one quick HTTP retry instead of the
 * default four slow ones, so a test sees a file's failure (and the engine's own backoff) in
 * seconds.
 */
export function quickRetryBackends(wiring: BackendWiring): BackendFactory {
  return (account, secret, folder) =>
    createBackend(account, secret, {
      http: new HttpClient({ retry: { retries: 1, baseDelayMs: 50, maxDelayMs: 100 } }),
      bandwidth: wiring.bandwidth,
      remotePath: folder.remotePath,
    })
}
