/**
 * Presence in the web app: `usePresence` heartbeats this tab's session (Speckle's
 * `broadcastViewerUserActivity`, every third of the server's TTL, with the camera and selection from the view
 * hash), ends it on `pagehide`, and keeps the other live sessions on the same resources: read once from
 * `project.viewerUsers`, then kept by `viewerUserActivityBroadcasted` (and read again after a reconnect).
 */
import { useEffect, useState } from 'react'
import { gql } from './api'
import { subscribe } from './live'
import { readHash } from './view'

export interface PresentViewer {
  sessionId: string
  userId: string | null
  userName: string
  avatar: string | null
  /** Speckle's viewer state (`ui.camera`, `ui.selection`), when the session sent one. */
  state: Record<string, unknown> | null
}

const FIELDS = 'sessionId userId userName status state user { avatar }'
const LIST = `query Present($p: String!, $r: String) { serverInfo { presenceTtlSeconds }
  project(id: $p) { viewerUsers(resourceIdString: $r) { ${FIELDS} } } }`
const BROADCAST = `mutation Broadcast($p: String!, $r: String!, $m: ViewerUserActivityMessageInput!) {
  broadcastViewerUserActivity(projectId: $p, resourceIdString: $r, message: $m) }`
const ACTIVITY = `subscription Activity($t: ViewerUpdateTrackingTarget!, $s: String) {
  viewerUserActivityBroadcasted(target: $t, sessionId: $s) { ${FIELDS} } }`

interface Message {
  sessionId: string
  userId: string | null
  userName: string
  status: 'VIEWING' | 'DISCONNECTED'
  state: Record<string, unknown> | null
  user: { avatar: string | null } | null
}

const toViewer = (m: Message): PresentViewer => ({
  sessionId: m.sessionId,
  userId: m.userId,
  userName: m.userName,
  avatar: m.user?.avatar ?? null,
  state: m.state,
})

/** This tab's view as Speckle's serialized viewer state (only what Truss's viewer knows). */
export function viewerState(projectId: string, sessionId: string, resourceIdString: string): Record<string, unknown> {
  const { camera, selected } = readHash()
  return {
    projectId,
    sessionId,
    viewer: { resources: { request: { resourceIdString } } },
    ui: {
      camera: camera ? { position: camera.slice(0, 3), target: camera.slice(3, 6), isOrthoProjection: false } : null,
      selection: selected ? [selected] : [],
    },
  }
}

/** Others viewing `resourceIdString` ('' is the project page) of the project, while this tab is one of them. */
export function usePresence(projectId: string, resourceIdString: string, userName: string | null): PresentViewer[] {
  const [others, setOthers] = useState<Map<string, PresentViewer>>(new Map())
  useEffect(() => {
    if (userName === null) return
    const sessionId = crypto.randomUUID()
    let stopped = false
    let timer: ReturnType<typeof setInterval> | undefined
    const beat = (status: 'VIEWING' | 'DISCONNECTED', keepalive = false) => {
      const message = {
        sessionId,
        userName,
        status,
        state: status === 'VIEWING' ? viewerState(projectId, sessionId, resourceIdString) : null,
      }
      const variables = { p: projectId, r: resourceIdString, m: message }
      if (keepalive) {
        // A closing page cannot wait for an answer; keepalive lets the request outlive it.
        void fetch('/graphql', {
          method: 'POST',
          credentials: 'same-origin',
          keepalive: true,
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query: BROADCAST, variables }),
        }).catch(() => undefined)
        return
      }
      gql(BROADCAST, variables).catch(() => undefined)
    }
    const load = async () => {
      const data = await gql<{
        serverInfo: { presenceTtlSeconds: number }
        project: { viewerUsers: Message[] } | null
      }>(LIST, { p: projectId, r: resourceIdString })
      if (stopped) return data.serverInfo.presenceTtlSeconds
      const live = (data.project?.viewerUsers ?? []).filter((m) => m.sessionId !== sessionId)
      setOthers(new Map(live.map((m) => [m.sessionId, toViewer(m)])))
      return data.serverInfo.presenceTtlSeconds
    }
    const unsubscribe = subscribe(
      ACTIVITY,
      { t: { projectId, resourceIdString }, s: sessionId },
      (data) => {
        const m = data.viewerUserActivityBroadcasted as Message | undefined
        if (!m || m.sessionId === sessionId) return
        setOthers((prev) => {
          const next = new Map(prev)
          if (m.status === 'DISCONNECTED') next.delete(m.sessionId)
          else next.set(m.sessionId, toViewer(m))
          return next
        })
      },
      () => void load().catch(() => undefined),
    )
    load().then(
      (ttlSeconds) => {
        if (stopped) return
        beat('VIEWING')
        timer = setInterval(() => beat('VIEWING'), Math.max(200, (ttlSeconds * 1000) / 3))
      },
      () => undefined,
    )
    const onPageHide = () => beat('DISCONNECTED', true)
    window.addEventListener('pagehide', onPageHide)
    return () => {
      stopped = true
      clearInterval(timer)
      unsubscribe()
      window.removeEventListener('pagehide', onPageHide)
      beat('DISCONNECTED', true)
      setOthers(new Map())
    }
  }, [projectId, resourceIdString, userName])
  return [...others.values()]
}
