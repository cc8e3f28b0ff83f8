/**
 * `POST /graphql` (JSON `{ query, variables, operationName }`) and a plain GraphiQL-free help page at
 * `GET /graphql` in development. Speckle's answers: resolver errors with HTTP 200 and
 * `errors[].extensions.code` (+ `statusCode`, `scope`); syntax, validation and variable errors with 400.
 * The caller is `request.principal`, set by the auth plugin registered before this one.
 */
import type { FastifyPluginAsync } from 'fastify'
import { execute, GraphQLError, type ExecutionResult, type GraphQLFormattedError, type GraphQLSchema } from 'graphql'
import { toDomainError } from '../../errors.js'
import type { Principal } from '../../principal.js'
import { createGraphqlContext, type GraphqlDeps } from './context.js'
import { documentCacheOf, type PreparedDocument } from './document-cache.js'
import { checkLimits, DEFAULT_LIMITS, type QueryLimits } from './limits.js'
import { createServerSchema } from '../../graphql-schema.js'

export interface GraphqlRoutesOptions extends GraphqlDeps {
  /** Defaults to the server's schema (`createServerSchema()`: the core and every module's slice). */
  schema?: GraphQLSchema
  limits?: QueryLimits
  /** Serve the help page at `GET /graphql` (development). */
  devPage?: boolean
}

interface Logger {
  info(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
}

/** One GraphQL error in Speckle's shape; domain errors carry their code, status and missing scope. */
export function formatError(error: GraphQLError, logger: Logger): GraphQLFormattedError {
  const original = error.originalError
  if (original === undefined || original instanceof GraphQLError) {
    return { ...error.toJSON(), extensions: { code: 'BAD_USER_INPUT', ...error.extensions } }
  }
  const domain = toDomainError(original)
  const extensions: Record<string, unknown> = { code: domain.graphqlCode, statusCode: domain.statusCode }
  if ('scope' in domain && typeof domain.scope === 'string') extensions.scope = domain.scope
  // Where in the input the fault is (a query filter's character offset).
  if ('position' in domain && typeof domain.position === 'number') extensions.position = domain.position
  if (domain.statusCode >= 500) logger.error({ err: original, path: error.path }, 'GraphQL resolver failed')
  else logger.info({ code: domain.graphqlCode, path: error.path }, domain.message)
  return {
    message: domain.statusCode >= 500 ? 'Internal server error' : domain.message,
    locations: error.locations,
    path: error.path,
    extensions,
  }
}

function badRequest(message: string, code: string): { errors: GraphQLFormattedError[] } {
  return { errors: [{ message, extensions: { code } }] }
}

/** Run one operation for a principal: the HTTP route and tests share it. */
export async function runGraphql(
  schema: GraphQLSchema,
  deps: GraphqlDeps,
  principal: Principal | null,
  body: unknown,
  logger: Logger,
  limits: QueryLimits = DEFAULT_LIMITS,
): Promise<{ statusCode: number; payload: unknown }> {
  const { query, variables, operationName } = (typeof body === 'object' && body !== null ? body : {}) as Record<
    string,
    unknown
  >
  if (typeof query !== 'string' || query.trim() === '') {
    return { statusCode: 400, payload: badRequest('POST body must contain a query', 'BAD_REQUEST') }
  }
  if (variables !== undefined && variables !== null && (typeof variables !== 'object' || Array.isArray(variables))) {
    return { statusCode: 400, payload: badRequest('variables must be an object', 'BAD_USER_INPUT') }
  }
  const vars = (variables ?? {}) as Record<string, unknown>
  let prepared: PreparedDocument
  try {
    prepared = documentCacheOf(schema).prepare(query)
  } catch (err) {
    const e = err as GraphQLError
    return { statusCode: 400, payload: { errors: [{ ...e.toJSON(), extensions: { code: 'GRAPHQL_PARSE_FAILED' } }] } }
  }
  const { document, errors: invalid } = prepared
  if (invalid.length > 0) {
    return {
      statusCode: 400,
      payload: { errors: invalid.map((e) => ({ ...e.toJSON(), extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } })) },
    }
  }
  const tooMuch = checkLimits(document, typeof operationName === 'string' ? operationName : null, vars, limits)
  if (tooMuch) return { statusCode: 400, payload: { errors: [tooMuch.toJSON()] } }
  const result = (await execute({
    schema,
    document,
    variableValues: vars,
    operationName: typeof operationName === 'string' ? operationName : undefined,
    contextValue: createGraphqlContext(deps, principal),
  })) as ExecutionResult
  // No data at all: the request itself was wrong (bad variables, unknown operation).
  if (result.data === undefined) {
    return {
      statusCode: 400,
      payload: {
        errors: (result.errors ?? []).map((e) => ({ ...e.toJSON(), extensions: { code: 'BAD_USER_INPUT' } })),
      },
    }
  }
  return {
    statusCode: 200,
    payload: result.errors ? { data: result.data, errors: result.errors.map((e) => formatError(e, logger)) } : result,
  }
}

const DEV_PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>Truss GraphQL</title></head>
<body><h1>Truss GraphQL</h1><p>POST JSON <code>{"query": "...", "variables": {...}}</code> to <code>/graphql</code>
with <code>Authorization: Bearer &lt;token&gt;</code>.</p>
<textarea id="q" rows="12" cols="80">{ serverInfo { name version } activeUser { id name } }</textarea><br>
<input id="t" placeholder="token (optional)" size="50"> <button id="run">Run</button><pre id="out"></pre>
<script>
document.getElementById('run').onclick = async () => {
  const token = document.getElementById('t').value
  const res = await fetch('/graphql', { method: 'POST', headers: Object.assign({ 'content-type': 'application/json' },
    token ? { authorization: 'Bearer ' + token } : {}), body: JSON.stringify({ query: document.getElementById('q').value }) })
  document.getElementById('out').textContent = JSON.stringify(await res.json(), null, 2)
}
</script></body></html>`

export const graphqlRoutes: FastifyPluginAsync<GraphqlRoutesOptions> = async (app, options) => {
  const { schema: given, limits = DEFAULT_LIMITS, devPage = false, ...deps } = options
  const schema = given ?? createServerSchema()
  app.post('/graphql', async (request, reply) => {
    const { statusCode, payload } = await runGraphql(schema, deps, request.principal, request.body, request.log, limits)
    return reply.code(statusCode).send(payload)
  })
  if (devPage) app.get('/graphql', async (_request, reply) => reply.type('text/html').send(DEV_PAGE))
}
