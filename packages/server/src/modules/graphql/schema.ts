/**
 * `createGraphqlSchema()`: the SDL in typedefs.ts with the resolvers and scalars attached (graphql-js,
 * no schema-tools dependency).
 */
import { buildSchema, GraphQLObjectType, GraphQLScalarType, Kind, type GraphQLSchema, type ValueNode } from 'graphql'
import { createResolvers } from './resolvers.js'
import { typeDefs } from './typedefs.js'

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

export function createGraphqlSchema(): GraphQLSchema {
  const schema = buildSchema(typeDefs)
  for (const [name, impl] of Object.entries(SCALARS)) Object.assign(schema.getType(name) as GraphQLScalarType, impl)
  for (const [typeName, fields] of Object.entries(createResolvers())) {
    const type = schema.getType(typeName)
    if (!(type instanceof GraphQLObjectType)) throw new Error(`resolvers for unknown type ${typeName}`)
    const defined = type.getFields()
    for (const [fieldName, resolver] of Object.entries(fields)) {
      const field = defined[fieldName]
      if (field === undefined) throw new Error(`resolver for unknown field ${typeName}.${fieldName}`)
      if (typeof resolver === 'function') field.resolve = resolver as never
      else Object.assign(field, resolver)
    }
  }
  return schema
}
