import { readFile } from 'node:fs/promises'
import { serialize, type Base } from '@truss/core'
import { describe, expect, it } from 'vitest'
import { importFile, type ImportResult } from './index.js'
import { sharedData } from '../../core/test/shared-data.js'

const IFC = `${sharedData('ifc')}/`

/** Every element under the root, depth first. */
function all(root: Base): Base[] {
  const out: Base[] = []
  const visit = (el: Base): void => {
    out.push(el)
    for (const c of (el['@elements'] as Base[] | undefined) ?? []) visit(c)
  }
  visit(root)
  return out
}

function countByClass(r: ImportResult): Record<string, number> {
  const out: Record<string, number> = {}
  for (const el of all(r.root)) if (typeof el.ifcType === 'string') out[el.ifcType] = (out[el.ifcType] ?? 0) + 1
  return out
}

function storeys(r: ImportResult): [unknown, unknown][] {
  return all(r.root)
    .filter((e) => e.ifcType === 'IFCBUILDINGSTOREY')
    .map((e): [unknown, unknown] => [
      e.name,
      typeof e.elevation === 'number' ? Math.round(e.elevation * 1e4) / 1e4 + 0 : e.elevation,
    ])
    .sort((a, b) => Number(a[1]) - Number(b[1]))
}

/** Counts from ../shared/data/SOURCES.md (web-ifc 0.0.78). */
describe('IFC import', () => {
  it('imports Office_A (IFC2X3) with its spatial tree, class counts, storeys and triangles', async () => {
    const r = await importFile({ path: `${IFC}Office_A_20110811.ifc` })
    expect(r.root.speckle_type).toBe('Speckle.Core.Models.Collection')
    expect(r.root.ifcSchema).toBe('IFC2X3')
    expect(r.root.units).toBe('m')
    const [project] = r.root['@elements'] as Base[]
    expect(project!.ifcType).toBe('IFCPROJECT')
    const [site] = project!['@elements'] as Base[]
    expect(site!.ifcType).toBe('IFCSITE')
    const [building] = site!['@elements'] as Base[]
    expect(building!.ifcType).toBe('IFCBUILDING')
    expect((building!['@elements'] as Base[]).every((s) => s.ifcType === 'IFCBUILDINGSTOREY')).toBe(true)
    const counts = countByClass(r)
    expect(counts).toMatchObject({
      IFCPROJECT: 1,
      IFCSITE: 1,
      IFCBUILDING: 1,
      IFCBUILDINGSTOREY: 3,
      IFCWALLSTANDARDCASE: 487,
      IFCSLAB: 2,
      IFCWINDOW: 69,
      IFCDOOR: 102,
    })
    expect(storeys(r)).toEqual([
      ['Level 1', 0],
      ['Level 2', 4.2672],
      ['Roof', 7.9248],
    ])
    expect(r.stats.triangles).toBe(49923)
    expect(r.stats.vertices).toBe(119601)
    const withGeometry = all(r.root).filter((e) => e['@displayValue'])
    expect(withGeometry).toHaveLength(803)
  })

  it('puts GlobalId, name, type and property sets on a wall, and Speckle meshes in its displayValue', async () => {
    const r = await importFile({ path: `${IFC}duplex.ifc` })
    const wall = all(r.root).find((e) => e.name === 'Basic Wall:Exterior - Brick on Block:138062')!
    expect(wall.applicationId).toMatch(/^[0-9A-Za-z_$]{22}$/)
    expect(wall.globalId).toBe(wall.applicationId)
    expect(typeof wall.name).toBe('string')
    const psets = wall.properties as Record<string, Record<string, unknown>>
    expect(psets.Pset_WallCommon).toMatchObject({ LoadBearing: false, IsExternal: true })
    expect(psets.PSet_Revit_Constraints).toMatchObject({ 'Base Constraint': 'Level 1' })
    // Revit 2011 writes no wall types; its furniture has IfcRelDefinesByType types.
    const sofa = all(r.root).find((e) => e.name === 'M_Sofa:1830mm:1830mm:168377')!
    expect(sofa.type).toBe('1830mm')
    const mesh = (wall['@displayValue'] as Base[])[0]!
    expect(mesh.speckle_type).toBe('Objects.Geometry.Mesh')
    expect(mesh.units).toBe('m')
    const faces = mesh.faces as number[]
    const vertices = mesh.vertices as number[]
    expect(faces[0]).toBe(3)
    expect(Math.max(...faces.filter((_, i) => i % 4 !== 0))).toBeLessThan(vertices.length / 3)
    expect((mesh.renderMaterial as Base).speckle_type).toBe('Objects.Other.RenderMaterial')
  })

  it('writes geometry Z-up: slabs of a storey sit near its elevation', async () => {
    const r = await importFile({ path: `${IFC}duplex.ifc` })
    const level2 = all(r.root).find((e) => e.name === 'Level 2' && e.ifcType === 'IFCBUILDINGSTOREY')!
    const slab = all(level2).find((e) => e.ifcType === 'IFCSLAB' && e['@displayValue'])!
    const v = ((slab['@displayValue'] as Base[])[0]!.vertices as number[]).filter((_, i) => i % 3 === 2)
    expect(Math.max(...v)).toBeGreaterThan(2.5)
    expect(Math.min(...v)).toBeLessThan(3.7)
  })

  it('imports duplex (IFC2X3) with its classes, storeys and metres', async () => {
    const r = await importFile({ path: `${IFC}duplex.ifc` })
    expect(r.root.units).toBe('m')
    expect(countByClass(r)).toMatchObject({
      IFCBUILDINGSTOREY: 4,
      IFCWALL: 1,
      IFCWALLSTANDARDCASE: 56,
      IFCSLAB: 21,
      IFCWINDOW: 24,
      IFCDOOR: 14,
    })
    expect(storeys(r)).toEqual([
      ['T/FDN', -1.25],
      ['Level 1', 0],
      ['Level 2', 3.1],
      ['Roof', 6],
    ])
    expect(r.stats.triangles).toBe(26774)
    expect(all(r.root).filter((e) => e['@displayValue'])).toHaveLength(215)
  })

  it('imports AC20-FZK-Haus (IFC4) with its storeys, classes and property sets', async () => {
    const r = await importFile({ path: `${IFC}AC20-FZK-Haus.ifc` })
    expect(r.root.ifcSchema).toBe('IFC4')
    expect(countByClass(r)).toMatchObject({
      IFCBUILDINGSTOREY: 2,
      IFCWALLSTANDARDCASE: 13,
      IFCSLAB: 4,
      IFCWINDOW: 11,
      IFCDOOR: 5,
      IFCSPACE: 7,
    })
    expect(storeys(r).map((s) => s[0])).toEqual(['Erdgeschoss', 'Dachgeschoss'])
    expect(r.stats.triangles).toBe(21722)
    expect(all(r.root).filter((e) => e['@displayValue'])).toHaveLength(83)
    const wall = all(r.root).find((e) => e.ifcType === 'IFCWALLSTANDARDCASE')!
    expect(Object.keys(wall.properties as object).length).toBeGreaterThan(0)
  })

  it('imports IfcOpenHouse (IFC4) whose one storey has no name', async () => {
    const r = await importFile({ path: `${IFC}IfcOpenHouse_IFC4.ifc` })
    expect(countByClass(r)).toMatchObject({ IFCBUILDINGSTOREY: 1, IFCWALLSTANDARDCASE: 4, IFCWINDOW: 5, IFCDOOR: 1 })
    expect(storeys(r)).toEqual([[null, null]])
    expect(r.stats.triangles).toBe(1098)
    expect(all(r.root).filter((e) => e['@displayValue'])).toHaveLength(35)
  })

  it('reads the length unit from the IfcUnitAssignment (example.ifc is in millimetres)', async () => {
    const r = await importFile({ path: `${IFC}example.ifc` })
    expect(r.root.units).toBe('mm')
    const mesh = all(r.root).flatMap((e) => (e['@displayValue'] as Base[] | undefined) ?? [])[0]!
    expect(mesh.units).toBe('mm')
    expect(storeys(r)).toEqual([
      ['Level 1', 0],
      ['Level 2', 3140],
    ])
  })

  it('still imports AC14-FZK-Haus, whose BREPs web-ifc partly fails to triangulate', async () => {
    const r = await importFile({ path: `${IFC}AC14-FZK-Haus.ifc` })
    expect(storeys(r).map((s) => s[0])).toEqual(['0. Erdgeschoss', '1. Dachgeschoss'])
    expect(countByClass(r)).toMatchObject({ IFCWALLSTANDARDCASE: 13, IFCSLAB: 4, IFCWINDOW: 11, IFCDOOR: 5 })
    expect(r.stats.triangles).toBe(35792)
  })

  it('reads the same file from bytes as from a path, and the tree serializes', async () => {
    const bytes = await readFile(`${IFC}IfcOpenHouse_IFC4.ifc`)
    const r = await importFile({ bytes, fileName: 'house.ifc' })
    expect(r.root.name).toBe('house.ifc')
    const { rootId, objects } = serialize(r.root)
    expect(rootId).toMatch(/^[0-9a-f]{32}$/)
    const types = new Set(objects.map(([, json]) => (JSON.parse(json) as { speckle_type: string }).speckle_type))
    expect(types).toContain('Objects.Geometry.Mesh')
    expect(types).toContain('Speckle.Core.Models.Collection')
    expect(types).toContain('Base')
  })
})
