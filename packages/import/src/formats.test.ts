import { readFile } from 'node:fs/promises'
import { serialize, type Base } from '@truss/core'
import { describe, expect, it } from 'vitest'
import { ImportError, importFile, type ImportResult } from './index.js'
import { SHARED_DATA } from '../../core/test/shared-data.js'

const DATA = `${SHARED_DATA}/`

function elements(r: ImportResult): Base[] {
  const out: Base[] = []
  const visit = (el: Base): void => {
    for (const c of (el['@elements'] as Base[] | undefined) ?? []) {
      out.push(c)
      visit(c)
    }
  }
  visit(r.root)
  return out
}

const meshes = (r: ImportResult): Base[] => elements(r).flatMap((e) => (e['@displayValue'] as Base[] | undefined) ?? [])
const materialNames = (r: ImportResult): Set<string> =>
  new Set(meshes(r).flatMap((m) => (m.renderMaterial ? [(m.renderMaterial as Base).name as string] : [])))

function speckleTypes(r: ImportResult): Set<string> {
  const { objects } = serialize(r.root)
  return new Set(objects.map(([, json]) => (JSON.parse(json) as { speckle_type: string }).speckle_type))
}

/** Counts from ../shared/data/SOURCES.md. */
describe('OBJ import', () => {
  it('imports regr01 as one element per group with its 12 materials and 2,710 triangles', async () => {
    const r = await importFile({ path: `${DATA}obj/regr01/regr01.obj` })
    expect(r.stats).toMatchObject({ fileType: 'obj', triangles: 2710, materials: 12 })
    // 56 group names; the bare `g` holds no faces (three.js's OBJLoader also gives 55 meshes).
    expect(elements(r)).toHaveLength(55)
    expect(materialNames(r)).toContain('Terraindæk')
    expect(speckleTypes(r)).toEqual(
      new Set(['Speckle.Core.Models.Collection', 'Base', 'Objects.Geometry.Mesh', 'Speckle.Core.Models.DataChunk']),
    )
  })

  it('imports spider with 19 groups, 4 materials used and a warning for its textures', async () => {
    const r = await importFile({ path: `${DATA}obj/spider/spider.obj` })
    expect(r.stats).toMatchObject({ triangles: 1368, materials: 4 })
    expect(elements(r)).toHaveLength(19)
    expect(r.warnings.some((w) => w.includes('textures'))).toBe(true)
  })

  it('warns when the MTL was not uploaded with the OBJ', async () => {
    const bytes = await readFile(`${DATA}obj/regr01/regr01.obj`)
    const r = await importFile({ bytes, fileName: 'regr01.obj' })
    expect(r.stats.triangles).toBe(2710)
    expect(r.warnings.join(' ')).toMatch(/regr01\.mtl/)
  })
})

describe('STL import', () => {
  it('gives the ASCII and binary gearwheel the same 2,444 triangles and 1,222 vertices', async () => {
    const ascii = await importFile({ path: `${DATA}stl/gearwheel.ascii.stl` })
    const binary = await importFile({ path: `${DATA}stl/gearwheel.bin.stl` })
    for (const r of [ascii, binary]) {
      expect(r.stats).toMatchObject({ fileType: 'stl', triangles: 2444, vertices: 1222, meshes: 1 })
      expect(meshes(r)[0]!.units).toBe('m')
    }
    expect(speckleTypes(binary)).toContain('Objects.Geometry.Mesh')
  })

  it('uses the units option for a format that carries none', async () => {
    const r = await importFile({ path: `${DATA}stl/gearwheel.bin.stl` }, { units: 'mm' })
    expect(meshes(r)[0]!.units).toBe('mm')
  })
})

describe('glTF import', () => {
  it('imports ClearCoatTest with its meshes, materials and 37,116 triangles', async () => {
    const r = await importFile({ path: `${DATA}gltf/ClearCoatTest/ClearCoatTest.gltf` })
    expect(r.stats).toMatchObject({ fileType: 'gltf', meshes: 27, triangles: 37116, vertices: 20106, materials: 19 })
  })

  it('gives the deccer-cubes .gltf and .glb the same nodes, meshes and materials', async () => {
    const gltf = await importFile({ path: `${DATA}gltf/deccer-cubes/SM_Deccer_Cubes_Textured.gltf` })
    const glb = await importFile({ path: `${DATA}gltf/deccer-cubes/SM_Deccer_Cubes_Textured.glb` })
    expect(glb.stats.fileType).toBe('glb')
    for (const r of [gltf, glb]) {
      expect(r.stats).toMatchObject({ elements: 5, meshes: 5, triangles: 60, vertices: 120, materials: 5 })
    }
    expect(materialNames(glb)).toEqual(materialNames(gltf))
  })
})

describe('bad input', () => {
  const fails = async (p: Promise<unknown>): Promise<ImportError> => {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(ImportError)
    return err as ImportError
  }

  it('refuses an empty file with EMPTY_FILE', async () => {
    const err = await fails(importFile({ bytes: new Uint8Array(), fileName: 'empty.ifc' }))
    expect(err.code).toBe('EMPTY_FILE')
    expect(err.message).toBe('empty.ifc is empty (0 bytes)')
  })

  it('refuses an unsupported type with UNSUPPORTED_TYPE naming the supported ones', async () => {
    const err = await fails(importFile({ bytes: new TextEncoder().encode('hello'), fileName: 'notes.docx' }))
    expect(err.code).toBe('UNSUPPORTED_TYPE')
    expect(err.message).toMatch(/notes\.docx is not a supported file type \(supported: ifc, obj, stl, gltf, glb\)/)
  })

  it('refuses corrupt bytes in each format with UNREADABLE_FILE', async () => {
    const garbage = Uint8Array.from({ length: 2000 }, (_, i) => (i * 7919) % 256)
    for (const fileName of ['broken.stl', 'broken.obj', 'broken.glb', 'broken.gltf']) {
      const err = await fails(importFile({ bytes: garbage, fileName }))
      expect(err.code, fileName).toBe('UNREADABLE_FILE')
      expect(err.message, fileName).toContain(fileName)
    }
  })

  it('refuses an IFC that is not STEP data, and one with a header and no data, with a readable error', async () => {
    const notStep = await fails(
      importFile({ bytes: new TextEncoder().encode('this is not IFC'), fileName: 'x.ifc', fileType: 'ifc' }),
    )
    expect(notStep.code).toBe('UNREADABLE_FILE')
    expect(notStep.message).toMatch(/^x\.ifc /)
    const full = await readFile(`${DATA}ifc/IfcOpenHouse_IFC4.ifc`)
    const header = full.subarray(0, full.indexOf('DATA;') + 5)
    const cut = await fails(importFile({ bytes: header, fileName: 'cut.ifc' }))
    expect(cut.code).toBe('EMPTY_MODEL')
    expect(cut.message).toBe('cut.ifc holds no IFC project or elements to import')
  })

  it('refuses a file over maxBytes with TOO_LARGE before reading it', async () => {
    const err = await fails(importFile({ path: `${DATA}stl/bunny.bin.stl` }, { maxBytes: 1_000_000 }))
    expect(err.code).toBe('TOO_LARGE')
    expect(err.message).toBe('bunny.bin.stl is 3.5 MB, larger than the 1.0 MB this server imports')
  })

  it('names a missing file', async () => {
    const err = await fails(importFile({ path: `${DATA}nope.obj` }))
    expect(err.code).toBe('UNREADABLE_FILE')
    expect(err.message).toBe('nope.obj could not be read: it does not exist')
  })

  it('refuses an input with neither path nor bytes', async () => {
    const err = await fails(importFile({}))
    expect(err.code).toBe('UNREADABLE_FILE')
    expect(err.message).toBe('Nothing to import: give a path or the file bytes')
  })

  it('stops an IFC import with ABORTED when the signal aborts midway', async () => {
    const controller = new AbortController()
    const onProgress = (p: { phase: string }): void => {
      if (p.phase === 'geometry') controller.abort()
    }
    const err = await fails(importFile({ path: `${DATA}ifc/duplex.ifc` }, { signal: controller.signal, onProgress }))
    expect(err.code).toBe('ABORTED')
  })

  it('stops with ABORTED when the signal is already aborted', async () => {
    const err = await fails(importFile({ path: `${DATA}stl/gearwheel.bin.stl` }, { signal: AbortSignal.abort() }))
    expect(err.code).toBe('ABORTED')
  })
})
