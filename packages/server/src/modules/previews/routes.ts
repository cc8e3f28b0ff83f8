/**
 * Speckle's preview routes (WIRE.md, "Previews"): the image of a project's latest version, a model's
 * latest version, a version, or any object, at one of 24 turntable angles. Always `200 image/png`, as
 * speckle-server's `modules/previews` answers: a placeholder for no access ("401"), an unknown project,
 * model or version ("404"), and for an image not rendered yet ("no preview", while a render is asked
 * for). Only the `objects/` route refuses with a bare `403`, as Speckle 2.24 does.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { ModelsService } from '../models/service.js'
import type { ObjectsService } from '../objects/service.js'
import type { AccessDecision } from '../policy/service.js'
import type { ProjectsService } from '../projects/service.js'
import type { VersionsService } from '../versions/service.js'
import { placeholderPng, type PlaceholderKind } from './placeholders.js'
import type { PreviewsService } from './service.js'

export interface PreviewRoutesDeps {
  /** The policy's read decision for this request's caller on the project. */
  authorize(request: FastifyRequest, projectId: string): Promise<AccessDecision>
  /** Tells an unknown project from a private one when the caller is anonymous. */
  projects: Pick<ProjectsService, 'getById'>
  models: Pick<ModelsService, 'getByName'>
  versions: Pick<VersionsService, 'getById' | 'listForProject' | 'listForModel'>
  objects: Pick<ObjectsService, 'diff'>
  previews: Pick<PreviewsService, 'getImage'>
  /** Ask for a render of an object that has no image (the previews service's `requestRender`). */
  requestRender(projectId: string, objectId: string): Promise<void>
}

type Params = { streamId: string; angle?: string; branchName?: string; commitId?: string; objectId?: string }

/** Speckle reads the angle with parseInt; anything else is the default view. */
function angleOf(raw: string | undefined): number {
  const angle = Number.parseInt(raw ?? '', 10)
  return Number.isFinite(angle) && angle >= 0 ? angle : 0
}

export async function registerPreviewRoutes(app: FastifyInstance, deps: PreviewRoutesDeps): Promise<void> {
  const { versions, models, objects, previews } = deps

  function sendPng(reply: FastifyReply, png: Buffer, cache: string): FastifyReply {
    return reply
      .code(200)
      .header('access-control-allow-origin', '*')
      .header('cache-control', cache)
      .type('image/png')
      .send(png)
  }

  const placeholder = (reply: FastifyReply, kind: PlaceholderKind) => sendPng(reply, placeholderPng(kind), 'no-cache')

  /** The placeholder for a refused caller; null when the caller may read the project. */
  async function refusal(request: FastifyRequest, projectId: string): Promise<PlaceholderKind | null> {
    const decision = await deps.authorize(request, projectId)
    if (decision === 'allow') return null
    if (decision === 'not_found') return 'notFound'
    if (decision === 'unauthenticated' && (await deps.projects.getById(projectId)) === null) return 'notFound'
    return 'unauthorized'
  }

  async function sendPreview(
    request: FastifyRequest,
    reply: FastifyReply,
    projectId: string,
    objectId: string,
    angle: number,
    cache: string,
  ): Promise<FastifyReply> {
    const image = await previews.getImage(projectId, objectId, angle)
    if (image.status === 'done') return sendPng(reply, image.png, cache)
    try {
      await deps.requestRender(projectId, objectId)
    } catch (err) {
      // The placeholder still goes out; the next request asks again.
      request.log.warn({ err, projectId, objectId }, 'could not ask for a preview render')
    }
    return placeholder(reply, 'pending')
  }

  app.get<{ Params: Params }>('/preview/:streamId/:angle?', async (request, reply) => {
    const { streamId } = request.params
    const refused = await refusal(request, streamId)
    if (refused !== null) return placeholder(reply, refused)
    const latest = (await versions.listForProject(streamId, { limit: 1 })).items[0]
    if (latest === undefined) return placeholder(reply, 'pending')
    return sendPreview(request, reply, streamId, latest.objectId, angleOf(request.params.angle), 'no-cache')
  })

  app.get<{ Params: Params }>('/preview/:streamId/branches/:branchName/:angle?', async (request, reply) => {
    const { streamId, branchName = '' } = request.params
    const refused = await refusal(request, streamId)
    if (refused !== null) return placeholder(reply, refused)
    const model = await models.getByName(streamId, branchName)
    if (model === null) return placeholder(reply, 'notFound')
    const latest = (await versions.listForModel(model.id, { limit: 1 })).items[0]
    if (latest === undefined) return placeholder(reply, 'pending')
    return sendPreview(request, reply, streamId, latest.objectId, angleOf(request.params.angle), 'no-cache')
  })

  app.get<{ Params: Params }>('/preview/:streamId/commits/:commitId/:angle?', async (request, reply) => {
    const { streamId, commitId = '' } = request.params
    const refused = await refusal(request, streamId)
    if (refused !== null) return placeholder(reply, refused)
    const version = await versions.getById(streamId, commitId)
    if (version === null) return placeholder(reply, 'notFound')
    // A version's image never changes, but access to it may: cached by the browser only, for a while.
    const cache = 'private, max-age=3600'
    return sendPreview(request, reply, streamId, version.objectId, angleOf(request.params.angle), cache)
  })

  app.get<{ Params: Params }>('/preview/:streamId/objects/:objectId/:angle?', async (request, reply) => {
    const { streamId, objectId = '' } = request.params
    if ((await deps.authorize(request, streamId)) !== 'allow') {
      return reply.code(403).header('access-control-allow-origin', '*').send()
    }
    const known = await objects.diff(streamId, [objectId])
    if (known[objectId] !== true) return placeholder(reply, 'notFound')
    return sendPreview(request, reply, streamId, objectId, angleOf(request.params.angle), 'private, max-age=3600')
  })
}
