import { z } from 'zod'
import type { Channel } from '../../preload/contract.ts'

const id = z.string().min(1).max(200)
const path = z.string().min(1).max(4096)
const pattern = z.string().max(1000)
const patterns = z.array(pattern).max(1000)

const accountInput = z.strictObject({
  backend: z.enum(['dstor', 'kala', 'perkeep']),
  server: z.string().min(1).max(2048),
  auth: z.enum(['api-key', 'login', 'userpass', 'token']),
  user: z.string().max(320).optional(),
  secret: z.string().min(1).max(8192),
  allowInsecureHttp: z.boolean().optional(),
})

const folderInput = z.strictObject({
  path,
  accountId: id,
  remotePath: z.string().max(4096).optional(),
  excludes: patterns.optional(),
})

const preferences = z.strictObject({
  bandwidthLimit: z.number().int().min(0).max(1e12).optional(),
  launchAtLogin: z.boolean().optional(),
  notifications: z.boolean().optional(),
})

/**
 * The arguments every channel accepts, checked in main before a handler runs: the renderer is
 * treated as untrusted input (a compromised page must not reach anything else).
 */
export const CHANNEL_ARGS: { readonly [C in Channel]: z.ZodType<unknown[]> } = {
  'app:state': z.tuple([]),
  'status:get': z.tuple([]),
  'account:test': z.tuple([accountInput]),
  'account:add': z.tuple([accountInput]),
  'account:sign-in': z.tuple([id, z.string().min(1).max(8192)]),
  'account:remove': z.tuple([id]),
  'folder:choose': z.tuple([]),
  'folder:add': z.tuple([folderInput]),
  'folder:remove': z.tuple([id]),
  'folder:pause': z.tuple([id, z.boolean()]),
  'folder:set-excludes': z.tuple([id, patterns]),
  'folder:preview-excludes': z.tuple([path, patterns]),
  'folder:open': z.tuple([id]),
  'sync:pause-all': z.tuple([z.boolean()]),
  'queue:page': z.tuple([z.number().int().min(0), z.number().int().min(1).max(1000)]),
  'queue:retry': z.union([z.tuple([id]), z.tuple([id, path])]),
  'preferences:set': z.tuple([preferences]),
  'sandbox:start': z.tuple([]),
  'diagnostics:export': z.tuple([]),
}
