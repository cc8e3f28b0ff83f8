/**
 * The file-imports slice: Speckle's `FileUpload`, `stream.fileUploads` / `stream.fileUpload(id)`,
 * `project.pendingImportedModels`, `model.pendingImportedVersions` and the `projectPendingModelsUpdated` /
 * `projectPendingVersionsUpdated` subscriptions (an upload into a model that does not exist yet is a
 * pending model; into an existing one, a pending version). Readers of the project may read them.
 */
import { BadUserInput } from '../../errors.js'
import type { GraphqlContext } from '../graphql/context.js'
import { authorize, int, required, type Args } from '../graphql/helpers.js'
import type { ResolverMap } from '../graphql/resolvers.js'
import type { GraphqlSlice } from '../graphql/schema.js'
import { projectSubscription } from '../graphql/subscriptions.js'
import type { Model } from '../models/service.js'
import type { Project } from '../projects/service.js'
import type { FileImportsService, FileUpload } from './service.js'

const typeDefs = /* GraphQL */ `
  "A file uploaded for import; convertedStatus 0 queued, 1 converting, 2 completed, 3 error (Speckle's)."
  type FileUpload {
    id: String!
    projectId: String!
    streamId: String! @deprecated(reason: "Use projectId")
    modelName: String!
    branchName: String! @deprecated(reason: "Use modelName")
    "The model the file goes into, once it exists."
    model: Model
    modelId: String
    userId: String!
    fileName: String!
    fileType: String!
    fileSize: Int!
    uploadComplete: Boolean!
    uploadDate: DateTime!
    convertedStatus: Int!
    convertedMessage: String
    convertedVersionId: String
    convertedCommitId: String @deprecated(reason: "Use convertedVersionId")
    convertedLastUpdate: DateTime!
  }

  extend type Project {
    "Uploads whose conversion has not succeeded yet, into models that do not exist yet."
    pendingImportedModels(limit: Int = 25): [FileUpload!]!
  }

  extend type Model {
    "Uploads into this model whose conversion has not succeeded yet."
    pendingImportedVersions(limit: Int = 25): [FileUpload!]!
  }

  extend type Stream {
    fileUploads: [FileUpload] @deprecated(reason: "Part of the old API surface and will be removed in the future.")
    fileUpload(id: String!): FileUpload
      @deprecated(reason: "Part of the old API surface and will be removed in the future.")
  }

  enum ProjectPendingModelsUpdatedMessageType {
    CREATED
    UPDATED
  }
  type ProjectPendingModelsUpdatedMessage {
    id: String!
    type: ProjectPendingModelsUpdatedMessageType!
    model: FileUpload!
  }
  enum ProjectPendingVersionsUpdatedMessageType {
    CREATED
    UPDATED
  }
  type ProjectPendingVersionsUpdatedMessage {
    id: String!
    type: ProjectPendingVersionsUpdatedMessageType!
    version: FileUpload!
  }

  extend type Subscription {
    "An upload into a model that does not exist yet was queued, or its conversion moved on."
    projectPendingModelsUpdated(id: String!): ProjectPendingModelsUpdatedMessage!
    "An upload into an existing model was queued, or its conversion moved on."
    projectPendingVersionsUpdated(id: String!): ProjectPendingVersionsUpdatedMessage!
  }
`

function service(ctx: GraphqlContext): FileImportsService {
  const fileImports = ctx.deps.fileImports
  if (fileImports === undefined) throw new BadUserInput('File imports are not available on this server')
  return fileImports
}

const limitOf = (args: Args): number => Math.min(Math.max(int(args.limit) ?? 25, 1), 100)

/** The upload's target model as it exists now (null while it is a pending model). */
const modelOf = (ctx: GraphqlContext, u: FileUpload): Promise<Model | null> =>
  ctx.deps.models.getByName(u.projectId, u.modelName)

/** Shape one upload event for one of the two pending subscriptions; undefined when it is for the other. */
function pendingMessage(kind: 'models' | 'versions') {
  return async (event: { type: string; projectId: string }, _args: Args, ctx: GraphqlContext) => {
    if (event.type !== 'FileUploadUpdated') return undefined
    const e = event as { type: 'FileUploadUpdated'; projectId: string; fileUploadId: string; created: boolean }
    const upload = await service(ctx).get(e.fileUploadId)
    if (upload === null || upload.projectId !== e.projectId) return undefined
    // Speckle's rule: the upload's model existing at upload time makes it a pending version. After a
    // conversion creates the model, later updates of the same upload still go to the pending models.
    const model = await modelOf(ctx, upload)
    const isNewModel = model === null || model.createdAt.getTime() >= upload.uploadDate.getTime()
    if ((kind === 'models') !== isNewModel) return undefined
    const type = e.created ? 'CREATED' : 'UPDATED'
    return kind === 'models'
      ? { projectPendingModelsUpdated: { id: upload.id, type, model: upload } }
      : { projectPendingVersionsUpdated: { id: upload.id, type, version: upload } }
  }
}

function resolvers(): ResolverMap {
  const subscriptions = {
    projectPendingModelsUpdated: projectSubscription('projectPendingModelsUpdated', 'id', pendingMessage('models')),
    projectPendingVersionsUpdated: projectSubscription(
      'projectPendingVersionsUpdated',
      'id',
      pendingMessage('versions'),
    ),
  }
  return {
    FileUpload: {
      streamId: (u: FileUpload) => u.projectId,
      branchName: (u: FileUpload) => u.modelName,
      userId: (u: FileUpload) => u.userId ?? '',
      convertedCommitId: (u: FileUpload) => u.convertedVersionId,
      model: (u: FileUpload, _a: Args, ctx: GraphqlContext) => modelOf(ctx, u),
      modelId: async (u: FileUpload, _a: Args, ctx: GraphqlContext) => (await modelOf(ctx, u))?.id ?? null,
    },
    Project: {
      async pendingImportedModels(p: Project, args: Args, ctx: GraphqlContext) {
        await authorize(ctx, p.id, 'read')
        return service(ctx).pending(p.id, { newModelsOnly: true, limit: limitOf(args) })
      },
    },
    Model: {
      async pendingImportedVersions(m: Model, args: Args, ctx: GraphqlContext) {
        await authorize(ctx, m.projectId, 'read')
        return service(ctx).pending(m.projectId, { modelName: m.name, limit: limitOf(args) })
      },
    },
    Stream: {
      async fileUploads(s: { id: string }, _a: Args, ctx: GraphqlContext) {
        await authorize(ctx, s.id, 'read')
        return service(ctx).listForProject(s.id)
      },
      async fileUpload(s: { id: string }, args: Args, ctx: GraphqlContext) {
        await authorize(ctx, s.id, 'read')
        const upload = await service(ctx).get(required(args.id, 'id'))
        return upload !== null && upload.projectId === s.id ? upload : null
      },
    },
    // The subscription helpers type their payloads; the map's resolver type does not.
    Subscription: subscriptions as unknown as ResolverMap[string],
  }
}

export function fileImportsSlice(): GraphqlSlice {
  return { name: 'fileimports', typeDefs, resolvers: resolvers() }
}
