/**
 * REST routes of the query module:
 *   POST /api/v1/projects/:projectId/versions/:versionId/query  { filter?, select?, limit?, cursor?, count? }
 *     → { items, cursor, totalCount? }; with `Accept: application/x-ndjson`, every match, one object a line.
 *   POST /api/v1/projects/:projectId/versions/:versionId/diff   { against, kinds?, limit?, cursor? }
 * Bad filters answer 400 `{ error: { code: 'BAD_USER_INPUT', message, position } }`; a query past the time
 * budget 422 `{ error: { code: 'QUERY_TIMEOUT', message } }`.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { z } from 'zod'
import { NotFound } from '../../errors.js'
import type { Version, VersionsService } from '../versions/service.js'
import { FilterSyntaxError } from './filter.js'
import { MAX_QUERY_LIMIT, QueryTimeout, type QueryService } from './service.js'

export interface QueryRoutesOptions {
  query: QueryService
  versions: Pick<VersionsService, 'getById'>
  /** Throws `Unauthenticated`, `Forbidden` or `NotFound` unless the caller may read the project. */
  requireRead: (request: FastifyRequest, projectId: string) => Promise<unknown>
}

const QUERY_BODY = z
  .object({
    filter: z.string().nullish(),
    select: z.array(z.string()).max(100).nullish(),
    limit: z.number().int().min(0).max(MAX_QUERY_LIMIT).nullish(),
    cursor: z.string().nullish(),
    count: z.boolean().nullish(),
  })
  .strict()

const DIFF_BODY = z
  .object({
    against: z.string().min(1),
    kinds: z.array(z.enum(['added', 'removed', 'changed'])).nullish(),
    limit: z.number().int().min(0).max(MAX_QUERY_LIMIT).nullish(),
    cursor: z.string().nullish(),
  })
  .strict()

type Params = { projectId: string; versionId: string }

/** The errors whose answers carry more than the shared mapper's `{ code, message }`. */
async function answered(reply: FastifyReply, err: unknown): Promise<boolean> {
  if (err instanceof FilterSyntaxError) {
    await reply.code(400).send({ error: { code: 'BAD_USER_INPUT', message: err.message, position: err.position } })
    return true
  }
  if (err instanceof QueryTimeout) {
    await reply.code(422).send({ error: { code: 'QUERY_TIMEOUT', message: err.message } })
    return true
  }
  return false
}

export const queryRoutes: FastifyPluginAsync<QueryRoutesOptions> = async (app, { query, versions, requireRead }) => {
  async function versionOf(request: FastifyRequest<{ Params: Params }>): Promise<Version> {
    const { projectId, versionId } = request.params
    await requireRead(request, projectId)
    const version = await versions.getById(projectId, versionId)
    if (version === null) throw new NotFound('version', versionId)
    return version
  }

  app.post<{ Params: Params }>('/api/v1/projects/:projectId/versions/:versionId/query', async (request, reply) => {
    const version = await versionOf(request)
    const body = QUERY_BODY.parse(request.body ?? {})
    const q = {
      projectId: version.projectId,
      rootId: version.objectId,
      filter: body.filter ?? null,
      select: body.select ?? null,
    }
    try {
      if ((request.headers.accept ?? '').includes('application/x-ndjson')) {
        // Pages are read as the client takes them; the first is read before the status is sent, so a bad
        // filter still answers 400.
        const pages = query.stream(q)[Symbol.asyncIterator]()
        const first = await pages.next()
        reply.hijack()
        reply.raw.writeHead(200, { 'content-type': 'application/x-ndjson' })
        const write = (text: string) =>
          reply.raw.write(text) ? Promise.resolve() : new Promise<void>((r) => reply.raw.once('drain', () => r()))
        try {
          for (let next = first; !next.done; next = await pages.next()) {
            await write(next.value.map((o) => `${JSON.stringify(o)}\n`).join(''))
          }
        } catch (err) {
          request.log.error({ err }, 'query stream failed')
          await write(`${JSON.stringify({ error: { message: err instanceof Error ? err.message : 'failed' } })}\n`)
        }
        reply.raw.end()
        return reply
      }
      const page = await query.find({ ...q, limit: body.limit ?? null, cursor: body.cursor ?? null })
      const totalCount = body.count === true ? await query.count(q) : undefined
      return { ...page, ...(totalCount === undefined ? {} : { totalCount }) }
    } catch (err) {
      if (await answered(reply, err)) return reply
      throw err
    }
  })

  app.post<{ Params: Params }>('/api/v1/projects/:projectId/versions/:versionId/diff', async (request, reply) => {
    const version = await versionOf(request)
    const body = DIFF_BODY.parse(request.body ?? {})
    const against = await versions.getById(version.projectId, body.against)
    if (against === null) throw new NotFound('version', body.against)
    try {
      return await query.diff({
        projectId: version.projectId,
        fromRootId: against.objectId,
        toRootId: version.objectId,
        kinds: body.kinds ?? null,
        limit: body.limit ?? null,
        cursor: body.cursor ?? null,
      })
    } catch (err) {
      if (await answered(reply, err)) return reply
      throw err
    }
  })
}
