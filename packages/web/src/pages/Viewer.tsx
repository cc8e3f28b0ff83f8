/**
 * The version viewer at `/projects/:projectId/models/:modelId@:versionId` (or the model's latest version):
 * @speckle/viewer loads the version's objects from this server with the session cookie, or none for a
 * public project. Outliner, selection with properties, isolate / hide, section box, measure, zoom to fit;
 * the camera and selection live in the URL hash, so a copied link opens the same view.
 * Loaded on its own (a lazy chunk): the viewer is most of the app's weight.
 */
import {
  CameraController,
  DefaultViewerParams,
  FilteringExtension,
  LoaderEvent,
  MeasurementsExtension,
  SectionTool,
  SelectionExtension,
  SpeckleLoader,
  Viewer,
  ViewerEvent,
  ViewMode,
  ViewModes,
  type TreeNode,
} from '@speckle/viewer'
import { useEffect, useMemo, useRef, useState } from 'react'
import CommentsPanel from '../components/CommentsPanel'
import { Ago, ErrorBox, Shell } from '../components/ui'
import { PresenceAvatars } from '../components/PresenceAvatars'
import { gql, type ApiError } from '../lib/api'
import { Link, navigate, useLocation } from '../lib/router'
import { elementDiff, propertiesOf, readHash, writeHash, type DiffItem, type VersionDiff } from '../lib/view'
import { useQuery, useSession } from '../lib/session'
import { TreeLoader } from '../lib/tree-loader'

interface VersionInfo {
  id: string
  message: string | null
  createdAt: string
  referencedObject: string
  sourceApplication: string | null
  authorUser: { name: string } | null
}
interface ViewerData {
  project: {
    id: string
    name: string
    visibility: string
    model: {
      id: string
      name: string
      displayName: string
      versions: { items: VersionInfo[] }
    }
  }
}

/**
 * SpeckleLoader reading the version's tree with `TreeLoader` (one streaming request, see lib/tree-loader)
 * instead of @speckle/objectloader2. No token: the browser sends the session cookie with the same-origin
 * request, and a public project needs none.
 */
class SessionLoader extends SpeckleLoader {
  protected override initObjectLoader(resource: string) {
    const url = new URL(resource)
    const parts = url.pathname.split('/')
    const loader = new TreeLoader({ serverUrl: url.origin, projectId: parts[2]!, objectId: parts[4]! })
    // The viewer calls only what TreeLoader has (getTotalObjectCount, getObjectIterator, getObject, disposeAsync).
    return loader as unknown as ReturnType<SpeckleLoader['initObjectLoader']>
  }

  override async load(): Promise<boolean> {
    const done = await super.load()
    // Every object is downloaded and converted into the world tree; batching for the GPU comes next.
    performance.mark('truss:viewer:converted')
    return done
  }
}

const DIFF_QUERY = `query VersionDiff($p: String!, $v: String!, $a: String!, $c: String) {
  project(id: $p) { version(id: $v) { diff(against: $a, limit: 1000, cursor: $c) { cursor items { kind id applicationId } } } }
}`
interface DiffPage {
  project: { version: { diff: { cursor: string | null; items: DiffItem[] } } }
}

const OUTLINE_LIMIT = 500
/** While a model loads: the longest gap between two drawn frames before any part of it is in, and after. */
const LOADING_FRAME_MS = 1000
const LOADING_MODEL_FRAME_MS = 3000

interface OutlineItem {
  id: string
  label: string
  type: string
  applicationId: string | null
}

export default function ViewerPage({
  projectId,
  modelId,
  versionId,
}: {
  projectId: string
  modelId: string
  versionId: string | null
}) {
  const { me } = useSession()
  const info = useQuery(
    () =>
      gql<ViewerData>(
        `query ViewerVersion($p: String!, $m: String!) { project(id: $p) { id name visibility model(id: $m) {
          id name displayName
          versions(limit: 100) { items { id message createdAt referencedObject sourceApplication authorUser { name } } }
        } } }`,
        { p: projectId, m: modelId },
      ),
    [projectId, modelId],
  )
  const versions = info.data?.project.model.versions.items ?? []
  const version = versionId ? versions.find((v) => v.id === versionId) : versions[0]

  const container = useRef<HTMLDivElement>(null)
  const viewerRef = useRef<{
    viewer: Viewer
    camera: CameraController
    selection: SelectionExtension
    filtering: FilteringExtension
    section: SectionTool
    measure: MeasurementsExtension
    modes: ViewModes
  } | null>(null)
  const [viewMode, setViewMode] = useState<ViewMode>(ViewMode.DEFAULT)
  const viewModeRef = useRef(viewMode)
  viewModeRef.current = viewMode
  const [progress, setProgress] = useState(0)
  const [loaded, setLoaded] = useState(false)
  const [loadError, setLoadError] = useState<string | null>(null)
  const [selected, setSelected] = useState<{ id: string; raw: Record<string, unknown> } | null>(null)
  const [outline, setOutline] = useState<OutlineItem[]>([])
  const [objects, setObjects] = useState<OutlineItem[]>([])
  const [hidden, setHidden] = useState<string[]>([])
  const [isolated, setIsolated] = useState<string[]>([])
  const [sectionOn, setSectionOn] = useState(false)
  const [measureOn, setMeasureOn] = useState(false)
  const { search } = useLocation()
  const compareId = search.get('compare')
  const [diff, setDiff] = useState<(VersionDiff & { against: string }) | null>(null)
  const [diffError, setDiffError] = useState<string | null>(null)
  const [pinLayer, setPinLayer] = useState<HTMLDivElement | null>(null)

  useEffect(() => {
    if (!version || !container.current) return
    let disposed = false
    const started = performance.now()
    performance.mark('truss:viewer:start')
    const viewer = new Viewer(container.current, { ...DefaultViewerParams, showStats: false, verbose: false })
    setLoaded(false)
    setProgress(0)
    setLoadError(null)
    setSelected(null)
    const run = async () => {
      await viewer.init()
      const camera = viewer.createExtension(CameraController)
      const selection = viewer.createExtension(SelectionExtension)
      const filtering = viewer.createExtension(FilteringExtension)
      const section = viewer.createExtension(SectionTool)
      const measure = viewer.createExtension(MeasurementsExtension)
      const modes = viewer.createExtension(ViewModes)
      // Load under the cheap shaded pipeline: the default one (ambient occlusion, edges) takes most of each
      // frame and starves the loader on slow GPUs. The chosen mode comes back once everything is in.
      modes.setViewMode(ViewMode.SHADED, { edges: false })
      viewerRef.current = { viewer, camera, selection, filtering, section, measure, modes }
      const resource = `${location.origin}/streams/${projectId}/objects/${version.referencedObject}`
      const loader = new SessionLoader(viewer.getWorldTree(), resource, undefined, true)
      // The loader reports every object; the bar moves by whole percents (one React render each).
      let shown = -1
      loader.on(LoaderEvent.LoadProgress, ({ progress: p }) => {
        const percent = Math.floor(p * 100)
        if (disposed || percent === shown) return
        shown = percent
        setProgress(p)
      })
      const hash = readHash()
      // No zoom per batch: with it the viewer fits the camera and renders a whole frame after each of the
      // (50 for 100,000 objects) batches. The camera is fitted once, below, when all of them are in.
      // While the batches are built, draw few frames: each one redraws every batch so far, and on a software
      // or slow GPU frames would take most of the time the batching needs. The first frame with part of the
      // model in it is drawn at once; after it, one every LOADING_MODEL_FRAME_MS until all is in.
      const renderer = viewer.getRenderer()
      const render = renderer.render.bind(renderer)
      let lastFrame = 0
      let firstFrame = false
      renderer.render = () => {
        const now = performance.now()
        const hasModel = Object.keys(renderer.batcher.batches).length > 0
        const gap = firstFrame ? LOADING_MODEL_FRAME_MS : hasModel ? 0 : LOADING_FRAME_MS
        if (now - lastFrame < gap) return
        lastFrame = now
        render()
        // The first frame drawn with part of the model in it.
        if (!firstFrame && hasModel) {
          firstFrame = true
          performance.mark('truss:viewer:first-frame')
        }
      }
      try {
        await viewer.loadObject(loader, false)
      } finally {
        renderer.render = render
      }
      if (disposed) return
      viewer.requestRender()
      if (hash.camera === null) camera.setCameraView([], false)
      performance.mark('truss:viewer:loaded')
      modes.setViewMode(viewModeRef.current)
      ;(window as unknown as { trussViewer?: unknown }).trussViewer = { viewer, loadMs: performance.now() - started }
      if (hash.camera) {
        const [px, py, pz, tx, ty, tz] = hash.camera as [number, number, number, number, number, number]
        camera.setCameraView({ position: { x: px, y: py, z: pz }, target: { x: tx, y: ty, z: tz } } as never, false)
      }
      // The model's objects (atomic nodes: elements, not their parts); the outline lists the first OUTLINE_LIMIT.
      const items: OutlineItem[] = []
      const rootId = version.referencedObject
      viewer.getWorldTree().walk((node: TreeNode) => {
        const model = node.model as { atomic?: boolean; raw?: Record<string, unknown> }
        const raw = model.raw
        // The resource's own node (its id is the object URL) and the root object are not elements.
        if (!raw || !model.atomic || typeof raw.id !== 'string' || raw.id === rootId || raw.id.includes('/'))
          return true
        items.push({
          applicationId: typeof raw.applicationId === 'string' ? raw.applicationId : null,
          id: raw.id,
          label: String(raw.name ?? raw.speckle_type ?? raw.id),
          type: String(raw.speckle_type ?? ''),
        })
        return true
      })
      setObjects(items)
      setOutline(items.slice(0, OUTLINE_LIMIT))
      viewer.on(ViewerEvent.ObjectClicked, (event) => {
        const hit = event?.hits[0]
        if (!hit) {
          selection.clearSelection()
          setSelected(null)
          return
        }
        const raw = hit.node.model.raw as Record<string, unknown>
        setSelected({ id: String(raw.id), raw })
      })
      setLoaded(true)
      if (hash.selected) selectById(hash.selected)
    }
    run().catch((err: unknown) => !disposed && setLoadError(err instanceof Error ? err.message : String(err)))
    // Keep the view in the URL (camera and selection), a few times a second at most.
    const timer = setInterval(() => {
      const v = viewerRef.current
      if (!v || disposed) return
      const p = v.camera.getPosition()
      const t = v.camera.getTarget()
      const selectedNow = (v.selection.getSelectedObjects()[0]?.id as string | undefined) ?? null
      writeHash([p.x, p.y, p.z, t.x, t.y, t.z], selectedNow)
    }, 500)
    return () => {
      disposed = true
      clearInterval(timer)
      viewerRef.current = null
      viewer.dispose()
      container.current?.replaceChildren()
    }
  }, [version?.referencedObject])

  // Compare with another version: the server's diff of the two trees (`version.diff`, computed once and
  // kept), read page by page; the elements of this view that it names are counted and coloured.
  useEffect(() => {
    const v = viewerRef.current
    const other = versions.find((x) => x.id === compareId)
    if (!loaded || !v || !version) return
    v.filtering.removeUserObjectColors()
    setDiff(null)
    setDiffError(null)
    if (!other || other.id === version.id) return
    let live = true
    const run = async () => {
      const items: DiffItem[] = []
      let cursor: string | null = null
      do {
        const page: DiffPage = await gql<DiffPage>(DIFF_QUERY, { p: projectId, v: version.id, a: other.id, c: cursor })
        const diffPage = page.project.version.diff
        items.push(...diffPage.items)
        cursor = diffPage.cursor
      } while (cursor !== null && live)
      if (!live) return
      const result = elementDiff(items, objects)
      v.filtering.setUserObjectColors([
        { objectIds: result.added, color: '#2f9e44' },
        { objectIds: result.changed, color: '#f08c00' },
      ])
      v.viewer.requestRender()
      setDiff({ ...result, against: other.id })
    }
    run().catch((err: unknown) => live && setDiffError(err instanceof Error ? err.message : String(err)))
    return () => {
      live = false
    }
  }, [loaded, compareId, version?.id, objects])

  const selectById = (id: string) => {
    const v = viewerRef.current
    if (!v) return
    const node = v.viewer.getWorldTree().findId(id)?.[0]
    if (!node) return
    v.selection.selectObjects([id])
    setSelected({ id, raw: node.model.raw as Record<string, unknown> })
  }

  const act = {
    fit: () => viewerRef.current?.camera.setCameraView(isolated.length ? isolated : undefined, true),
    isolate: (id: string) => {
      const v = viewerRef.current
      if (!v) return
      const next = isolated.includes(id) ? isolated.filter((x) => x !== id) : [...isolated, id]
      v.filtering.resetFilters()
      if (next.length) v.filtering.isolateObjects(next, 'truss-isolate', true, true)
      if (hidden.length) v.filtering.hideObjects(hidden, 'truss-hide', true)
      setIsolated(next)
    },
    hide: (id: string) => {
      const v = viewerRef.current
      if (!v) return
      if (hidden.includes(id)) {
        v.filtering.showObjects([id], 'truss-hide', true)
        setHidden(hidden.filter((x) => x !== id))
      } else {
        v.filtering.hideObjects([id], 'truss-hide', true)
        setHidden([...hidden, id])
      }
    },
    reset: () => {
      viewerRef.current?.filtering.resetFilters()
      setHidden([])
      setIsolated([])
    },
    section: () => {
      const v = viewerRef.current
      if (!v) return
      if (!sectionOn) v.section.setBox(v.viewer.getRenderer().sceneBox)
      v.section.enabled = !sectionOn
      v.viewer.requestRender()
      setSectionOn(!sectionOn)
    },
    measure: () => {
      const v = viewerRef.current
      if (!v) return
      v.measure.enabled = !measureOn
      setMeasureOn(!measureOn)
    },
  }

  const properties = useMemo(() => (selected ? propertiesOf(selected.raw) : []), [selected])

  if (info.error) {
    const code = (info.error as ApiError).code
    if (code !== 'NOT_FOUND' && code !== 'FORBIDDEN' && code !== 'UNAUTHENTICATED') {
      return (
        <Shell>
          <ErrorBox title="Could not load the model" error={info.error} />
        </Shell>
      )
    }
    return (
      <Shell>
        <ErrorBox
          title="This model is not available"
          error={
            me
              ? 'It does not exist, or you are not one of the project’s collaborators.'
              : 'It does not exist or is private. Sign in if it was shared with you.'
          }
        />
        {!me && <Link href={`/signin?next=${encodeURIComponent(location.pathname)}`}>Sign in</Link>}
      </Shell>
    )
  }
  const p = info.data?.project
  return (
    <Shell wide>
      <div className="viewer-layout">
        <aside className="panel" aria-label="Model">
          {p && (
            <>
              <p>
                <Link href={`/projects/${p.id}`}>{p.name}</Link> / <strong>{p.model.displayName}</strong>
              </p>
              <PresenceAvatars
                projectId={p.id}
                resourceIdString={version ? `${p.model.id}@${version.id}` : p.model.id}
              />
              {version ? (
                <label>
                  Version
                  <select
                    value={version.id}
                    onChange={(e) => navigate(`/projects/${p.id}/models/${p.model.id}@${e.target.value}`)}
                  >
                    {versions.map((v) => (
                      <option key={v.id} value={v.id}>
                        {v.message || v.id} ({new Date(v.createdAt).toLocaleDateString()})
                      </option>
                    ))}
                  </select>
                </label>
              ) : (
                <ErrorBox
                  title="No version"
                  error={versionId ? `Version ${versionId} is not in this model.` : 'This model has no versions yet.'}
                />
              )}
              {version && (
                <p className="meta">
                  {version.authorUser?.name ?? 'Someone'} · {version.sourceApplication ?? 'unknown app'} ·{' '}
                  <Ago date={version.createdAt} />
                </p>
              )}
            </>
          )}
          {p && version && versions.length > 1 && (
            <div className="compare">
              <label>
                Compare with
                <select
                  value={compareId ?? ''}
                  onChange={(e) => {
                    const params = new URLSearchParams(location.search)
                    if (e.target.value) params.set('compare', e.target.value)
                    else params.delete('compare')
                    const query = params.toString()
                    navigate(`${location.pathname}${query ? `?${query}` : ''}${location.hash}`, { replace: true })
                  }}
                >
                  <option value="">(no comparison)</option>
                  {versions
                    .filter((x) => x.id !== version.id)
                    .map((x) => (
                      <option key={x.id} value={x.id}>
                        {x.message || x.id} ({new Date(x.createdAt).toLocaleDateString()})
                      </option>
                    ))}
                </select>
              </label>
              {diff && (
                <p role="status" aria-label="Comparison">
                  <span className="swatch added" /> {diff.added.length} added · <span className="swatch changed" />{' '}
                  {diff.changed.length} changed · {diff.removed.length} removed · {diff.unchanged} unchanged
                </p>
              )}
              {diffError && <ErrorBox title="Could not compare" error={diffError} />}
            </div>
          )}
          <div className="toolbar" role="toolbar" aria-label="View tools">
            <button type="button" onClick={act.fit} disabled={!loaded}>
              Zoom to fit
            </button>
            <button type="button" onClick={act.section} aria-pressed={sectionOn} disabled={!loaded}>
              Section box
            </button>
            <button type="button" onClick={act.measure} aria-pressed={measureOn} disabled={!loaded}>
              Measure
            </button>
            <select
              aria-label="View mode"
              value={viewMode}
              disabled={!loaded}
              onChange={(e) => {
                const mode = Number(e.target.value) as ViewMode
                viewerRef.current?.modes.setViewMode(mode)
                setViewMode(mode)
              }}
            >
              <option value={ViewMode.DEFAULT}>Default</option>
              <option value={ViewMode.SHADED}>Shaded</option>
              <option value={ViewMode.SOLID}>Solid</option>
              <option value={ViewMode.PEN}>Pen</option>
              <option value={ViewMode.ARCTIC}>Arctic</option>
            </select>
            <button
              type="button"
              onClick={act.reset}
              disabled={!loaded || (hidden.length === 0 && isolated.length === 0)}
            >
              Show all
            </button>
          </div>
          <h2>Outline</h2>
          <ul className="outline" aria-label="Outline">
            {outline.map((item) => (
              <li key={item.id} className={selected?.id === item.id ? 'selected' : ''}>
                <button type="button" className="link" onClick={() => selectById(item.id)} title={item.type}>
                  {item.label}
                </button>
                <span className="tools">
                  <button
                    type="button"
                    className="icon"
                    aria-pressed={isolated.includes(item.id)}
                    onClick={() => act.isolate(item.id)}
                    aria-label={`Isolate ${item.label}`}
                  >
                    ◎
                  </button>
                  <button
                    type="button"
                    className="icon"
                    aria-pressed={hidden.includes(item.id)}
                    onClick={() => act.hide(item.id)}
                    aria-label={`Hide ${item.label}`}
                  >
                    {hidden.includes(item.id) ? '◌' : '●'}
                  </button>
                </span>
              </li>
            ))}
          </ul>
          {objects.length > outline.length && (
            <p className="muted">
              Showing the first {outline.length} of {objects.length.toLocaleString()} objects.
            </p>
          )}
        </aside>
        <div className="canvas-wrap">
          <div ref={container} className="canvas" data-testid="viewer" aria-label="3D view" />
          <div ref={setPinLayer} className="pin-layer" />
          {!loaded && !loadError && version && (
            <div className="overlay" role="status">
              Loading the model… <progress value={progress} max={1} /> {Math.round(progress * 100)}%
            </div>
          )}
          {loadError && (
            <div className="overlay">
              <ErrorBox title="Could not load the model" error={loadError} />
            </div>
          )}
        </div>
        <aside className="panel" aria-label="Properties">
          <h2>Properties</h2>
          {selected ? (
            <table className="props">
              <tbody>
                {properties.map(([k, v]) => (
                  <tr key={k}>
                    <th scope="row">{k}</th>
                    <td>{v}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : (
            <p className="muted">Click an object to see its properties.</p>
          )}
        </aside>
        {p && version && (
          <CommentsPanel
            projectId={p.id}
            modelId={p.model.id}
            versionId={version.id}
            viewer={viewerRef}
            loaded={loaded}
            pinLayer={pinLayer}
            onSelect={selectById}
          />
        )}
      </div>
    </Shell>
  )
}
