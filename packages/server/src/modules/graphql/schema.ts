/**
 * `createGraphqlSchema(slices)`: the schema composed from slices (each module's SDL and resolvers, after the
 * shared core below), with the scalars attached (graphql-js, no schema-tools dependency). Composition refuses
 * a type or field that two slices define, naming both.
 */
import {
  buildSchema,
  GraphQLObjectType,
  GraphQLScalarType,
  Kind,
  parse,
  type GraphQLSchema,
  type ValueNode,
} from 'graphql'
import type { ResolverMap } from './resolvers.js'

/** One module's part of the schema: SDL (new types, and `extend type` for shared ones) and its resolvers. */
export interface GraphqlSlice {
  /** The module's name, for errors at start-up. */
  name: string
  typeDefs: string
  resolvers: ResolverMap
}

/**
 * The shared core: the scalars, the root types and the two entities nearly every module adds fields to
 * (`User`, `Project`), declared without fields; each module's slice brings its fields (`extend type`).
 * Speckle's names and shapes are WIRE-GRAPHQL.md's.
 */
const CORE_TYPEDEFS = /* GraphQL */ `
  scalar DateTime
  scalar JSONObject
  scalar BigInt

  type Query
  type Mutation
  type Subscription
  type User
  type Project
`

export function coreSlice(): GraphqlSlice {
  return { name: 'core', typeDefs: CORE_TYPEDEFS, resolvers: {} }
}

/** Throws when two slices define the same type or field (graphql-js would say only "defined once"). */
export function checkSlices(slices: readonly GraphqlSlice[]): void {
  const owners = new Map<string, string>()
  const claim = (key: string, slice: string): void => {
    const other = owners.get(key)
    if (other !== undefined) throw new Error(`GraphQL ${key} is defined by both the ${other} and ${slice} slices`)
    owners.set(key, slice)
  }
  for (const slice of slices) {
    for (const def of parse(slice.typeDefs).definitions) {
      if (!('name' in def) || def.name === undefined) continue
      const typeName = def.name.value
      const isExtension = def.kind.endsWith('Extension')
      if (!isExtension) claim(`type ${typeName}`, slice.name)
      const fields = 'fields' in def ? (def.fields ?? []) : 'values' in def ? (def.values ?? []) : []
      for (const field of fields) claim(`field ${typeName}.${field.name.value}`, slice.name)
    }
  }
}

function literal(node: ValueNode): unknown {
  switch (node.kind) {
    case Kind.STRING:
    case Kind.BOOLEAN:
      return node.value
    case Kind.INT:
    case Kind.FLOAT:
      return Number(node.value)
    case Kind.OBJECT:
      return Object.fromEntries(node.fields.map((f) => [f.name.value, literal(f.value)]))
    case Kind.LIST:
      return node.values.map(literal)
    default:
      return null
  }
}

const SCALARS: Record<string, Partial<GraphQLScalarType>> = {
  DateTime: {
    serialize: (v: unknown) => (v instanceof Date ? v.toISOString() : v),
    parseValue: (v: unknown) => (typeof v === 'string' ? new Date(v) : v),
  },
  JSONObject: {
    serialize: (v: unknown) => v,
    parseValue: (v: unknown) => v,
    parseLiteral: (n: ValueNode) => literal(n),
  },
  BigInt: {
    serialize: (v: unknown) => (typeof v === 'bigint' ? v.toString() : v),
    parseValue: (v: unknown) => v,
    parseLiteral: (n: ValueNode) => literal(n),
  },
}

/** The core slice plus `slices` (modules that own their GraphQL), checked and composed into one schema. */
export function createGraphqlSchema(slices: readonly GraphqlSlice[] = []): GraphQLSchema {
  const all = [coreSlice(), ...slices]
  checkSlices(all)
  const schema = buildSchema(all.map((s) => s.typeDefs).join('\n'))
  for (const [name, impl] of Object.entries(SCALARS)) Object.assign(schema.getType(name) as GraphQLScalarType, impl)
  const resolvedBy = new Map<string, string>()
  for (const slice of all) {
    for (const [typeName, fields] of Object.entries(slice.resolvers)) {
      const type = schema.getType(typeName)
      if (!(type instanceof GraphQLObjectType)) throw new Error(`${slice.name}: resolvers for unknown type ${typeName}`)
      const defined = type.getFields()
      for (const [fieldName, resolver] of Object.entries(fields)) {
        const field = defined[fieldName]
        if (field === undefined) throw new Error(`${slice.name}: resolver for unknown field ${typeName}.${fieldName}`)
        const key = `${typeName}.${fieldName}`
        const other = resolvedBy.get(key)
        if (other !== undefined)
          throw new Error(`GraphQL ${key} is resolved by both the ${other} and ${slice.name} slices`)
        resolvedBy.set(key, slice.name)
        if (typeof resolver === 'function') field.resolve = resolver as never
        else Object.assign(field, resolver)
      }
    }
  }
  return schema
}
