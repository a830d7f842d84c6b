/**
 * A copy of `value` with every string in it passed through `redact` (objects and arrays walked,
 * everything else kept): what crosses to the window, or into a diagnostics bundle, is redacted
 * whatever field a secret ended up in. Serialising first and redacting the JSON text would let a
 * replacement break the JSON's quoting.
 */
export function redactDeep<T>(value: T, redact: (text: string) => string): T {
  return walk(value, redact) as T
}

function walk(value: unknown, redact: (text: string) => string): unknown {
  if (typeof value === 'string') return redact(value)
  if (Array.isArray(value)) return value.map((item) => walk(item, redact))
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const [key, item] of Object.entries(value)) out[key] = walk(item, redact)
    return out
  }
  return value
}
