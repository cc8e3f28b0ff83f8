/**
 * Typed classes for common Speckle types, as plain typed shapes. Anything else deserializes as `Base`
 * with its speckle_type string kept.
 */
import { Base, registerType, type Units } from '../base.js'

export class DataChunk extends Base {
  static override readonly speckleType = 'Speckle.Core.Models.DataChunk'
  declare data: unknown[]
}

export class Collection extends Base {
  static override readonly speckleType = 'Speckle.Core.Models.Collection'
  static override readonly detachable = ['elements']
  declare name: string
  declare collectionType?: string
  declare elements: Base[]
}

export class Point extends Base {
  static override readonly speckleType = 'Objects.Geometry.Point'
  declare x: number
  declare y: number
  declare z: number
  constructor(props?: Record<string, unknown> & { x?: number; y?: number; z?: number; units?: Units })
  constructor(x: number, y: number, z?: number, units?: Units)
  constructor(...args: unknown[]) {
    if (typeof args[0] === 'number') {
      super({ x: args[0], y: args[1] as number, z: (args[2] as number | undefined) ?? 0, units: args[3] ?? 'm' })
    } else super(args[0] as Record<string, unknown> | undefined)
  }
}

export class Vector extends Base {
  static override readonly speckleType = 'Objects.Geometry.Vector'
  declare x: number
  declare y: number
  declare z: number
}

export class Interval extends Base {
  static override readonly speckleType = 'Objects.Primitive.Interval'
  declare start: number
  declare end: number
}

export class Line extends Base {
  static override readonly speckleType = 'Objects.Geometry.Line'
  declare start: Point
  declare end: Point
  declare domain?: Interval
}

export class Polyline extends Base {
  static override readonly speckleType = 'Objects.Geometry.Polyline'
  static override readonly chunkable = { value: 31250 }
  /** Flat x,y,z coordinates. */
  declare value: number[]
  declare closed?: boolean
}

export class Mesh extends Base {
  static override readonly speckleType = 'Objects.Geometry.Mesh'
  static override readonly chunkable = { vertices: 31250, faces: 62500, colors: 62500, textureCoordinates: 31250 }
  /** Flat x,y,z coordinates. */
  declare vertices: number[]
  /** Speckle face list: n, i1..in, n, ... (n = 0 means 3, n = 1 means 4 in old data). */
  declare faces: number[]
  declare colors?: number[]
  declare textureCoordinates?: number[]
}

/** Brep carries its display meshes; the B-rep topology itself is kept as dynamic data. */
export class Brep extends Base {
  static override readonly speckleType = 'Objects.Geometry.Brep'
  static override readonly detachable = ['displayValue']
  declare displayValue?: Mesh[]
}

function builtElement(name: string): typeof Base {
  const cls = class extends Base {
    static override readonly speckleType = `Objects.BuiltElements.${name}`
    static override readonly detachable = ['displayValue']
  }
  Object.defineProperty(cls, 'name', { value: name })
  return cls
}

export const Wall = builtElement('Wall')
export const Floor = builtElement('Floor')
export const Roof = builtElement('Roof')
export const Column = builtElement('Column')
export const Beam = builtElement('Beam')
export const Room = builtElement('Room')
export const Level = builtElement('Level')
export const Door = builtElement('Door')
export const Window = builtElement('Window')

for (const cls of [
  Base,
  DataChunk,
  Collection,
  Point,
  Vector,
  Interval,
  Line,
  Polyline,
  Mesh,
  Brep,
  Wall,
  Floor,
  Roof,
  Column,
  Beam,
  Room,
  Level,
  Door,
  Window,
]) {
  registerType(cls)
}
