/**
 * Query cost limits, checked after validation with the variables known: depth (nested selections,
 * fragments expanded) and complexity (each field costs 1, times the page size of the lists above it).
 * Speckle's clients ask at most ~8 levels and a few hundred fields.
 */
import {
  GraphQLError,
  Kind,
  type DocumentNode,
  type FragmentDefinitionNode,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql'

export interface QueryLimits {
  maxDepth: number
  maxComplexity: number
}

export const DEFAULT_LIMITS: QueryLimits = { maxDepth: 15, maxComplexity: 50_000 }

export function checkLimits(
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: Record<string, unknown>,
  limits: QueryLimits = DEFAULT_LIMITS,
): GraphQLError | null {
  const fragments = new Map<string, FragmentDefinitionNode>()
  const operations: OperationDefinitionNode[] = []
  for (const def of document.definitions) {
    if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def)
    if (def.kind === Kind.OPERATION_DEFINITION) operations.push(def)
  }
  const operation = operationName ? operations.find((o) => o.name?.value === operationName) : operations[0]
  if (!operation) return null

  let deepest = 0
  const walk = (set: SelectionSetNode, depth: number, seen: Set<string>): number => {
    deepest = Math.max(deepest, depth)
    if (depth > limits.maxDepth) return Infinity
    let cost = 0
    for (const sel of set.selections) {
      if (sel.kind === Kind.FIELD) {
        let multiplier = 1
        const limit = sel.arguments?.find((a) => a.name.value === 'limit')
        if (limit?.value.kind === Kind.INT) multiplier = Number(limit.value.value)
        if (limit?.value.kind === Kind.VARIABLE) multiplier = Number(variables[limit.value.name.value] ?? 25)
        else if (!limit && sel.selectionSet && sel.name.value === 'items') multiplier = 1
        else if (
          !limit &&
          sel.selectionSet &&
          /^(models|modelsTree|versions|branches|commits|projects|streams|activity)$/.test(sel.name.value)
        ) {
          multiplier = 25
        } else if (
          !limit &&
          sel.selectionSet &&
          sel.name.value === 'children' &&
          sel.selectionSet.selections.some((c) => c.kind === Kind.FIELD && c.name.value === 'objects')
        ) {
          // Object.children (the one answering `objects`) pages 100 by default.
          multiplier = 100
        }
        cost += 1 + (sel.selectionSet ? Math.max(1, multiplier) * walk(sel.selectionSet, depth + 1, seen) : 0)
      } else if (sel.kind === Kind.INLINE_FRAGMENT) {
        cost += walk(sel.selectionSet, depth, seen)
      } else {
        const name = sel.name.value
        const fragment = fragments.get(name)
        if (fragment && !seen.has(name)) cost += walk(fragment.selectionSet, depth, new Set([...seen, name]))
      }
    }
    return cost
  }
  const cost = walk(operation.selectionSet, 0, new Set())
  if (deepest > limits.maxDepth) {
    return new GraphQLError(`Query is too deep: more than ${limits.maxDepth} levels of selections`, {
      extensions: { code: 'GRAPHQL_VALIDATION_FAILED', reason: 'QUERY_TOO_DEEP' },
    })
  }
  if (cost > limits.maxComplexity) {
    return new GraphQLError(`Query is too complex: cost ${cost} exceeds ${limits.maxComplexity}`, {
      extensions: { code: 'GRAPHQL_VALIDATION_FAILED', reason: 'QUERY_TOO_COMPLEX' },
    })
  }
  return null
}
