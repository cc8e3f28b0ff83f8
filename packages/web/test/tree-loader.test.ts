/**
 * The viewer's object source against a real server (PGlite): a tree sent with the SDK comes back root first,
 * every object once, whatever the chunking of the response; `getObject` waits for an object still on its
 * way and refuses one the tree lacks; access and missing objects are errors in words.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Base, MemoryTransport, Mesh, ServerTransport, send } from '../../core/src/index.js'
import { startObjectsServer, type ObjectsServer } from '../../server/test/e2e/objects-harness.js'
import { TreeLoader, type SpeckleObject } from '../src/lib/tree-loader.js'

let s: ObjectsServer
let rootId: string

beforeAll(async () => {
  s = await startObjectsServer()
  const elements = Array.from(
    { length: 300 },
    (_, i) =>
      new Base({
        name: `Élément ${i} ✓`,
        '@displayValue': [new Mesh({ vertices: [i, 0, 0, i + 1, 0, 0, i, 1, 0], faces: [3, 0, 1, 2], units: 'm' })],
      }),
  )
  rootId = await send(new Base({ name: 'Tree', '@elements': elements }), {
    transports: [new ServerTransport({ serverUrl: s.url, projectId: s.privateProject, token: s.ownerToken })],
    cache: new MemoryTransport(),
  })
}, 120_000)

afterAll(async () => {
  await s?.close()
})

async function readAll(loader: TreeLoader): Promise<SpeckleObject[]> {
  const out: SpeckleObject[] = []
  for await (const object of loader.getObjectIterator()) out.push(object)
  return out
}

/** The server's response re-cut into chunks of `size` bytes (a slow network cuts lines and characters anywhere). */
function rechunking(size: number): typeof fetch {
  return async (input, init) => {
    const response = await fetch(input, init)
    const bytes = new Uint8Array(await response.arrayBuffer())
    let at = 0
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (at >= bytes.length) return controller.close()
        controller.enqueue(bytes.slice(at, at + size))
        at += size
      },
    })
    return new Response(body, { status: response.status, headers: response.headers })
  }
}

describe('TreeLoader', () => {
  it('reads the whole tree root first, each object once, with the count the root promises', async () => {
    const loader = new TreeLoader({
      serverUrl: s.url,
      projectId: s.privateProject,
      objectId: rootId,
      token: s.ownerToken,
    })
    const total = await loader.getTotalObjectCount()
    // The root, 300 elements, their 300 meshes and the meshes' detached data chunks.
    expect(total).toBeGreaterThan(601)
    const objects = await readAll(loader)
    expect(objects).toHaveLength(total)
    expect(objects[0]!.id).toBe(rootId)
    expect(new Set(objects.map((o) => o.id)).size).toBe(total)
    expect(objects.filter((o) => o.speckle_type === 'Objects.Geometry.Mesh')).toHaveLength(300)
    expect(objects.filter((o) => String(o.name).startsWith('Élément'))).toHaveLength(300)
    await loader.disposeAsync()
  })

  it('gives the same objects when the response arrives 7 bytes at a time', async () => {
    const whole = await readAll(
      new TreeLoader({ serverUrl: s.url, projectId: s.privateProject, objectId: rootId, token: s.ownerToken }),
    )
    const cut = await readAll(
      new TreeLoader({
        serverUrl: s.url,
        projectId: s.privateProject,
        objectId: rootId,
        token: s.ownerToken,
        fetch: rechunking(7),
      }),
    )
    expect(cut).toEqual(whole)
    expect(cut.some((o) => String(o.name).includes('✓'))).toBe(true)
  })

  it('lets getObject wait for an object on its way and refuses one the tree lacks', async () => {
    const loader = new TreeLoader({
      serverUrl: s.url,
      projectId: s.privateProject,
      objectId: rootId,
      token: s.ownerToken,
      fetch: rechunking(512),
    })
    const root = (await loader.getRootObject()).base
    const lastChild = Object.keys(root.__closure as Record<string, number>)
      .sort()
      .at(-1)!
    const waited = loader.getObject({ id: lastChild })
    const missing = loader.getObject({ id: 'f'.repeat(32) })
    await readAll(loader)
    expect((await waited).id).toBe(lastChild)
    await expect(missing).rejects.toThrow(/not in this model's tree/)
  })

  it('says so when the reader has no access or the object is not there', async () => {
    const stranger = new TreeLoader({
      serverUrl: s.url,
      projectId: s.privateProject,
      objectId: rootId,
      token: s.outsiderToken,
    })
    await expect(readAll(stranger)).rejects.toThrow(/do not have access|not on the server/)
    const absent = new TreeLoader({
      serverUrl: s.url,
      projectId: s.privateProject,
      objectId: 'e'.repeat(32),
      token: s.ownerToken,
    })
    await expect(absent.getTotalObjectCount()).rejects.toThrow(/not on the server/)
  })
})
