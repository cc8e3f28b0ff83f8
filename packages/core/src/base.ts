/**
 * The object model: `Base` and the registry of typed subclasses keyed by `speckle_type`.
 *
 * A Base carries typed fields plus any dynamic property (`base['@rooms'] = [...]`). Property names
 * starting with `@` are detached when serialized; `@(N)name` also splits an array into DataChunks of N.
 * Subclasses declare their Speckle type with `static speckleType` and may mark typed properties as
 * detachable or chunkable, as Speckle's typed SDK classes do.
 */

export type Units = 'mm' | 'cm' | 'm' | 'km' | 'in' | 'ft' | 'yd' | 'mi' | 'none' | (string & {})

export interface BaseClass {
  new (props?: Record<string, unknown>): Base
  readonly speckleType: string
  /** Typed properties detached without an `@` in their name. */
  readonly detachable?: readonly string[]
  /** Typed properties split into DataChunks of the given size (always detached). */
  readonly chunkable?: Readonly<Record<string, number>>
}

export class Base {
  static readonly speckleType: string = 'Base'
  static readonly detachable?: readonly string[]
  static readonly chunkable?: Readonly<Record<string, number>>

  declare speckle_type: string
  declare id?: string
  declare applicationId?: string | null
  declare units?: Units | null
  declare totalChildrenCount?: number;
  [key: string]: unknown

  constructor(props?: Record<string, unknown>) {
    this.speckle_type = (new.target as unknown as BaseClass).speckleType
    if (props) Object.assign(this, props)
  }

  /** Names of the dynamic and typed properties that serialize (no `id`, no `_`-prefixed names). */
  getMemberNames(): string[] {
    return Object.keys(this).filter((k) => !isSkippedKey(k))
  }
}

/** `id` and names starting with `_` never serialize as properties (WIRE.md). */
export function isSkippedKey(key: string): boolean {
  return key === 'id' || key.charCodeAt(0) === 95 /* _ */ || key === 'totalChildrenCount'
}

const registry = new Map<string, BaseClass>()

/** Register a typed class so deserialization rebuilds it. Later registrations of a type win. */
export function registerType(cls: BaseClass): void {
  registry.set(cls.speckleType, cls)
}

/**
 * The class for a speckle_type string. Speckle writes inheritance chains joined by `:`
 * (`Objects.BuiltElements.Wall:Objects.BuiltElements.Revit.RevitWall`): the most specific known wins.
 */
export function typeFor(speckleType: string): BaseClass | undefined {
  const exact = registry.get(speckleType)
  if (exact) return exact
  if (speckleType.includes(':')) {
    const chain = speckleType.split(':')
    for (let i = chain.length - 1; i >= 0; i--) {
      const cls = registry.get(chain[i]!)
      if (cls) return cls
    }
  }
  return undefined
}

export function registeredTypes(): string[] {
  return [...registry.keys()]
}

export function isBase(value: unknown): value is Base {
  return value instanceof Base
}
