/**
 * A project: its models as a tree, each with its latest versions (message, author, source application, time,
 * preview), drag-and-drop import with live status, and the activity feed. New versions, models and import
 * progress arrive over subscriptions without a reload.
 */
import { useEffect, useMemo, useRef, useState, type DragEvent } from 'react'
import { Ago, Avatar, Empty, ErrorBox, Loading, Shell } from '../components/ui'
import { PresenceAvatars } from '../components/PresenceAvatars'
import { gql, uploadForImport, type ApiError } from '../lib/api'
import { subscribe } from '../lib/live'
import { Link } from '../lib/router'
import { useQuery, useSession } from '../lib/session'

interface VersionRow {
  id: string
  message: string | null
  createdAt: string
  sourceApplication: string | null
  previewUrl: string
  authorUser: { id: string; name: string; avatar: string | null } | null
}
interface Upload {
  id: string
  fileName: string
  modelName: string
  convertedStatus: number
  convertedMessage: string | null
}
interface ModelRow {
  id: string
  name: string
  displayName: string
  versionCount: number
  updatedAt: string
  versions: { items: VersionRow[] }
  pendingImportedVersions: Upload[]
}
interface ProjectData {
  id: string
  name: string
  description: string | null
  visibility: string
  role: string | null
  models: { totalCount: number; items: ModelRow[] }
  pendingImportedModels: Upload[]
}
interface ActivityRow {
  id: string
  actionType: string
  message: string
  time: string
  userId: string
}

const UPLOAD_FIELDS = 'id fileName modelName convertedStatus convertedMessage'
const PROJECT = `query Project($id: String!) {
  project(id: $id) {
    id name description visibility role
    pendingImportedModels { ${UPLOAD_FIELDS} }
    models(limit: 100) { totalCount items {
      id name displayName versionCount updatedAt
      pendingImportedVersions { ${UPLOAD_FIELDS} }
      versions(limit: 5) { items { id message createdAt sourceApplication previewUrl authorUser { id name avatar } } }
    } }
  }
}`
const ACTIVITY = `query Activity($id: String!) { stream(id: $id) { activity(limit: 15) { items { id actionType message time userId } } } }`

const STATUS = ['Queued', 'Converting', 'Done', 'Failed']

export function ProjectPage({ projectId }: { projectId: string }) {
  const { me } = useSession()
  const project = useQuery(() => gql<{ project: ProjectData }>(PROJECT, { id: projectId }), [projectId])
  const activity = useQuery(
    () => gql<{ stream: { activity: { items: ActivityRow[] } | null } | null }>(ACTIVITY, { id: projectId }),
    [projectId],
  )
  const [uploads, setUploads] = useState<Record<string, Upload>>({})

  // Live: versions, models and imports of this project (signed-in users; the socket uses the session).
  useEffect(() => {
    if (!me) return
    const reload = () => {
      project.reload()
      activity.reload()
    }
    const onUpload = (key: string) => (data: Record<string, unknown>) => {
      const message = data[key] as { model?: Upload; version?: Upload }
      const upload = message.model ?? message.version
      if (upload) setUploads((u) => ({ ...u, [upload.id]: upload }))
      if (upload?.convertedStatus === 2) reload()
    }
    const stops = [
      subscribe(
        `subscription($id: String!) { projectVersionsUpdated(id: $id) { id type } }`,
        { id: projectId },
        reload,
        reload,
      ),
      subscribe(`subscription($id: String!) { projectModelsUpdated(id: $id) { id type } }`, { id: projectId }, reload),
      subscribe(
        `subscription($id: String!) { projectPendingModelsUpdated(id: $id) { id type model { ${UPLOAD_FIELDS} } } }`,
        { id: projectId },
        onUpload('projectPendingModelsUpdated'),
      ),
      subscribe(
        `subscription($id: String!) { projectPendingVersionsUpdated(id: $id) { id type version { ${UPLOAD_FIELDS} } } }`,
        { id: projectId },
        onUpload('projectPendingVersionsUpdated'),
      ),
    ]
    return () => stops.forEach((stop) => stop())
  }, [me, projectId])

  if (project.loading && !project.data)
    return (
      <Shell>
        <Loading what="Loading the project" />
      </Shell>
    )
  if (project.error) {
    const code = (project.error as ApiError).code
    const missing =
      code === 'NOT_FOUND' || code === 'FORBIDDEN' || code === 'UNAUTHENTICATED' || code === 'STREAM_NOT_FOUND'
    return (
      <Shell>
        <ErrorBox
          title={missing ? 'This project is not available' : 'Could not load the project'}
          error={
            missing
              ? me
                ? 'It does not exist, or you are not one of its collaborators.'
                : 'It does not exist or is private. Sign in if it was shared with you.'
              : project.error
          }
        />
        {!me && <Link href={`/signin?next=/projects/${projectId}`}>Sign in</Link>}
      </Shell>
    )
  }
  const p = project.data!.project
  const canWrite = p.role === 'stream:owner' || p.role === 'stream:contributor'
  const pending = Object.values(uploads).concat(
    p.pendingImportedModels.filter((u) => !uploads[u.id]),
    p.models.items.flatMap((m) => m.pendingImportedVersions).filter((u) => !uploads[u.id]),
  )

  return (
    <Shell>
      <div className="row spread">
        <div>
          <h1>{p.name}</h1>
          {p.description && <p className="muted">{p.description}</p>}
          <p className="meta">
            <span className="badge">{p.visibility.toLowerCase()}</span>
            {p.role && <> · you are {p.role.replace('stream:', '')}</>}
          </p>
          <PresenceAvatars projectId={p.id} resourceIdString="" />
        </div>
        {p.role === 'stream:owner' && <Link href={`/projects/${p.id}/settings`}>Settings</Link>}
      </div>
      {canWrite && (
        <DropImport
          projectId={p.id}
          models={p.models.items}
          onQueued={(u) => setUploads((all) => ({ ...all, [u.id]: u }))}
        />
      )}
      {pending.filter((u) => u.convertedStatus !== 2).length > 0 && (
        <section aria-label="Imports">
          <h2>Imports</h2>
          <ul className="imports">
            {pending
              .filter((u) => u.convertedStatus !== 2)
              .map((u) => (
                <li key={u.id} className={u.convertedStatus === 3 ? 'failed' : ''}>
                  <strong>{u.fileName}</strong> → {u.modelName}:{' '}
                  <span className="status">{STATUS[u.convertedStatus]}</span>
                  {u.convertedStatus === 3 && u.convertedMessage && <span> ({u.convertedMessage})</span>}
                </li>
              ))}
          </ul>
        </section>
      )}
      <div className="columns">
        <section aria-label="Models" className="grow">
          <h2>Models</h2>
          {p.models.items.length === 0 ? (
            <Empty>
              No models yet. {canWrite ? 'Drop a file above, or send one from a connector or the SDK.' : ''}
            </Empty>
          ) : (
            <ModelTree projectId={p.id} models={p.models.items} />
          )}
        </section>
        <section aria-label="Activity" className="side">
          <h2>Activity</h2>
          {activity.data?.stream?.activity?.items.length ? (
            <ul className="activity">
              {activity.data.stream.activity.items.map((a) => (
                <li key={a.id}>
                  {a.message} <Ago date={a.time} />
                </li>
              ))}
            </ul>
          ) : (
            <p className="muted">{activity.loading ? 'Loading…' : 'Nothing yet.'}</p>
          )}
        </section>
      </div>
    </Shell>
  )
}

interface TreeNode {
  segment: string
  model: ModelRow | null
  children: Map<string, TreeNode>
}

/** Models named `a/b/c` nest under `a` and `a/b`, as Speckle shows them. */
function ModelTree({ projectId, models }: { projectId: string; models: ModelRow[] }) {
  const root = useMemo(() => {
    const top: TreeNode = { segment: '', model: null, children: new Map() }
    for (const m of [...models].sort((a, b) => a.name.localeCompare(b.name))) {
      let node = top
      for (const segment of m.name.split('/')) {
        let next = node.children.get(segment)
        if (!next) node.children.set(segment, (next = { segment, model: null, children: new Map() }))
        node = next
      }
      node.model = m
    }
    return top
  }, [models])
  const render = (node: TreeNode, depth: number) => (
    <ul className={depth === 0 ? 'models' : 'models nested'}>
      {[...node.children.values()].map((child) => (
        <li key={child.segment}>
          {child.model ? (
            <ModelCard projectId={projectId} model={child.model} />
          ) : (
            <span className="folder">{child.segment}/</span>
          )}
          {child.children.size > 0 && render(child, depth + 1)}
        </li>
      ))}
    </ul>
  )
  return render(root, 0)
}

function ModelCard({ projectId, model }: { projectId: string; model: ModelRow }) {
  const latest = model.versions.items[0]
  return (
    <article className="card model" aria-label={`Model ${model.name}`}>
      <div className="row spread">
        <h3>
          <Link href={`/projects/${projectId}/models/${model.id}`}>{model.displayName}</Link>
        </h3>
        <span className="muted">
          {model.versionCount} version{model.versionCount === 1 ? '' : 's'}
        </span>
      </div>
      {!latest ? (
        <p className="muted">No versions yet.</p>
      ) : (
        <ol className="versions">
          {model.versions.items.map((v) => (
            <li key={v.id}>
              <Link href={`/projects/${projectId}/models/${model.id}@${v.id}`} className="version">
                <img src={v.previewUrl} alt={`Preview of version ${v.id}`} width={140} height={80} loading="lazy" />
                <span>
                  <strong>{v.message || 'No message'}</strong>
                  <span className="meta">
                    {v.authorUser && (
                      <>
                        <Avatar name={v.authorUser.name} src={v.authorUser.avatar} /> {v.authorUser.name} ·{' '}
                      </>
                    )}
                    {v.sourceApplication && <>{v.sourceApplication} · </>}
                    <Ago date={v.createdAt} />
                  </span>
                </span>
              </Link>
            </li>
          ))}
        </ol>
      )}
    </article>
  )
}

const IMPORTABLE = /\.(ifc|obj|stl|gltf|glb)$/i

function DropImport({
  projectId,
  models,
  onQueued,
}: {
  projectId: string
  models: ModelRow[]
  onQueued: (u: Upload) => void
}) {
  const [over, setOver] = useState(false)
  const [progress, setProgress] = useState<{ name: string; fraction: number } | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [target, setTarget] = useState('')
  const input = useRef<HTMLInputElement>(null)

  const send = async (file: File) => {
    setError(null)
    if (!IMPORTABLE.test(file.name)) return setError(`${file.name}: Truss imports IFC, OBJ, STL, glTF and GLB files.`)
    const modelName = (target.trim() || file.name.replace(/\.[^.]+$/, '')).toLowerCase()
    setProgress({ name: file.name, fraction: 0 })
    try {
      const id = await uploadForImport(projectId, modelName, file, (fraction) =>
        setProgress({ name: file.name, fraction }),
      )
      onQueued({ id, fileName: file.name, modelName, convertedStatus: 0, convertedMessage: null })
    } catch (err) {
      setError(`${file.name}: ${(err as Error).message}`)
    } finally {
      setProgress(null)
    }
  }
  const drop = (e: DragEvent) => {
    e.preventDefault()
    setOver(false)
    for (const file of Array.from(e.dataTransfer.files)) void send(file)
  }
  return (
    <section
      className={over ? 'dropzone over' : 'dropzone'}
      aria-label="Import a file"
      onDragOver={(e) => {
        e.preventDefault()
        setOver(true)
      }}
      onDragLeave={() => setOver(false)}
      onDrop={drop}
    >
      <p>
        Drop an IFC, OBJ, STL or glTF file here, or{' '}
        <button type="button" className="link" onClick={() => input.current?.click()}>
          choose one
        </button>
        .{' '}
        <label className="inline">
          Into model{' '}
          <input
            list="model-names"
            placeholder="named after the file"
            value={target}
            onChange={(e) => setTarget(e.target.value)}
          />
        </label>
        <datalist id="model-names">
          {models.map((m) => (
            <option key={m.id} value={m.name} />
          ))}
        </datalist>
      </p>
      <input
        ref={input}
        type="file"
        hidden
        accept=".ifc,.obj,.stl,.gltf,.glb"
        aria-label="File to import"
        onChange={(e) => {
          for (const file of Array.from(e.target.files ?? [])) void send(file)
          e.target.value = ''
        }}
      />
      {progress && (
        <p role="status">
          Uploading {progress.name}: <progress value={progress.fraction} max={1} />{' '}
          {Math.round(progress.fraction * 100)}%
        </p>
      )}
      {error && <ErrorBox title="Could not import" error={error} />}
    </section>
  )
}
