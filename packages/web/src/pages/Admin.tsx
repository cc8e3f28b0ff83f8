/** Server administration: users (roles, archive), invites, server settings, jobs and database statistics. */
import { useEffect, useState, type FormEvent } from 'react'
import { ErrorBox, Loading, Shell } from '../components/ui'
import { gql } from '../lib/api'
import { useQuery, useSession } from '../lib/session'

interface AdminUser {
  id: string
  name: string
  email: string | null
  role: string
  verified: boolean | null
}
interface Stats {
  collectedAt: string
  databaseBytes: number
  tables: { table: string; totalBytes: number; approxRows: number }[]
  jobs: { kind: string; status: string; count: number; oldestSeconds: number }[]
}
interface Info {
  name: string
  company: string | null
  description: string | null
  adminContact: string | null
  termsOfService: string | null
  inviteOnly: boolean | null
  guestModeEnabled: boolean
}

const ROLES = ['server:admin', 'server:user', 'server:guest', 'server:archived-user']
const mb = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MB`

export function Admin() {
  const { me } = useSession()
  const [notice, setNotice] = useState<string | null>(null)
  const [error, setError] = useState<string | null>(null)
  if (me?.role !== 'server:admin') {
    return (
      <Shell>
        <ErrorBox title="Admins only" error="This page is for the server's administrators." />
      </Shell>
    )
  }
  const run = async (done: string, action: () => Promise<unknown>) => {
    setError(null)
    setNotice(null)
    try {
      await action()
      setNotice(done)
    } catch (err) {
      setError((err as Error).message)
    }
  }
  return (
    <Shell>
      <h1>Administration</h1>
      {error && <ErrorBox error={error} title="That did not work" />}
      {notice && (
        <p role="status" className="notice">
          {notice}
        </p>
      )}
      <Users run={run} />
      <ServerInvite run={run} />
      <Settings run={run} />
      <Statistics />
    </Shell>
  )
}

type Run = (done: string, action: () => Promise<unknown>) => Promise<void>

function Users({ run }: { run: Run }) {
  const [search, setSearch] = useState('')
  const [query, setQuery] = useState('')
  useEffect(() => {
    const t = setTimeout(() => setQuery(search.trim()), 250)
    return () => clearTimeout(t)
  }, [search])
  const list = useQuery(
    () =>
      gql<{ admin: { userList: { totalCount: number; items: AdminUser[] } } }>(
        'query($q: String) { admin { userList(query: $q, limit: 50) { totalCount items { id name email role verified } } } }',
        { q: query || null },
      ),
    [query],
  )
  const setRole = (user: AdminUser, role: string) =>
    run(`${user.name} is now ${role.replace('server:', '')}.`, async () => {
      await gql('mutation($i: UserRoleInput!) { userRoleChange(userRoleInput: $i) }', { i: { id: user.id, role } })
      list.reload()
    })
  return (
    <section className="card" aria-label="Users">
      <h2>Users {list.data && <span className="muted">({list.data.admin.userList.totalCount})</span>}</h2>
      <input
        type="search"
        aria-label="Search users"
        placeholder="Search by name or email"
        value={search}
        onChange={(e) => setSearch(e.target.value)}
      />
      {list.error && <ErrorBox error={list.error} />}
      {list.loading && !list.data ? (
        <Loading />
      ) : (
        <table className="list">
          <tbody>
            {list.data?.admin.userList.items.map((u) => (
              <tr key={u.id}>
                <td>{u.name}</td>
                <td>
                  {u.email} {u.verified === false && <span className="muted">(unverified)</span>}
                </td>
                <td>
                  <select
                    aria-label={`Server role of ${u.name}`}
                    value={u.role}
                    onChange={(e) => void setRole(u, e.target.value)}
                  >
                    {ROLES.map((r) => (
                      <option key={r} value={r}>
                        {r === 'server:archived-user' ? 'archived' : r.replace('server:', '')}
                      </option>
                    ))}
                  </select>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  )
}

function ServerInvite({ run }: { run: Run }) {
  const [email, setEmail] = useState('')
  const submit = (e: FormEvent) => {
    e.preventDefault()
    void run(`Invite sent to ${email}.`, async () => {
      await gql('mutation($i: ServerInviteCreateInput!) { serverInviteCreate(input: $i) }', { i: { email } })
      setEmail('')
    })
  }
  return (
    <form className="card inline-form" onSubmit={submit} aria-label="Invite to the server">
      <label>
        Invite someone to this server
        <input type="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
      </label>
      <button type="submit">Send invite</button>
    </form>
  )
}

function Settings({ run }: { run: Run }) {
  const info = useQuery(
    () =>
      gql<{ serverInfo: Info }>(
        '{ serverInfo { name company description adminContact termsOfService inviteOnly guestModeEnabled } }',
      ),
    [],
  )
  const [form, setForm] = useState<Info | null>(null)
  useEffect(() => {
    if (info.data) setForm(info.data.serverInfo)
  }, [info.data])
  if (!form) return <Loading what="Loading the server settings" />
  const text = (key: 'name' | 'company' | 'description' | 'adminContact' | 'termsOfService', label: string) => (
    <label>
      {label}
      <input
        value={form[key] ?? ''}
        required={key === 'name'}
        onChange={(e) => setForm({ ...form, [key]: e.target.value })}
      />
    </label>
  )
  const submit = (e: FormEvent) => {
    e.preventDefault()
    void run('Server settings saved.', () =>
      gql('mutation($i: ServerInfoUpdateInput!) { serverInfoUpdate(info: $i) }', { i: form }),
    )
  }
  return (
    <form className="card" onSubmit={submit} aria-label="Server settings">
      <h2>Server settings</h2>
      {text('name', 'Name')}
      {text('company', 'Company')}
      {text('description', 'Description')}
      {text('adminContact', 'Admin contact')}
      {text('termsOfService', 'Terms of service')}
      <label className="check">
        <input
          type="checkbox"
          checked={form.inviteOnly ?? false}
          onChange={(e) => setForm({ ...form, inviteOnly: e.target.checked })}
        />
        Invite only
      </label>
      <label className="check">
        <input
          type="checkbox"
          checked={form.guestModeEnabled}
          onChange={(e) => setForm({ ...form, guestModeEnabled: e.target.checked })}
        />
        Guests allowed
      </label>
      <p>
        <button type="submit">Save</button>
      </p>
    </form>
  )
}

function Statistics() {
  const stats = useQuery(
    () =>
      gql<{ serverStats: Stats }>(
        '{ serverStats { collectedAt databaseBytes tables { table totalBytes approxRows } jobs { kind status count oldestSeconds } } }',
      ),
    [],
  )
  if (stats.error) return <ErrorBox title="Statistics are not available" error={stats.error} />
  if (!stats.data) return <Loading what="Loading statistics" />
  const s = stats.data.serverStats
  return (
    <section className="card" aria-label="Statistics">
      <h2>Database and jobs</h2>
      <p className="meta">
        Database {mb(s.databaseBytes)} · collected {new Date(s.collectedAt).toLocaleTimeString()}{' '}
        <button type="button" className="link" onClick={stats.reload}>
          Refresh
        </button>
      </p>
      <h3>Job queue</h3>
      {s.jobs.length === 0 ? (
        <p className="muted">No unfinished jobs.</p>
      ) : (
        <table className="list">
          <tbody>
            {s.jobs.map((j) => (
              <tr key={`${j.kind}/${j.status}`}>
                <td>{j.kind}</td>
                <td>{j.status}</td>
                <td>{j.count}</td>
                <td>oldest {Math.round(j.oldestSeconds)} s</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h3>Largest tables</h3>
      <table className="list">
        <tbody>
          {[...s.tables]
            .sort((a, b) => b.totalBytes - a.totalBytes)
            .slice(0, 10)
            .map((t) => (
              <tr key={t.table}>
                <td>{t.table}</td>
                <td>{mb(t.totalBytes)}</td>
                <td>~{Math.round(t.approxRows).toLocaleString()} rows</td>
              </tr>
            ))}
        </tbody>
      </table>
    </section>
  )
}
