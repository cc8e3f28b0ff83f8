/** Small shared pieces: page frame, error and empty states, time and avatars. */
import type { ReactNode } from 'react'
import { signOut } from '../lib/api'
import { Link, navigate } from '../lib/router'
import { useSession } from '../lib/session'

export function Shell({ children, wide = false }: { children: ReactNode; wide?: boolean }) {
  const { me, refresh } = useSession()
  const out = async () => {
    await signOut()
    await refresh()
    navigate('/signin')
  }
  return (
    <>
      <header className="topbar">
        <Link href="/" className="brand" aria-label="Truss home">
          Truss
        </Link>
        <nav aria-label="Main">
          {me ? (
            <>
              <Link href="/">Projects</Link>
              {me.role === 'server:admin' && <Link href="/admin">Admin</Link>}
              <Link href="/profile" className="me">
                <Avatar name={me.name} src={me.avatar} /> <span className="me-name">{me.name}</span>
              </Link>
              <button type="button" className="link" onClick={() => void out()}>
                Sign out
              </button>
            </>
          ) : (
            <>
              <Link href="/signin">Sign in</Link>
              <Link href="/signup">Create account</Link>
            </>
          )}
        </nav>
      </header>
      <main className={wide ? 'page wide' : 'page'}>{children}</main>
    </>
  )
}

export function ErrorBox({ error, title = 'Something went wrong' }: { error: Error | string; title?: string }) {
  return (
    <div className="error" role="alert">
      <strong>{title}</strong>
      <p>{typeof error === 'string' ? error : error.message}</p>
    </div>
  )
}

export const Loading = ({ what = 'Loading' }: { what?: string }) => (
  <p className="muted" role="status" aria-live="polite">
    {what}…
  </p>
)

export const Empty = ({ children }: { children: ReactNode }) => <div className="empty">{children}</div>

export function Avatar({ name, src }: { name: string; src?: string | null }) {
  if (src) return <img className="avatar" src={src} alt="" width={24} height={24} />
  const initials = name
    .split(/\s+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((w) => w[0]!.toUpperCase())
    .join('')
  return (
    <span className="avatar" aria-hidden="true">
      {initials || '?'}
    </span>
  )
}

const RELATIVE = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' })
export function Ago({ date }: { date: string }) {
  const then = new Date(date)
  const seconds = (then.getTime() - Date.now()) / 1000
  const steps: [number, Intl.RelativeTimeFormatUnit][] = [
    [60, 'second'],
    [3600, 'minute'],
    [86400, 'hour'],
    [86400 * 30, 'day'],
    [86400 * 365, 'month'],
  ]
  let text = RELATIVE.format(Math.round(seconds / (86400 * 365)), 'year')
  let divisor = 1
  for (const [limit, unit] of steps) {
    if (Math.abs(seconds) < limit) {
      text = RELATIVE.format(Math.round(seconds / divisor), unit)
      break
    }
    divisor = limit
  }
  return (
    <time dateTime={then.toISOString()} title={then.toLocaleString()}>
      {text}
    </time>
  )
}
