import { z } from 'zod'
import type { Channel } from '../../preload/contract.ts'

/**
 * Messages for a value a person typed that main refuses: shown as they are. Any other refusal
 * means the window sent something it never should, and gets a general message (see
 * ipc-router.ts).
 */
const PLAIN = new Set<string>()
function plain(message: string): string {
  PLAIN.add(message)
  return message
}

/** True for the messages above (said to the user), false for zod's own (logged only). */
export function isPlainMessage(message: string): boolean {
  return PLAIN.has(message)
}

const MAX_MB_PER_SECOND = 1_000_000

const id = z.string().min(1).max(200)
const path = z.string().min(1).max(4096)
const pattern = z.string().max(1000, plain('An exclude pattern can be at most 1,000 characters.'))
const patterns = z.array(pattern).max(1000, plain('Use at most 1,000 exclude patterns.'))

const accountInput = z.strictObject({
  backend: z.enum(['dstor', 'kala', 'perkeep']),
  server: z
    .string()
    .min(1, plain('Enter the server address.'))
    .max(2048, plain('That server address is too long.')),
  auth: z.enum(['api-key', 'login', 'userpass', 'token']),
  user: z.string().max(320, plain('That user name is too long.')).optional(),
  secret: z
    .string()
    .min(1, plain('Enter your key or password.'))
    .max(8192, plain('That key or password is too long (at most 8,192 characters).')),
  allowInsecureHttp: z.boolean().optional(),
})

const folderInput = z.strictObject({
  path,
  accountId: id,
  remotePath: z.string().max(4096).optional(),
  excludes: patterns.optional(),
})

const tooFast = plain(
  `The upload limit is too high: enter at most ${MAX_MB_PER_SECOND.toLocaleString('en-US')} MB/s, or leave it empty for no limit.`,
)
const preferences = z.strictObject({
  bandwidthLimit: z
    .number()
    .int(plain('Enter the upload limit as a number of MB/s.'))
    .min(0, plain('The upload limit cannot be below 0. Leave it empty for no limit.'))
    .max(MAX_MB_PER_SECOND * 1_000_000, tooFast)
    .optional(),
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
  'account:sign-in': z.tuple([
    id,
    z
      .string()
      .min(1, plain('Enter your key or password.'))
      .max(8192, plain('That key or password is too long (at most 8,192 characters).')),
  ]),
  'account:remove': z.tuple([id]),
  'folder:choose': z.tuple([]),
  'folder:add': z.tuple([folderInput]),
  'folder:remove': z.tuple([id]),
  'folder:pause': z.tuple([id, z.boolean()]),
  'folder:set-excludes': z.tuple([id, patterns]),
  // A synced folder's id, never a path: the page cannot have main walk a folder of its choice.
  'folder:preview-excludes': z.tuple([id, patterns]),
  'folder:open': z.tuple([id]),
  'sync:pause-all': z.tuple([z.boolean()]),
  'queue:page': z.tuple([z.number().int().min(0), z.number().int().min(1).max(1000)]),
  'queue:retry': z.union([z.tuple([id]), z.tuple([id, path])]),
  'preferences:set': z.tuple([preferences]),
  'sandbox:start': z.tuple([]),
  'diagnostics:export': z.tuple([]),
}
