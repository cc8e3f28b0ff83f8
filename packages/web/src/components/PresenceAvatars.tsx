/** Avatars of the other people viewing the same thing now (lib/presence.ts), one per user. */
import { usePresence } from '../lib/presence'
import { useSession } from '../lib/session'
import { Avatar } from './ui'

export function PresenceAvatars({ projectId, resourceIdString }: { projectId: string; resourceIdString: string }) {
  const { me } = useSession()
  const others = usePresence(projectId, resourceIdString, me?.name ?? null)
  // Several tabs of one user show once; anonymous sessions each show.
  const byUser = new Map(others.map((o) => [o.userId ?? o.sessionId, o]))
  if (byUser.size === 0) return null
  const names = [...byUser.values()].map((o) => o.userName)
  return (
    <div className="presence" role="group" aria-label="Viewing now" title={names.join(', ')}>
      {[...byUser.values()].map((o) => (
        <span key={o.userId ?? o.sessionId} data-testid="presence-avatar" aria-label={o.userName}>
          <Avatar name={o.userName} src={o.avatar} />
        </span>
      ))}
    </div>
  )
}
