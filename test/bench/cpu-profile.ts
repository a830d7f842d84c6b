/** Reads a V8 `.cpuprofile` (from `node --cpu-prof`) and names where the time went. */
import { readFile } from 'node:fs/promises'
import { basename } from 'node:path'

interface ProfileNode {
  readonly id: number
  readonly callFrame: {
    readonly functionName: string
    readonly url: string
    readonly lineNumber: number
  }
}

interface Profile {
  readonly nodes: readonly ProfileNode[]
  readonly samples: readonly number[]
  readonly timeDeltas: readonly number[]
}

/** The `top` functions by self time, as printable lines (`ms  %  function  file:line`). */
export async function hottestFunctions(path: string, top = 15): Promise<string[]> {
  const profile = JSON.parse(await readFile(path, 'utf8')) as Profile
  const names = new Map<number, string>()
  for (const node of profile.nodes) {
    const { functionName, url, lineNumber } = node.callFrame
    const where = url ? ` ${basename(url)}:${lineNumber + 1}` : ''
    names.set(node.id, `${functionName || '(anonymous)'}${where}`)
  }
  const self = new Map<string, number>()
  let total = 0
  profile.samples.forEach((id, i) => {
    const micros = profile.timeDeltas[i + 1] ?? 0
    const name = names.get(id) ?? '?'
    self.set(name, (self.get(name) ?? 0) + micros)
    total += micros
  })
  return [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(
      ([name, micros]) =>
        `${(micros / 1000).toFixed(0).padStart(7)} ms ${((100 * micros) / total).toFixed(1).padStart(5)} %  ${name}`,
    )
}
