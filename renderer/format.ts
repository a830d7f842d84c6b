// Words and numbers as people read them. The engine's own helpers live in main/, which the
// renderer must not import (it only shares types with main), hence these small copies.

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB']

/** "0 B", "512 B", "1.2 MB": decimal units, as file managers show them. */
export function formatBytes(bytes: number): string {
  let value = Math.max(0, bytes)
  let unit = 0
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000
    unit++
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1
  return `${value.toFixed(digits).replace(/\.0$/, '')} ${UNITS[unit]}`
}

/** "1.2 MB/s". */
export function formatSpeed(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond)}/s`
}

/** "less than a minute", "3 min", "2 h 5 min", "3 days". */
export function formatDuration(seconds: number): string {
  if (seconds < 60) return 'less than a minute'
  const minutes = Math.round(seconds / 60)
  if (minutes < 60) return `${minutes} min`
  const hours = Math.floor(minutes / 60)
  if (hours < 24) return minutes % 60 === 0 ? `${hours} h` : `${hours} h ${minutes % 60} min`
  const days = Math.round(hours / 24)
  return days === 1 ? '1 day' : `${days} days`
}

/** "just now", "5 min ago", "3 h ago", or the date. */
export function formatAgo(at: number, now: number): string {
  const seconds = Math.max(0, (now - at) / 1000)
  if (seconds < 45) return 'just now'
  if (seconds < 3600) return `${Math.max(1, Math.round(seconds / 60))} min ago`
  if (seconds < 86_400) return `${Math.round(seconds / 3600)} h ago`
  return new Date(at).toLocaleDateString()
}

/** "12 files", "1 file". */
export function plural(count: number, one: string, many = `${one}s`): string {
  return `${count.toLocaleString('en-US')} ${count === 1 ? one : many}`
}

/** The folder's name as people see it: the last part of its path. */
export function folderName(path: string): string {
  const parts = path.split(/[\\/]+/).filter(Boolean)
  return parts[parts.length - 1] ?? path
}

/** The last part of a relative path (the file's own name). */
export function fileName(relPath: string): string {
  return relPath.slice(relPath.lastIndexOf('/') + 1)
}
