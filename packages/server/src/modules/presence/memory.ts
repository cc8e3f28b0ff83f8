/**
 * In-process presence store (the embedded default): sessions per project in a Map. Expired sessions are
 * invisible at once (`list`, `online` compare with `now`) and removed by `sweep`, which the presence
 * service runs on a timer.
 */
import { ownerOf, type PresenceSession, type PresenceStore } from './store.js'

interface Entry {
  session: PresenceSession
  expiresAt: number
}

export function createMemoryPresenceStore(): PresenceStore {
  const projects = new Map<string, Map<string, Entry>>()

  const sessionsOf = (projectId: string): Map<string, Entry> => {
    let sessions = projects.get(projectId)
    if (sessions === undefined) projects.set(projectId, (sessions = new Map()))
    return sessions
  }

  return {
    kind: 'memory',

    touch(session, expiresAt) {
      const sessions = sessionsOf(session.projectId)
      const existing = sessions.get(session.sessionId)
      if (existing && ownerOf(existing.session.userId) !== ownerOf(session.userId)) {
        return Promise.resolve('taken')
      }
      sessions.set(session.sessionId, { session: { ...session }, expiresAt })
      return Promise.resolve(existing ? 'renewed' : 'created')
    },

    remove(projectId, sessionId, userId) {
      const sessions = projects.get(projectId)
      const existing = sessions?.get(sessionId)
      if (!sessions || !existing) return Promise.resolve('absent')
      if (ownerOf(existing.session.userId) !== ownerOf(userId)) return Promise.resolve('taken')
      sessions.delete(sessionId)
      if (sessions.size === 0) projects.delete(projectId)
      return Promise.resolve('removed')
    },

    list(projectId, now) {
      const live = [...(projects.get(projectId)?.values() ?? [])].filter((e) => e.expiresAt > now)
      return Promise.resolve(live.map((e) => ({ ...e.session })))
    },

    sweep(now, limit) {
      const expired: PresenceSession[] = []
      for (const [projectId, sessions] of projects) {
        for (const [sessionId, entry] of sessions) {
          if (expired.length >= limit) return Promise.resolve(expired)
          if (entry.expiresAt > now) continue
          sessions.delete(sessionId)
          expired.push(entry.session)
        }
        if (sessions.size === 0) projects.delete(projectId)
      }
      return Promise.resolve(expired)
    },

    online(userIds, now) {
      const wanted = new Set(userIds)
      const found = new Set<string>()
      for (const sessions of projects.values()) {
        for (const entry of sessions.values()) {
          const userId = entry.session.userId
          if (userId !== null && wanted.has(userId) && entry.expiresAt > now) found.add(userId)
        }
      }
      return Promise.resolve(found)
    },

    close() {
      projects.clear()
      return Promise.resolve()
    },
  }
}
