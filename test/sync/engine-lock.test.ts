import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { EngineLock, EngineLockedError } from '../../main/sync/engine-lock.ts'
import { tempDir } from '../helpers/tree.ts'

const LOCK_MODULE = fileURLToPath(new URL('../../main/sync/engine-lock.ts', import.meta.url))

// A child process that takes the lock, says "held" or "locked", then waits to be killed.
const HOLDER = `
import { EngineLock } from ${JSON.stringify(LOCK_MODULE)}
const lock = new EngineLock(process.argv[1])
try { lock.acquire(); console.log('held') } catch { console.log('locked') }
setInterval(() => {}, 1000)
`

function holder(dir: string): { child: ChildProcess; answer: Promise<string> } {
  const child = spawn(process.execPath, ['--input-type=module', '-e', HOLDER, dir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const answer = new Promise<string>((resolve) => {
    child.stdout?.once('data', (data: Buffer) => resolve(data.toString().trim()))
  })
  return { child, answer }
}

describe('EngineLock', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  const children: ChildProcess[] = []
  afterEach(async () => {
    for (const child of children) child.kill('SIGKILL')
    children.length = 0
    await dir?.dispose()
  })

  it('lets exactly one of many processes racing for it hold it', async () => {
    dir = await tempDir()
    const racers = Array.from({ length: 6 }, () => holder(dir.path))
    children.push(...racers.map((r) => r.child))
    const answers = await Promise.all(racers.map((r) => r.answer))
    expect(answers.filter((a) => a === 'held')).toHaveLength(1)
    expect(answers.filter((a) => a === 'locked')).toHaveLength(5)
    const owner = new EngineLock(dir.path).owner()
    expect(racers.map((r) => r.child.pid)).toContain(owner)
    expect(() => new EngineLock(dir.path).acquire()).toThrow(EngineLockedError)
  })

  it('is free the moment its holder is killed with SIGKILL, and can be taken again', async () => {
    dir = await tempDir()
    const first = holder(dir.path)
    children.push(first.child)
    expect(await first.answer).toBe('held')
    expect(new EngineLock(dir.path).owner()).toBe(first.child.pid)
    const exited = new Promise((resolve) => first.child.once('exit', resolve))
    first.child.kill('SIGKILL')
    await exited
    expect(new EngineLock(dir.path).owner()).toBeUndefined()
    const lock = new EngineLock(dir.path)
    lock.acquire()
    expect(lock.owner()).toBe(process.pid)
    expect(new EngineLock(dir.path).owner()).toBe(process.pid)
    lock.release()
    expect(new EngineLock(dir.path).owner()).toBeUndefined()
  })

  it('two engines in one process exclude each other too', async () => {
    dir = await tempDir()
    const a = new EngineLock(dir.path)
    a.acquire()
    const b = new EngineLock(dir.path)
    const error = (() => {
      try {
        b.acquire()
      } catch (e) {
        return e
      }
      return undefined
    })()
    expect(error).toBeInstanceOf(EngineLockedError)
    expect((error as EngineLockedError).message).toContain(`process ${process.pid}`)
    a.release()
    b.acquire()
    b.release()
  })
})
