/**
 * `npm run sandbox`: the three reference servers on localhost with a demo account, so Ferry can
 * be tried without any real storage. Data lives in FERRY_SANDBOX_DIR (default ./.sandbox).
 */
import { mkdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { createDstorServer, DSTOR_DEFAULT_API_KEY } from './dstor-server.ts'
import { createKalaServer } from './kala-server.ts'
import { createPerkeepServer } from './perkeep-server.ts'

/** Demo credentials of the sandbox (local only, never real secrets). */
export const SANDBOX = {
  dstor: { port: 3181, apiKey: DSTOR_DEFAULT_API_KEY },
  kala: { port: 3180, apiKey: 'ferry-sandbox-kala-key', user: 'demo', password: 'demo-password' },
  perkeep: { port: 3179, user: 'ferry', password: 'demo-password' },
  perkeepLegacy: { port: 3182 },
} as const

export interface Sandbox {
  readonly urls: { dstor: string; kala: string; perkeep: string; perkeepLegacy: string }
  close(): Promise<void>
}

export async function startSandbox(
  dataDir: string,
  options: { ephemeralPorts?: boolean } = {},
): Promise<Sandbox> {
  const port = (p: number): number => (options.ephemeralPorts ? 0 : p)
  for (const name of ['dstor', 'kala', 'perkeep', 'perkeep-legacy']) {
    await mkdir(join(dataDir, name), { recursive: true })
  }
  const dstor = await createDstorServer({
    storageDir: join(dataDir, 'dstor'),
    accounts: [{ id: 'demo', apiKey: SANDBOX.dstor.apiKey }],
    port: port(SANDBOX.dstor.port),
  })
  const kala = await createKalaServer({
    storageDir: join(dataDir, 'kala'),
    users: { [SANDBOX.kala.user]: SANDBOX.kala.password },
    apiKeys: [SANDBOX.kala.apiKey],
    port: port(SANDBOX.kala.port),
  })
  const auth = { user: SANDBOX.perkeep.user, password: SANDBOX.perkeep.password }
  const perkeep = await createPerkeepServer({
    storageDir: join(dataDir, 'perkeep'),
    auth,
    port: port(SANDBOX.perkeep.port),
  })
  const legacy = await createPerkeepServer({
    storageDir: join(dataDir, 'perkeep-legacy'),
    auth,
    mode: 'legacy',
    port: port(SANDBOX.perkeepLegacy.port),
  })
  return {
    urls: { dstor: dstor.url, kala: kala.url, perkeep: perkeep.url, perkeepLegacy: legacy.url },
    close: async () => {
      await Promise.all([dstor.close(), kala.close(), perkeep.close(), legacy.close()])
    },
  }
}

if (import.meta.main) {
  const dataDir = resolve(process.env['FERRY_SANDBOX_DIR'] ?? '.sandbox')
  const sandbox = await startSandbox(dataDir)
  const { urls } = sandbox
  console.log(`Ferry sandbox: reference servers with a demo account (data in ${dataDir})

  dStor    ${urls.dstor}
    FERRY_SECRET=${SANDBOX.dstor.apiKey} npx ferry push ~/Pictures --backend dstor --server ${urls.dstor}
  Kala     ${urls.kala}
    FERRY_SECRET=${SANDBOX.kala.apiKey} npx ferry push ~/Pictures --backend kala --server ${urls.kala}
    (or --auth login --user ${SANDBOX.kala.user} with FERRY_SECRET=${SANDBOX.kala.password})
  Perkeep  ${urls.perkeep}
    FERRY_SECRET=${SANDBOX.perkeep.password} npx ferry push ~/Pictures --backend perkeep --server ${urls.perkeep}
  Perkeep (legacy preupload, seed 004)  ${urls.perkeepLegacy}

Ctrl-C stops the sandbox.`)
  const stop = async (): Promise<void> => {
    await sandbox.close()
    process.exit(0)
  }
  process.on('SIGINT', () => void stop())
  process.on('SIGTERM', () => void stop())
}
