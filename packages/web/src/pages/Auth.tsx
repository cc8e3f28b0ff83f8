/** Sign in, create an account, and reset a password. */
import { useState, type FormEvent } from 'react'
import { ErrorBox, Shell } from '../components/ui'
import { finishPasswordReset, requestPasswordReset, signIn, signUp } from '../lib/api'
import { Link, navigate, useLocation } from '../lib/router'
import { useSession } from '../lib/session'

/** Where to go after signing in: `?next=` when it is a path of this site, else the projects. */
function nextPath(search: URLSearchParams): string {
  const next = search.get('next')
  return next && next.startsWith('/') && !next.startsWith('//') ? next : '/'
}

function useSubmit(action: () => Promise<void>) {
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setBusy(true)
    setError(null)
    try {
      await action()
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err))
    } finally {
      setBusy(false)
    }
  }
  return { error, busy, submit }
}

export function SignIn() {
  const { search } = useLocation()
  const { refresh } = useSession()
  const [email, setEmail] = useState('')
  const [password, setPassword] = useState('')
  const { error, busy, submit } = useSubmit(async () => {
    await signIn(email, password)
    if (!(await refresh())) throw new Error('Signed in, but the session did not start. Are cookies allowed?')
    navigate(nextPath(search), { replace: true })
  })
  return (
    <Shell>
      <form className="card narrow" onSubmit={submit} aria-labelledby="signin-title">
        <h1 id="signin-title">Sign in</h1>
        {error && (
          <ErrorBox
            title="Could not sign in"
            error={error === 'Invalid credentials.' ? 'The email or password is wrong.' : error}
          />
        )}
        <label>
          Email
          <input
            type="email"
            name="email"
            autoComplete="email"
            required
            value={email}
            onChange={(e) => setEmail(e.target.value)}
          />
        </label>
        <label>
          Password
          <input
            type="password"
            name="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </label>
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        <p className="muted">
          New here? <Link href={`/signup${search.toString() ? `?${search}` : ''}`}>Create an account</Link> ·{' '}
          <Link href="/reset-password">Forgot your password?</Link>
        </p>
      </form>
    </Shell>
  )
}

export function SignUp() {
  const { search } = useLocation()
  const { refresh } = useSession()
  const [name, setName] = useState('')
  const [email, setEmail] = useState('')
  const [password, setPassword] = useState('')
  const { error, busy, submit } = useSubmit(async () => {
    await signUp({ name, email, password, inviteToken: search.get('token') })
    await refresh()
    navigate(nextPath(search), { replace: true })
  })
  return (
    <Shell>
      <form className="card narrow" onSubmit={submit} aria-labelledby="signup-title">
        <h1 id="signup-title">Create your account</h1>
        {error && <ErrorBox title="Could not create the account" error={error} />}
        <label>
          Name
          <input name="name" autoComplete="name" required value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        <label>
          Email
          <input
            type="email"
            name="email"
            autoComplete="email"
            required
            value={email}
            onChange={(e) => setEmail(e.target.value)}
          />
        </label>
        <label>
          Password
          <input
            type="password"
            name="password"
            autoComplete="new-password"
            required
            minLength={8}
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
          <small className="muted">At least 8 characters.</small>
        </label>
        <button type="submit" disabled={busy}>
          {busy ? 'Creating…' : 'Create account'}
        </button>
        <p className="muted">
          Already have an account? <Link href={`/signin${search.toString() ? `?${search}` : ''}`}>Sign in</Link>
        </p>
      </form>
    </Shell>
  )
}

export function ResetPassword() {
  const { search } = useLocation()
  const token = search.get('token')
  const [email, setEmail] = useState('')
  const [password, setPassword] = useState('')
  const [done, setDone] = useState<string | null>(null)
  const { error, busy, submit } = useSubmit(async () => {
    if (token) {
      await finishPasswordReset(token, password)
      setDone('Your password is changed. Sign in with the new one.')
    } else {
      await requestPasswordReset(email)
      setDone('If an account has this email, a reset link is on its way.')
    }
  })
  return (
    <Shell>
      <form className="card narrow" onSubmit={submit} aria-labelledby="reset-title">
        <h1 id="reset-title">Reset your password</h1>
        {error && <ErrorBox title="Could not reset the password" error={error} />}
        {done ? (
          <p role="status">
            {done} <Link href="/signin">Sign in</Link>
          </p>
        ) : token ? (
          <label>
            New password
            <input
              type="password"
              autoComplete="new-password"
              required
              minLength={8}
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          </label>
        ) : (
          <label>
            Email
            <input
              type="email"
              autoComplete="email"
              required
              value={email}
              onChange={(e) => setEmail(e.target.value)}
            />
          </label>
        )}
        {!done && (
          <button type="submit" disabled={busy}>
            {token ? 'Set the new password' : 'Send the reset link'}
          </button>
        )}
      </form>
    </Shell>
  )
}
