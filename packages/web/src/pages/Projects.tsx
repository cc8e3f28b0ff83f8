/** The signed-in user's projects: search, load more, create. */
import { useEffect, useState, type FormEvent } from 'react'
import { Ago, Empty, ErrorBox, Loading, Shell } from '../components/ui'
import { gql } from '../lib/api'
import { Link, navigate } from '../lib/router'

interface ProjectRow {
  id: string
  name: string
  description: string | null
  visibility: string
  role: string | null
  updatedAt: string
  models: { totalCount: number }
}

const LIST = `query Projects($filter: UserProjectsFilter, $cursor: String) {
  activeUser { projects(filter: $filter, limit: 20, cursor: $cursor) {
    totalCount cursor
    items { id name description visibility role updatedAt models(limit: 0) { totalCount } }
  } }
}`

export function Projects() {
  const [search, setSearch] = useState('')
  const [query, setQuery] = useState('')
  const [items, setItems] = useState<ProjectRow[]>([])
  const [cursor, setCursor] = useState<string | null>(null)
  const [total, setTotal] = useState(0)
  const [loading, setLoading] = useState(true)
  const [error, setError] = useState<Error | null>(null)

  // Search as one types, once typing pauses.
  useEffect(() => {
    const t = setTimeout(() => setQuery(search.trim()), 250)
    return () => clearTimeout(t)
  }, [search])

  const load = async (from: string | null) => {
    setLoading(true)
    try {
      const data = await gql<{
        activeUser: { projects: { totalCount: number; cursor: string | null; items: ProjectRow[] } } | null
      }>(LIST, { filter: query ? { search: query } : null, cursor: from })
      if (!data.activeUser) return navigate('/signin?next=/', { replace: true })
      const page = data.activeUser.projects
      setItems((prev) => (from ? [...prev, ...page.items] : page.items))
      setCursor(page.items.length > 0 ? page.cursor : null)
      setTotal(page.totalCount)
      setError(null)
    } catch (err) {
      setError(err as Error)
    } finally {
      setLoading(false)
    }
  }
  useEffect(() => void load(null), [query])

  return (
    <Shell>
      <div className="row spread">
        <h1>Projects</h1>
        <CreateProject />
      </div>
      <input
        type="search"
        className="search"
        placeholder="Search projects"
        aria-label="Search projects"
        value={search}
        onChange={(e) => setSearch(e.target.value)}
      />
      {error && <ErrorBox error={error} title="Could not load your projects" />}
      {!error && !loading && items.length === 0 && (
        <Empty>
          {query ? `No project matches “${query}”.` : 'No projects yet. Create one to start sending models.'}
        </Empty>
      )}
      <ul className="cards" aria-label="Projects">
        {items.map((p) => (
          <li key={p.id} className="card project-card">
            <Link href={`/projects/${p.id}`}>
              <h2>{p.name}</h2>
            </Link>
            {p.description && <p className="muted">{p.description}</p>}
            <p className="meta">
              <span className="badge">{p.visibility.toLowerCase()}</span> {p.models.totalCount} model
              {p.models.totalCount === 1 ? '' : 's'} · updated <Ago date={p.updatedAt} />
              {p.role && <> · {p.role.replace('stream:', '')}</>}
            </p>
          </li>
        ))}
      </ul>
      {loading && <Loading what="Loading projects" />}
      {!loading && cursor && items.length < total && (
        <button type="button" className="secondary" onClick={() => void load(cursor)}>
          Load more ({total - items.length} left)
        </button>
      )}
    </Shell>
  )
}

function CreateProject() {
  const [open, setOpen] = useState(false)
  const [name, setName] = useState('')
  const [visibility, setVisibility] = useState('PRIVATE')
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setBusy(true)
    try {
      const data = await gql<{ projectMutations: { create: { id: string } } }>(
        'mutation Create($input: ProjectCreateInput) { projectMutations { create(input: $input) { id } } }',
        { input: { name: name.trim(), visibility } },
      )
      navigate(`/projects/${data.projectMutations.create.id}`)
    } catch (err) {
      setError((err as Error).message)
      setBusy(false)
    }
  }
  if (!open) {
    return (
      <button type="button" onClick={() => setOpen(true)}>
        New project
      </button>
    )
  }
  return (
    <form className="inline-form" onSubmit={submit} aria-label="New project">
      <label>
        Name
        <input required autoFocus value={name} onChange={(e) => setName(e.target.value)} />
      </label>
      <label>
        Visibility
        <select value={visibility} onChange={(e) => setVisibility(e.target.value)}>
          <option value="PRIVATE">Private: only collaborators</option>
          <option value="PUBLIC">Public: anyone with the link</option>
        </select>
      </label>
      <button type="submit" disabled={busy}>
        Create
      </button>
      <button type="button" className="secondary" onClick={() => setOpen(false)}>
        Cancel
      </button>
      {error && <ErrorBox error={error} title="Could not create the project" />}
    </form>
  )
}
