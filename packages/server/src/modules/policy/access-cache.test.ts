import { describe, expect, it } from 'vitest'
import type { Principal } from '../../principal.js'
import type { ProjectAccess, ProjectRole, ProjectVisibility } from '../projects/service.js'
import { createProjectAccessCache, type ProjectAccessCacheDeps } from './access-cache.js'

const principal = (userId: string): Principal => ({
  userId,
  serverRole: 'server:user',
  scopes: new Set(['streams:read']),
  tokenId: `t-${userId}`,
})

/** A fake database of one project and its roles, counting reads, and a feed the test pushes events into. */
function world(visibility: ProjectVisibility = 'private') {
  const db = { visibility, roles: new Map<string, ProjectRole>([['ada', 'stream:owner']]), exists: true }
  let reads = 0
  let gate: Promise<void> | null = null
  const listeners = new Map<string, { onEvent(event: unknown): void; onEnded(): void }>()
  const stopped: string[] = []
  const deps: ProjectAccessCacheDeps = {
    async loadAccess(projectId, who): Promise<ProjectAccess> {
      reads += 1
      // Read now, answer after the gate (a slow query racing a change).
      const answer: ProjectAccess = db.exists
        ? {
            project: { id: projectId, name: 'P', visibility: db.visibility },
            role: who === null ? null : (db.roles.get(who.userId) ?? null),
          }
        : { project: null, role: null }
      if (gate) await gate
      return answer
    },
    watch(projectId, onEvent, onEnded) {
      listeners.set(projectId, { onEvent, onEnded })
      return { ready: Promise.resolve(), stop: () => stopped.push(projectId) }
    },
  }
  return {
    db,
    deps,
    stopped,
    reads: () => reads,
    emit: (projectId: string, event: unknown) => listeners.get(projectId)?.onEvent(event),
    end: (projectId: string) => listeners.get(projectId)?.onEnded(),
    hold(wait: Promise<void>) {
      gate = wait
    },
    open() {
      gate = null
    },
  }
}

describe('project access cache', () => {
  it('answers repeated checks of a held project from memory', async () => {
    const w = world()
    const cache = createProjectAccessCache(w.deps)
    const hold = cache.hold('p1')
    await hold.ready
    expect(await cache.decide(principal('ada'), 'p1', 'read')).toBe('allow')
    expect(await cache.decide(principal('bob'), 'p1', 'read')).toBe('forbidden')
    const reads = w.reads()
    for (let i = 0; i < 100; i++) {
      expect(cache.decide(principal('ada'), 'p1', 'read')).toBe('allow')
      expect(cache.decide(principal('bob'), 'p1', 'read')).toBe('forbidden')
    }
    expect(w.reads()).toBe(reads)
  })

  it('keeps an access read from subscribe time, so the first event costs no query', async () => {
    const w = world()
    const cache = createProjectAccessCache(w.deps)
    await cache.hold('p1').ready
    const epoch = cache.epoch('p1')
    cache.remember('p1', principal('ada'), await w.deps.loadAccess('p1', principal('ada')), epoch)
    const reads = w.reads()
    expect(cache.decide(principal('ada'), 'p1', 'read')).toBe('allow')
    expect(w.reads()).toBe(reads)
  })

  it('reads a role again after ProjectRoleChanged, and only that user', async () => {
    const w = world()
    const cache = createProjectAccessCache(w.deps)
    await cache.hold('p1').ready
    w.db.roles.set('bob', 'stream:reviewer')
    expect(await cache.decide(principal('ada'), 'p1', 'read')).toBe('allow')
    expect(await cache.decide(principal('bob'), 'p1', 'read')).toBe('allow')
    w.db.roles.delete('bob')
    w.emit('p1', { type: 'ProjectRoleChanged', projectId: 'p1', userId: 'bob', role: null, actorId: 'ada' })
    const reads = w.reads()
    expect(await cache.decide(principal('bob'), 'p1', 'read')).toBe('forbidden')
    expect(cache.decide(principal('ada'), 'p1', 'read')).toBe('allow')
    expect(w.reads()).toBe(reads + 1)
  })

  it('reads the visibility again after ProjectUpdated: a project turned private refuses non-members', async () => {
    const w = world('public')
    const cache = createProjectAccessCache(w.deps)
    await cache.hold('p1').ready
    expect(await cache.decide(principal('bob'), 'p1', 'read')).toBe('allow')
    w.db.visibility = 'private'
    w.emit('p1', { type: 'ProjectUpdated', projectId: 'p1' })
    expect(await cache.decide(principal('bob'), 'p1', 'read')).toBe('forbidden')
    expect(await cache.decide(principal('ada'), 'p1', 'read')).toBe('allow')
  })

  it('shares one read among concurrent misses after a change', async () => {
    const w = world('public')
    const cache = createProjectAccessCache(w.deps)
    await cache.hold('p1').ready
    const users = Array.from({ length: 50 }, (_, i) => principal(`u${i}`))
    await Promise.all(users.map((u) => cache.decide(u, 'p1', 'read')))
    w.emit('p1', { type: 'ProjectUpdated', projectId: 'p1' })
    const reads = w.reads()
    expect(await Promise.all(users.map((u) => cache.decide(u, 'p1', 'read')))).toEqual(users.map(() => 'allow'))
    expect(w.reads()).toBe(reads + 1)
  })

  it('does not keep a read that a change overtook', async () => {
    const w = world()
    w.db.roles.set('bob', 'stream:reviewer')
    const cache = createProjectAccessCache(w.deps)
    await cache.hold('p1').ready
    let open!: () => void
    w.hold(new Promise<void>((resolve) => (open = resolve)))
    const slow = cache.decide(principal('bob'), 'p1', 'read') // reads "reviewer", answers later
    w.db.roles.delete('bob')
    w.emit('p1', { type: 'ProjectRoleChanged', projectId: 'p1', userId: 'bob', role: null, actorId: 'ada' })
    open()
    w.open()
    expect(await slow).toBe('allow') // decided on what it read before the change
    expect(await cache.decide(principal('bob'), 'p1', 'read')).toBe('forbidden')
  })

  it('forgets everything on ProjectDeleted', async () => {
    const w = world()
    const cache = createProjectAccessCache(w.deps)
    await cache.hold('p1').ready
    expect(await cache.decide(principal('ada'), 'p1', 'read')).toBe('allow')
    w.db.exists = false
    w.emit('p1', { type: 'ProjectDeleted', projectId: 'p1', userIds: ['ada'] })
    expect(await cache.decide(principal('ada'), 'p1', 'read')).toBe('not_found')
  })

  it('reads the database every time for a project nobody holds, or whose feed ended', async () => {
    const w = world()
    const cache = createProjectAccessCache(w.deps)
    await cache.decide(principal('ada'), 'p1', 'read')
    await cache.decide(principal('ada'), 'p1', 'read')
    expect(w.reads()).toBe(2)
    await cache.hold('p1').ready
    await cache.decide(principal('ada'), 'p1', 'read')
    await cache.decide(principal('ada'), 'p1', 'read')
    expect(w.reads()).toBe(3)
    w.end('p1')
    await cache.decide(principal('ada'), 'p1', 'read')
    expect(w.reads()).toBe(4)
  })

  it('stops the feed and forgets the project when the last hold is released', async () => {
    const w = world()
    const cache = createProjectAccessCache(w.deps)
    const first = cache.hold('p1')
    const second = cache.hold('p1')
    await first.ready
    await cache.decide(principal('ada'), 'p1', 'read')
    first.release()
    first.release()
    expect(w.stopped).toEqual([])
    expect(cache.stats().projects).toBe(1)
    second.release()
    expect(w.stopped).toEqual(['p1'])
    expect(cache.stats()).toMatchObject({ projects: 0, roles: 0 })
  })

  it('never trusts memory when the node cannot follow the project', async () => {
    const w = world()
    const cache = createProjectAccessCache({ ...w.deps, watch: () => null })
    await cache.hold('p1').ready
    await cache.decide(principal('ada'), 'p1', 'read')
    await cache.decide(principal('ada'), 'p1', 'read')
    expect(w.reads()).toBe(2)
  })
})
