/** Routes. The viewer page is a lazy chunk: everything else loads without @speckle/viewer. */
import { lazy, Suspense, useEffect, useState } from 'react'
import { ErrorBox, Loading, Shell } from './components/ui'
import { gql } from './lib/api'
import { Link, match, navigate, useLocation } from './lib/router'
import { useSession } from './lib/session'
import { ResetPassword, SignIn, SignUp } from './pages/Auth'
import { Admin } from './pages/Admin'
import { Profile } from './pages/Profile'
import { ProjectPage } from './pages/Project'
import { ProjectSettings } from './pages/ProjectSettings'
import { Projects } from './pages/Projects'

const ViewerPage = lazy(() => import('./pages/Viewer'))

/** Pages that need a signed-in user send anyone else to sign in, and back afterwards. */
function RequireUser({ children }: { children: React.ReactNode }) {
  const { me, loading } = useSession()
  const { path } = useLocation()
  useEffect(() => {
    if (!loading && !me) navigate(`/signin?next=${encodeURIComponent(path + location.search)}`, { replace: true })
  }, [loading, me, path])
  if (loading || !me)
    return (
      <Shell>
        <Loading />
      </Shell>
    )
  return <>{children}</>
}

function VerifyEmail() {
  const { search } = useLocation()
  const [state, setState] = useState<'working' | 'done' | string>('working')
  useEffect(() => {
    const token = search.get('token')
    if (!token) return setState('The link has no token.')
    fetch('/auth/verify-email', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token }),
    }).then(
      async (res) =>
        setState(
          res.ok
            ? 'done'
            : (((await res.json().catch(() => ({}))) as { err?: string }).err ?? 'The link is not valid any more.'),
        ),
      () => setState('The server cannot be reached.'),
    )
  }, [])
  return (
    <Shell>
      {state === 'working' ? (
        <Loading what="Verifying your email" />
      ) : state === 'done' ? (
        <p role="status">
          Your email is verified. <Link href="/">Go to your projects</Link>
        </p>
      ) : (
        <ErrorBox title="Could not verify the email" error={state} />
      )}
    </Shell>
  )
}

/** `/invite?projectId=…&token=…` (also what invite mails link to once signed in): accept or decline. */
function AcceptInvite() {
  const { search } = useLocation()
  const projectId = search.get('projectId') ?? search.get('streamId') ?? ''
  const token = search.get('token') ?? ''
  const [error, setError] = useState<string | null>(null)
  const answer = async (accept: boolean) => {
    try {
      await gql('mutation($i: ProjectInviteUseInput!) { projectMutations { invites { use(input: $i) } } }', {
        i: { projectId, token, accept },
      })
      navigate(accept ? `/projects/${projectId}` : '/')
    } catch (err) {
      setError((err as Error).message)
    }
  }
  return (
    <Shell>
      <div className="card narrow">
        <h1>Project invite</h1>
        {error && <ErrorBox error={error} title="Could not answer the invite" />}
        <p>You were invited to collaborate on a project.</p>
        <button type="button" onClick={() => void answer(true)}>
          Accept
        </button>{' '}
        <button type="button" className="secondary" onClick={() => void answer(false)}>
          Decline
        </button>
      </div>
    </Shell>
  )
}

function Home() {
  const { me, loading } = useSession()
  if (loading)
    return (
      <Shell>
        <Loading />
      </Shell>
    )
  if (me) return <Projects />
  return (
    <Shell>
      <section className="hero">
        <h1>Truss</h1>
        <p>Store, version, view and discuss your building models. Speaks Speckle: your connectors work here.</p>
        <p>
          <Link href="/signin" className="button">
            Sign in
          </Link>{' '}
          <Link href="/signup" className="button secondary">
            Create an account
          </Link>
        </p>
      </section>
    </Shell>
  )
}

export function App() {
  const { path } = useLocation()
  let m: Record<string, string> | null
  if (path === '/') return <Home />
  if (path === '/signin' || path === '/authn/login') return <SignIn />
  if (path === '/signup' || path === '/authn/register') return <SignUp />
  if (path === '/reset-password') return <ResetPassword />
  if (path === '/verify-email') return <VerifyEmail />
  if (path === '/invite')
    return (
      <RequireUser>
        <AcceptInvite />
      </RequireUser>
    )
  if (path === '/admin')
    return (
      <RequireUser>
        <Admin />
      </RequireUser>
    )
  if (path === '/profile')
    return (
      <RequireUser>
        <Profile />
      </RequireUser>
    )
  if ((m = match('/projects/:projectId/settings', path)))
    return (
      <RequireUser>
        <ProjectSettings projectId={m.projectId!} />
      </RequireUser>
    )
  if ((m = match('/projects/:projectId/models/:spec', path))) {
    const [modelId, versionId] = m.spec!.split('@') as [string, string | undefined]
    return (
      <Suspense
        fallback={
          <Shell>
            <Loading what="Loading the viewer" />
          </Shell>
        }
      >
        <ViewerPage projectId={m.projectId!} modelId={modelId} versionId={versionId ?? null} />
      </Suspense>
    )
  }
  if ((m = match('/projects/:projectId', path))) return <ProjectPage projectId={m.projectId!} />
  return (
    <Shell>
      <ErrorBox title="Page not found" error={`Nothing lives at ${path}.`} />
      <Link href="/">Go to your projects</Link>
    </Shell>
  )
}
