import { readFile } from 'node:fs/promises'
import type { BigIntStats } from 'node:fs'

/** What a schema map describes; symlinks carry no unixPermission. */
export type UnixEntryKind = 'file' | 'directory' | 'symlink'

/** Resolves numeric ids to names; undefined when unknown. */
export interface UnixNames {
  user(uid: number): string | undefined
  group(gid: number): string | undefined
}

/** Resolves nothing: for platforms without /etc/passwd, or when names are not wanted. */
export const NO_UNIX_NAMES: UnixNames = { user: () => undefined, group: () => undefined }

/**
 * The unix members Perkeep's `NewCommonFileMap` writes for an lstat result: unixPermission
 * (not for symlinks), owner and group ids and names (not on Windows), unixMtime, and unixCtime
 * when it differs from the mtime (Linux and macOS only, as in Perkeep).
 */
export function unixFields(
  stat: BigIntStats,
  kind: UnixEntryKind,
  names: UnixNames = NO_UNIX_NAMES,
  platform: NodeJS.Platform = process.platform,
): Record<string, string | number> {
  const fields: Record<string, string | number> = {}
  if (kind !== 'symlink') fields['unixPermission'] = `0${(Number(stat.mode) & 0o777).toString(8)}`
  if (platform !== 'win32') {
    const uid = Number(stat.uid)
    const gid = Number(stat.gid)
    fields['unixOwnerId'] = uid
    const owner = names.user(uid)
    if (owner !== undefined && owner !== '') fields['unixOwner'] = owner
    fields['unixGroupId'] = gid
    const group = names.group(gid)
    if (group !== undefined && group !== '') fields['unixGroup'] = group
  }
  fields['unixMtime'] = rfc3339FromNs(stat.mtimeNs)
  if (platform === 'linux' || platform === 'darwin') {
    const ctimeSeconds = floorDiv(stat.ctimeNs, NS_PER_SECOND)
    if (ctimeSeconds !== 0n && stat.ctimeNs !== stat.mtimeNs) {
      fields['unixCtime'] = rfc3339FromNs(stat.ctimeNs)
    }
  }
  return fields
}

/**
 * Perkeep's RFC3339FromTime for a UTC instant in nanoseconds since the epoch:
 * `2024-05-06T07:08:09Z`, or `…09.5Z` with trailing zeros of the fraction trimmed.
 */
export function rfc3339FromNs(ns: bigint): string {
  const seconds = floorDiv(ns, NS_PER_SECOND)
  const fraction = ns - seconds * NS_PER_SECOND
  const base = new Date(Number(seconds) * 1000).toISOString().slice(0, 19)
  if (fraction === 0n) return `${base}Z`
  return `${base}.${fraction.toString().padStart(9, '0').replace(/0+$/, '')}Z`
}

const namesCache = new Map<string, Promise<UnixNames>>()

/**
 * User and group names from /etc/passwd and /etc/group, read once and cached. Unreadable files
 * (Windows, sandboxes) just resolve nothing.
 */
export function loadUnixNames(
  passwdPath = '/etc/passwd',
  groupPath = '/etc/group',
): Promise<UnixNames> {
  const key = `${passwdPath}\0${groupPath}`
  let names = namesCache.get(key)
  if (names === undefined) {
    names = Promise.all([readIdFile(passwdPath, true), readIdFile(groupPath, false)]).then(
      ([users, groups]) => ({ user: (uid) => users.get(uid), group: (gid) => groups.get(gid) }),
    )
    namesCache.set(key, names)
  }
  return names
}

const NS_PER_SECOND = 1_000_000_000n

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b
  return a % b < 0n ? q - 1n : q
}

// `name:x:id:…` lines. getpwuid() answers the first user with an id; Perkeep's own /etc/group
// parse keeps the last group.
async function readIdFile(path: string, firstWins: boolean): Promise<Map<number, string>> {
  const ids = new Map<number, string>()
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch {
    return ids
  }
  for (const line of text.split('\n')) {
    const parts = line.split(':')
    if (parts.length < 3 || !/^[+-]?\d+$/.test(parts[2] as string)) continue
    const id = Number(parts[2])
    if (firstWins && ids.has(id)) continue
    ids.set(id, parts[0] as string)
  }
  return ids
}
