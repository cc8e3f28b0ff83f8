/**
 * The GraphQL schema: the subset of Speckle 2.24's schema its clients use, with Speckle's names and shapes
 * (WIRE-GRAPHQL.md). Current API (project/model/version), the legacy stream/branch/commit API over the same
 * records, and the subscription types the realtime transport serves.
 */
export const typeDefs = /* GraphQL */ `
  scalar DateTime
  scalar JSONObject
  scalar BigInt

  type Query {
    serverInfo: ServerInfo!
    activeUser: User
    otherUser(id: String!): LimitedUser
    project(id: String!): Project!
    stream(id: String!): Stream
    streams(query: String, limit: Int = 25, cursor: String): UserStreamCollection
    projectInvite(projectId: String!, token: String): PendingStreamCollaborator
    streamInvite(streamId: String!, token: String): PendingStreamCollaborator
    streamInvites: [PendingStreamCollaborator!]!
    authenticatedAsApp: ServerAppListItem
  }

  type ServerInfo {
    name: String!
    company: String
    description: String
    adminContact: String
    canonicalUrl: String
    termsOfService: String
    inviteOnly: Boolean
    guestModeEnabled: Boolean!
    version: String
    scopes: [Scope!]!
    serverRoles: [ServerRoleItem!]!
    authStrategies: [AuthStrategy!]!
    configuration: ServerConfiguration!
    migration: ServerMigration
    automateUrl: String
    workspaces: ServerWorkspacesInfo!
  }
  type ServerWorkspacesInfo {
    workspacesEnabled: Boolean!
  }
  type Scope {
    name: String!
    description: String!
  }
  type ServerRoleItem {
    id: String!
    title: String!
  }
  type AuthStrategy {
    id: String!
    name: String!
    icon: String!
    url: String!
    color: String
  }
  type ServerConfiguration {
    objectSizeLimitBytes: Int!
    objectMultipartUploadSizeLimitBytes: Int!
    blobSizeLimitBytes: Int!
    isEmailEnabled: Boolean!
  }
  type ServerMigration {
    movedFrom: String
    movedTo: String
  }

  type User {
    id: ID!
    name: String!
    email: String
    company: String
    avatar: String
    bio: String
    role: String
    verified: Boolean
    createdAt: DateTime
    projects(limit: Int! = 25, cursor: String, filter: UserProjectsFilter, sortBy: [String!]): UserProjectCollection!
    streams(limit: Int! = 25, cursor: String): UserStreamCollection!
    apiTokens: [ApiToken!]!
    projectInvites: [PendingStreamCollaborator!]!
    activity(
      actionType: String
      after: DateTime
      before: DateTime
      cursor: DateTime
      limit: Int! = 25
    ): ActivityCollection
    authorizedApps: [ServerAppListItem!]
    createdApps: [ServerApp!]
  }
  type LimitedUser {
    id: ID!
    name: String!
    company: String
    avatar: String
    bio: String
    verified: Boolean
    role: String
  }
  input UserProjectsFilter {
    search: String
    onlyWithRoles: [String!]
    workspaceId: ID
    personalOnly: Boolean
    includeImplicitAccess: Boolean
  }
  type UserProjectCollection {
    totalCount: Int!
    cursor: String
    items: [Project!]!
    numberOfHidden: Int!
  }

  enum ProjectVisibility {
    PRIVATE
    PUBLIC
    UNLISTED
  }
  enum SimpleProjectVisibility {
    PRIVATE
    UNLISTED
  }

  type Project {
    id: ID!
    name: String!
    description: String
    visibility: SimpleProjectVisibility!
    role: String
    createdAt: DateTime!
    updatedAt: DateTime!
    allowPublicComments: Boolean!
    sourceApps: [String!]!
    workspaceId: String
    team: [ProjectCollaborator!]!
    invitedTeam: [PendingStreamCollaborator!]
    models(cursor: String, limit: Int! = 25, filter: ProjectModelsFilter): ModelCollection!
    modelsTree(cursor: String, limit: Int! = 25, filter: ProjectModelsTreeFilter): ModelsTreeItemCollection!
    modelChildrenTree(fullName: String!): [ModelsTreeItem!]!
    model(id: String!): Model!
    modelByName(name: String!): Model!
    versions(limit: Int! = 25, cursor: String): VersionCollection!
    version(id: String!): Version!
    object(id: String!): Object
  }
  type ProjectCollaborator {
    id: ID!
    role: String!
    user: LimitedUser!
  }
  input ProjectModelsTreeFilter {
    search: String
    sourceApps: [String!]
    contributors: [String!]
  }
  type ModelsTreeItem {
    id: ID!
    name: String!
    fullName: String!
    model: Model
    hasChildren: Boolean!
    children: [ModelsTreeItem!]!
    updatedAt: DateTime!
  }
  type ModelsTreeItemCollection {
    totalCount: Int!
    cursor: String
    items: [ModelsTreeItem!]!
  }
  input ProjectModelsFilter {
    search: String
    sourceApps: [String!]
    contributors: [String!]
    onlyWithVersions: Boolean
    ids: [String!]
    excludeIds: [String!]
  }

  type Model {
    id: ID!
    name: String!
    displayName: String!
    description: String
    createdAt: DateTime!
    updatedAt: DateTime!
    previewUrl: String
    author: LimitedUser
    versionCount: Int!
    versions(limit: Int! = 25, cursor: String, filter: ModelVersionsFilter): VersionCollection!
    version(id: String!): Version!
    childrenTree: [ModelsTreeItem!]!
    projectId: String!
  }
  input ModelVersionsFilter {
    priorityIds: [String!]
    priorityIdsOnly: Boolean
  }
  type ModelCollection {
    totalCount: Int!
    cursor: String
    items: [Model!]!
  }

  type Version {
    id: ID!
    referencedObject: String!
    message: String
    sourceApplication: String
    totalChildrenCount: Int
    parents: [String]
    createdAt: DateTime!
    previewUrl: String!
    authorUser: LimitedUser
    model: Model!
  }
  type VersionCollection {
    totalCount: Int!
    cursor: String
    items: [Version!]!
  }

  type Object {
    id: String!
    speckleType: String
    applicationId: String @deprecated(reason: "Not implemented.")
    createdAt: DateTime
    totalChildrenCount: Int
    data: JSONObject
    children(
      limit: Int! = 100
      depth: Int! = 50
      select: [String]
      cursor: String
      query: [JSONObject!]
      orderBy: JSONObject
    ): ObjectCollection!
  }
  type ObjectCollection {
    totalCount: Int!
    cursor: String
    objects: [Object!]!
  }
  input ObjectCreateInput {
    streamId: String!
    objects: [JSONObject]!
  }

  type Mutation {
    projectMutations: ProjectMutations!
    modelMutations: ModelMutations!
    versionMutations: VersionMutations!
    apiTokenCreate(token: ApiTokenCreateInput!): String!
    apiTokenRevoke(token: String!): Boolean!
    appTokenCreate(token: AppTokenCreateInput!): String!
    activeUserMutations: ActiveUserMutations!
    serverInfoUpdate(info: ServerInfoUpdateInput!): Boolean
    userRoleChange(userRoleInput: UserRoleInput!): Boolean!
    serverInviteCreate(input: ServerInviteCreateInput!): Boolean!
    serverInviteBatchCreate(input: [ServerInviteCreateInput!]!): Boolean!
    streamInviteCreate(input: StreamInviteCreateInput!): Boolean!
    streamInviteUse(accept: Boolean!, streamId: String!, token: String!): Boolean!
    streamInviteCancel(streamId: String!, inviteId: String!): Boolean!
    streamCreate(stream: StreamCreateInput!): String
    streamUpdate(stream: StreamUpdateInput!): Boolean!
    streamDelete(id: String!): Boolean!
    streamsDelete(ids: [String!]): Boolean!
    streamUpdatePermission(permissionParams: StreamUpdatePermissionInput!): Boolean
    streamRevokePermission(permissionParams: StreamRevokePermissionInput!): Boolean
    branchCreate(branch: BranchCreateInput!): String!
    branchUpdate(branch: BranchUpdateInput!): Boolean!
    branchDelete(branch: BranchDeleteInput!): Boolean!
    commitCreate(commit: CommitCreateInput!): String!
    commitUpdate(commit: CommitUpdateInput!): Boolean!
    commitReceive(input: CommitReceivedInput!): Boolean!
    commitDelete(commit: CommitDeleteInput!): Boolean
    commitsMove(input: CommitsMoveInput!): Boolean!
    commitsDelete(input: CommitsDeleteInput!): Boolean!
    objectCreate(objectInput: ObjectCreateInput!): [String!]!
  }

  type ActiveUserMutations {
    update(user: UserUpdateInput!): User!
  }
  input UserRoleInput {
    id: String!
    role: String!
  }
  input UserUpdateInput {
    name: String
    company: String
    bio: String
    avatar: String
  }
  input ServerInfoUpdateInput {
    name: String!
    company: String
    description: String
    adminContact: String
    termsOfService: String
    inviteOnly: Boolean
    guestModeEnabled: Boolean
  }

  type ProjectMutations {
    create(input: ProjectCreateInput): Project!
    update(update: ProjectUpdateInput!): Project!
    delete(id: String!): Boolean!
    updateRole(input: ProjectUpdateRoleInput!): Project!
    leave(id: String!): Boolean!
    batchDelete(ids: [String!]!): Boolean!
    invites: ProjectInviteMutations!
  }
  type ProjectInviteMutations {
    create(projectId: ID!, input: ProjectInviteCreateInput!): Project!
    batchCreate(projectId: ID!, input: [ProjectInviteCreateInput!]!): Project!
    use(input: ProjectInviteUseInput!): Boolean!
    cancel(projectId: ID!, inviteId: String!): Project!
  }
  input ProjectInviteCreateInput {
    email: String
    userId: String
    role: String
    serverRole: String
  }
  input ProjectInviteUseInput {
    projectId: ID!
    token: String!
    accept: Boolean!
  }
  type PendingStreamCollaborator {
    id: String!
    inviteId: String!
    projectId: String!
    projectName: String!
    streamId: String!
    streamName: String!
    title: String!
    role: String!
    invitedBy: LimitedUser!
    user: LimitedUser
    token: String
  }
  input StreamInviteCreateInput {
    email: String
    userId: String
    streamId: String!
    message: String
    role: String
    serverRole: String
  }
  input ServerInviteCreateInput {
    email: String!
    message: String
    serverRole: String
  }
  type ActivityCollection {
    totalCount: Int!
    cursor: String
    items: [Activity!]!
  }
  type Activity {
    id: ID!
    actionType: String!
    info: JSONObject!
    userId: String!
    streamId: String
    resourceId: String!
    resourceType: String!
    time: DateTime!
    message: String!
  }
  input ProjectCreateInput {
    name: String
    description: String
    visibility: ProjectVisibility
    workspaceId: String
  }
  input ProjectUpdateInput {
    id: ID!
    name: String
    description: String
    visibility: ProjectVisibility
    allowPublicComments: Boolean
  }
  input ProjectUpdateRoleInput {
    projectId: String!
    userId: String!
    role: String
  }

  type ModelMutations {
    create(input: CreateModelInput!): Model!
    update(input: UpdateModelInput!): Model!
    delete(input: DeleteModelInput!): Boolean!
  }
  input CreateModelInput {
    projectId: ID!
    name: String!
    description: String
  }
  input UpdateModelInput {
    projectId: ID!
    id: ID!
    name: String
    description: String
  }
  input DeleteModelInput {
    projectId: ID!
    id: ID!
  }

  type VersionMutations {
    create(input: CreateVersionInput!): Version!
    update(input: UpdateVersionInput!): Version!
    delete(input: DeleteVersionsInput!): Boolean!
    moveToModel(input: MoveVersionsInput!): Model!
    markReceived(input: MarkReceivedVersionInput!): Boolean!
  }
  input CreateVersionInput {
    projectId: String!
    modelId: String!
    objectId: String!
    message: String
    sourceApplication: String
    totalChildrenCount: Int
    parents: [String!]
  }
  input UpdateVersionInput {
    projectId: ID!
    versionId: ID!
    message: String
  }
  input DeleteVersionsInput {
    projectId: ID!
    versionIds: [ID!]!
  }
  input MoveVersionsInput {
    projectId: ID!
    versionIds: [ID!]!
    targetModelName: String!
  }
  input MarkReceivedVersionInput {
    projectId: String!
    versionId: String!
    sourceApplication: String!
    message: String
  }
  input ApiTokenCreateInput {
    scopes: [String!]!
    name: String!
    lifespan: BigInt
  }
  enum TokenResourceIdentifierType {
    project
    workspace
  }
  input TokenResourceIdentifierInput {
    id: String!
    type: TokenResourceIdentifierType!
  }
  input AppTokenCreateInput {
    scopes: [String!]!
    name: String!
    lifespan: BigInt
    limitResources: [TokenResourceIdentifierInput!]
  }
  type ApiToken {
    id: String!
    name: String!
    lastChars: String!
    scopes: [String]!
    createdAt: DateTime!
    lifespan: BigInt!
    lastUsed: DateTime!
  }
  type ServerApp {
    id: String!
    secret: String
    name: String!
    description: String
    termsAndConditionsLink: String
    logo: String
    public: Boolean
    trustByDefault: Boolean
    author: AppAuthor
    createdAt: DateTime!
    redirectUrl: String!
    scopes: [Scope!]!
  }
  type ServerAppListItem {
    id: String!
    name: String!
    description: String
    redirectUrl: String!
    termsAndConditionsLink: String
    trustByDefault: Boolean
    logo: String
    author: AppAuthor
  }
  type AppAuthor {
    name: String!
    id: String!
    avatar: String
  }

  type Stream {
    id: String!
    name: String!
    description: String
    isPublic: Boolean!
    isDiscoverable: Boolean!
    allowPublicComments: Boolean!
    role: String
    createdAt: DateTime!
    updatedAt: DateTime!
    collaborators: [StreamCollaborator!]!
    size: String
    favoritesCount: Int!
    commentCount: Int!
    branches(limit: Int! = 25, cursor: String): BranchCollection
    branch(name: String = "main"): Branch
    commits(limit: Int! = 25, cursor: String): CommitCollection
    commit(id: String): Commit
    object(id: String!): Object
    pendingCollaborators: [PendingStreamCollaborator!]
    activity(
      actionType: String
      after: DateTime
      before: DateTime
      cursor: DateTime
      limit: Int! = 25
    ): ActivityCollection
  }
  type StreamCollaborator {
    id: String!
    name: String!
    role: String!
    company: String
    avatar: String
  }
  type Branch {
    id: String!
    name: String!
    description: String
    author: LimitedUser
    createdAt: DateTime
    commits(limit: Int! = 25, cursor: String): CommitCollection
  }
  type BranchCollection {
    totalCount: Int!
    cursor: String
    items: [Branch!]
  }
  type Commit {
    id: String!
    referencedObject: String!
    message: String
    sourceApplication: String
    totalChildrenCount: Int
    branchName: String
    parents: [String]
    authorId: String
    authorName: String
    authorAvatar: String
    createdAt: DateTime
    streamId: String
    streamName: String
  }
  type CommitCollection {
    totalCount: Int!
    cursor: String
    items: [Commit!]
  }
  type UserStreamCollection {
    totalCount: Int!
    cursor: String
    items: [Stream!]
    numberOfHidden: Int!
  }
  input StreamCreateInput {
    name: String
    description: String
    isPublic: Boolean
    isDiscoverable: Boolean
    withContributors: [String!]
  }
  input StreamUpdateInput {
    id: String!
    name: String
    description: String
    isPublic: Boolean
    isDiscoverable: Boolean
    allowPublicComments: Boolean
  }
  input StreamUpdatePermissionInput {
    streamId: String!
    userId: String!
    role: String!
  }
  input StreamRevokePermissionInput {
    streamId: String!
    userId: String!
  }
  input BranchCreateInput {
    streamId: String!
    name: String!
    description: String
  }
  input BranchUpdateInput {
    streamId: String!
    id: String!
    name: String
    description: String
  }
  input BranchDeleteInput {
    streamId: String!
    id: String!
  }
  input CommitCreateInput {
    streamId: String!
    branchName: String!
    objectId: String!
    message: String
    sourceApplication: String = "unknown"
    totalChildrenCount: Int
    parents: [String]
  }
  input CommitUpdateInput {
    streamId: String!
    id: String!
    message: String
    newBranchName: String
  }
  input CommitReceivedInput {
    streamId: String!
    commitId: String!
    sourceApplication: String!
    message: String
  }
  input CommitDeleteInput {
    streamId: String!
    id: String!
  }
  input CommitsMoveInput {
    streamId: ID!
    targetBranch: String!
    commitIds: [String!]!
  }
  input CommitsDeleteInput {
    streamId: ID!
    commitIds: [String!]!
  }

  type Subscription {
    projectVersionsUpdated(id: String!): ProjectVersionsUpdatedMessage!
    projectModelsUpdated(id: String!, modelIds: [String!]): ProjectModelsUpdatedMessage!
    projectUpdated(id: String!): ProjectUpdatedMessage!
    userProjectsUpdated: UserProjectsUpdatedMessage!
    commitCreated(streamId: String!): JSONObject
    commitUpdated(streamId: String!, commitId: String): JSONObject
    commitDeleted(streamId: String!): JSONObject
    branchCreated(streamId: String!): JSONObject
    branchUpdated(streamId: String!, branchId: String): JSONObject
    branchDeleted(streamId: String!): JSONObject
    streamUpdated(streamId: String): JSONObject
    streamDeleted(streamId: String): JSONObject
    userStreamAdded: JSONObject
    userStreamRemoved: JSONObject
  }
  enum ProjectVersionsUpdatedMessageType {
    CREATED
    UPDATED
    DELETED
  }
  type ProjectVersionsUpdatedMessage {
    id: String!
    type: ProjectVersionsUpdatedMessageType!
    modelId: String!
    version: Version
  }
  enum ProjectModelsUpdatedMessageType {
    CREATED
    UPDATED
    DELETED
  }
  type ProjectModelsUpdatedMessage {
    id: String!
    type: ProjectModelsUpdatedMessageType!
    model: Model
  }
  enum ProjectUpdatedMessageType {
    UPDATED
    DELETED
  }
  type ProjectUpdatedMessage {
    id: String!
    type: ProjectUpdatedMessageType!
    project: Project
  }
  enum UserProjectsUpdatedMessageType {
    ADDED
    REMOVED
  }
  type UserProjectsUpdatedMessage {
    id: String!
    type: UserProjectsUpdatedMessageType!
    project: Project
  }
`
