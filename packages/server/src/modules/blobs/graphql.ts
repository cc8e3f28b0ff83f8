/**
 * The blobs slice: Speckle's `BlobMetadata`, `project.blobs` / `project.blob(id)` and the legacy
 * `stream.blobs` / `stream.blob(id)`. Readers of the project may list its blobs.
 */
import { BadUserInput } from '../../errors.js'
import type { GraphqlContext } from '../graphql/context.js'
import { authorize, int, required, str, type Args } from '../graphql/helpers.js'
import type { ResolverMap } from '../graphql/resolvers.js'
import type { GraphqlSlice } from '../graphql/schema.js'
import type { Blob, BlobsService } from './service.js'

const typeDefs = /* GraphQL */ `
  "A file stored with a project; uploadStatus 0 pending, 1 done, 2 error (Speckle's)."
  type BlobMetadata {
    id: String!
    streamId: String!
    userId: String!
    fileName: String!
    fileType: String!
    fileSize: Int
    fileHash: String
    uploadStatus: Int!
    uploadError: String
    createdAt: DateTime!
  }

  type BlobMetadataCollection {
    totalCount: Int!
    totalSize: Int!
    cursor: String
    items: [BlobMetadata!]
  }

  extend type Project {
    blobs(query: String, limit: Int = 25, cursor: String): BlobMetadataCollection
    blob(id: String!): BlobMetadata
  }

  extend type Stream {
    blobs(query: String, limit: Int = 25, cursor: String): BlobMetadataCollection
      @deprecated(reason: "Part of the old API surface and will be removed in the future. Use Project.blobs instead.")
    blob(id: String!): BlobMetadata
      @deprecated(reason: "Part of the old API surface and will be removed in the future. Use Project.blob instead.")
  }
`

function service(ctx: GraphqlContext): Pick<BlobsService, 'get' | 'list'> {
  const blobs = ctx.deps.blobs
  if (blobs === undefined) throw new BadUserInput('Blobs are not available on this server')
  return blobs
}

async function blobCollection(parent: { id: string }, args: Args, ctx: GraphqlContext) {
  await authorize(ctx, parent.id, 'read')
  return service(ctx).list(parent.id, {
    fileName: str(args.query),
    limit: int(args.limit) ?? 25,
    cursor: str(args.cursor),
  })
}

async function oneBlob(parent: { id: string }, args: Args, ctx: GraphqlContext) {
  await authorize(ctx, parent.id, 'read')
  return service(ctx).get(parent.id, required(args.id, 'id'))
}

function resolvers(): ResolverMap {
  return {
    BlobMetadata: {
      streamId: (b: Blob) => b.projectId,
      userId: (b: Blob) => b.userId ?? '',
    },
    Project: { blobs: blobCollection, blob: oneBlob },
    Stream: { blobs: blobCollection, blob: oneBlob },
  }
}

export function blobsSlice(): GraphqlSlice {
  return { name: 'blobs', typeDefs, resolvers: resolvers() }
}
