/** Project settings (owners): details, visibility, collaborators and invites, webhooks with history, delete. */
import { useState, type FormEvent } from 'react'
import { Ago, Avatar, Empty, ErrorBox, Loading, Shell } from '../components/ui'
import { gql } from '../lib/api'
import { Link, navigate } from '../lib/router'
import { useQuery } from '../lib/session'

interface SettingsData {
  project: {
    id: string
    name: string
    description: string | null
    visibility: string
    role: string | null
    team: { id: string; role: string; user: { id: string; name: string; avatar: string | null } }[]
    invitedTeam: { inviteId: string; role: string; title: string; user: { name: string } | null }[] | null
    webhooks: {
      items: {
        id: string
        url: string
        description: string | null
        enabled: boolean | null
        triggers: string[]
        disabledReason: string | null
        history: {
          items: { id: string; eventName: string; status: number; statusInfo: string; lastUpdate: string }[]
        } | null
      }[]
    }
  }
}

const SETTINGS = `query Settings($id: String!) { project(id: $id) {
  id name description visibility role
  team { id role user { id name avatar } }
  invitedTeam { inviteId role title user { name } }
  webhooks { items { id url description enabled triggers disabledReason history(limit: 5) { items { id eventName status statusInfo lastUpdate } } } }
} }`

const ROLES = ['stream:owner', 'stream:contributor', 'stream:reviewer']
const WEBHOOK_STATUS = ['Pending', 'Sending', 'Delivered', 'Failed']

export function ProjectSettings({ projectId }: { projectId: string }) {
  const q = useQuery(() => gql<SettingsData>(SETTINGS, { id: projectId }), [projectId])
  const [error, setError] = useState<string | null>(null)
  const [notice, setNotice] = useState<string | null>(null)
  const run = async (what: string, action: () => Promise<unknown>) => {
    setError(null)
    setNotice(null)
    try {
      await action()
      setNotice(what)
      q.reload()
    } catch (err) {
      setError((err as Error).message)
    }
  }
  if (q.loading && !q.data)
    return (
      <Shell>
        <Loading />
      </Shell>
    )
  if (q.error)
    return (
      <Shell>
        <ErrorBox title="Could not load the settings" error={q.error} />
      </Shell>
    )
  const p = q.data!.project
  if (p.role !== 'stream:owner') {
    return (
      <Shell>
        <ErrorBox title="Only owners change settings" error="Ask an owner of this project." />
        <Link href={`/projects/${p.id}`}>Back to the project</Link>
      </Shell>
    )
  }
  return (
    <Shell>
      <p>
        <Link href={`/projects/${p.id}`}>← {p.name}</Link>
      </p>
      <h1>Settings</h1>
      {error && <ErrorBox error={error} title="That did not work" />}
      {notice && (
        <p role="status" className="notice">
          {notice}
        </p>
      )}
      <Details key={`${p.name}|${p.description}|${p.visibility}`} project={p} run={run} />
      <section className="card" aria-label="Collaborators">
        <h2>Collaborators</h2>
        <table className="list">
          <tbody>
            {p.team.map((c) => (
              <tr key={c.id}>
                <td>
                  <Avatar name={c.user.name} src={c.user.avatar} /> {c.user.name}
                </td>
                <td>
                  <select
                    aria-label={`Role of ${c.user.name}`}
                    value={c.role}
                    onChange={(e) =>
                      void run('Role changed.', () =>
                        gql(
                          'mutation($i: ProjectUpdateRoleInput!) { projectMutations { updateRole(input: $i) { id } } }',
                          {
                            i: { projectId: p.id, userId: c.user.id, role: e.target.value },
                          },
                        ),
                      )
                    }
                  >
                    {ROLES.map((r) => (
                      <option key={r} value={r}>
                        {r.replace('stream:', '')}
                      </option>
                    ))}
                  </select>
                </td>
                <td>
                  <button
                    type="button"
                    className="danger"
                    onClick={() =>
                      confirm(`Remove ${c.user.name} from the project?`) &&
                      void run('Removed.', () =>
                        gql(
                          'mutation($i: ProjectUpdateRoleInput!) { projectMutations { updateRole(input: $i) { id } } }',
                          {
                            i: { projectId: p.id, userId: c.user.id, role: null },
                          },
                        ),
                      )
                    }
                  >
                    Remove
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        <Invite projectId={p.id} run={run} />
        {p.invitedTeam && p.invitedTeam.length > 0 && (
          <>
            <h3>Pending invites</h3>
            <ul>
              {p.invitedTeam.map((i) => (
                <li key={i.inviteId}>
                  {i.user?.name ?? i.title} as {i.role.replace('stream:', '')}{' '}
                  <button
                    type="button"
                    className="link"
                    onClick={() =>
                      void run('Invite cancelled.', () =>
                        gql(
                          'mutation($p: ID!, $i: String!) { projectMutations { invites { cancel(projectId: $p, inviteId: $i) { id } } } }',
                          {
                            p: p.id,
                            i: i.inviteId,
                          },
                        ),
                      )
                    }
                  >
                    Cancel
                  </button>
                </li>
              ))}
            </ul>
          </>
        )}
      </section>
      <section className="card" aria-label="Webhooks">
        <h2>Webhooks</h2>
        <NewWebhook projectId={p.id} run={run} />
        {p.webhooks.items.length === 0 ? (
          <Empty>No webhooks.</Empty>
        ) : (
          p.webhooks.items.map((w) => (
            <article key={w.id} className="webhook">
              <p>
                <code>{w.url}</code>{' '}
                {w.enabled ? <span className="badge">on</span> : <span className="badge off">off</span>}{' '}
                {w.disabledReason && <span className="muted">({w.disabledReason})</span>}
              </p>
              <p className="meta">{w.triggers.join(', ')}</p>
              {w.history?.items.length ? (
                <ul className="history">
                  {w.history.items.map((h) => (
                    <li key={h.id}>
                      {h.eventName}: {WEBHOOK_STATUS[h.status] ?? h.status} {h.statusInfo && `(${h.statusInfo})`}{' '}
                      <Ago date={h.lastUpdate} />
                    </li>
                  ))}
                </ul>
              ) : (
                <p className="muted">No deliveries yet.</p>
              )}
              <button
                type="button"
                className="danger"
                onClick={() =>
                  void run('Webhook deleted.', () =>
                    gql('mutation($w: WebhookDeleteInput!) { webhookDelete(webhook: $w) }', {
                      w: { id: w.id, streamId: p.id },
                    }),
                  )
                }
              >
                Delete webhook
              </button>
            </article>
          ))
        )}
      </section>
      <DeleteProject id={p.id} name={p.name} />
    </Shell>
  )
}

type Run = (what: string, action: () => Promise<unknown>) => Promise<void>

function Details({ project, run }: { project: SettingsData['project']; run: Run }) {
  const [name, setName] = useState(project.name)
  const [description, setDescription] = useState(project.description ?? '')
  const [visibility, setVisibility] = useState(project.visibility === 'UNLISTED' ? 'PUBLIC' : project.visibility)
  const submit = (e: FormEvent) => {
    e.preventDefault()
    void run('Saved.', () =>
      gql('mutation($u: ProjectUpdateInput!) { projectMutations { update(update: $u) { id } } }', {
        u: { id: project.id, name, description, visibility },
      }),
    )
  }
  return (
    <form className="card" onSubmit={submit} aria-label="Details">
      <label>
        Name
        <input required value={name} onChange={(e) => setName(e.target.value)} />
      </label>
      <label>
        Description
        <textarea value={description} onChange={(e) => setDescription(e.target.value)} rows={3} />
      </label>
      <label>
        Visibility
        <select value={visibility} onChange={(e) => setVisibility(e.target.value)}>
          <option value="PRIVATE">Private: only collaborators</option>
          <option value="PUBLIC">Public: anyone with the link</option>
        </select>
      </label>
      <button type="submit">Save</button>
    </form>
  )
}

function Invite({ projectId, run }: { projectId: string; run: Run }) {
  const [email, setEmail] = useState('')
  const [role, setRole] = useState('stream:contributor')
  const submit = (e: FormEvent) => {
    e.preventDefault()
    void run(`Invite sent to ${email}.`, () =>
      gql(
        'mutation($p: ID!, $i: ProjectInviteCreateInput!) { projectMutations { invites { create(projectId: $p, input: $i) { id } } } }',
        {
          p: projectId,
          i: { email, role },
        },
      ),
    ).then(() => setEmail(''))
  }
  return (
    <form className="inline-form" onSubmit={submit} aria-label="Invite">
      <label>
        Invite by email
        <input type="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
      </label>
      <select aria-label="Role" value={role} onChange={(e) => setRole(e.target.value)}>
        {ROLES.map((r) => (
          <option key={r} value={r}>
            {r.replace('stream:', '')}
          </option>
        ))}
      </select>
      <button type="submit">Invite</button>
    </form>
  )
}

const TRIGGERS = [
  'commit_create',
  'commit_update',
  'commit_delete',
  'branch_create',
  'branch_update',
  'branch_delete',
  'stream_update',
]

function NewWebhook({ projectId, run }: { projectId: string; run: Run }) {
  const [url, setUrl] = useState('')
  const [triggers, setTriggers] = useState<string[]>(['commit_create'])
  const submit = (e: FormEvent) => {
    e.preventDefault()
    void run('Webhook added.', () =>
      gql('mutation($w: WebhookCreateInput!) { webhookCreate(webhook: $w) }', {
        w: { streamId: projectId, url, triggers },
      }),
    ).then(() => setUrl(''))
  }
  return (
    <form className="inline-form" onSubmit={submit} aria-label="New webhook">
      <label>
        URL
        <input type="url" required value={url} onChange={(e) => setUrl(e.target.value)} />
      </label>
      <fieldset>
        <legend>Events</legend>
        {TRIGGERS.map((t) => (
          <label key={t} className="check">
            <input
              type="checkbox"
              checked={triggers.includes(t)}
              onChange={(e) => setTriggers(e.target.checked ? [...triggers, t] : triggers.filter((x) => x !== t))}
            />
            {t}
          </label>
        ))}
      </fieldset>
      <button type="submit" disabled={triggers.length === 0}>
        Add webhook
      </button>
    </form>
  )
}

function DeleteProject({ id, name }: { id: string; name: string }) {
  const [typed, setTyped] = useState('')
  const [error, setError] = useState<string | null>(null)
  const submit = async (e: FormEvent) => {
    e.preventDefault()
    try {
      await gql('mutation($id: String!) { projectMutations { delete(id: $id) } }', { id })
      navigate('/')
    } catch (err) {
      setError((err as Error).message)
    }
  }
  return (
    <form className="card danger-zone" onSubmit={submit} aria-label="Delete project">
      <h2>Delete this project</h2>
      <p>Its models, versions and comments are deleted for everyone. Type the project’s name to confirm.</p>
      {error && <ErrorBox error={error} />}
      <input aria-label="Project name to confirm" value={typed} onChange={(e) => setTyped(e.target.value)} />
      <button type="submit" className="danger" disabled={typed !== name}>
        Delete project
      </button>
    </form>
  )
}
