/** @truss/server: the API node. `startServer(loadConfig(process.env, flags))` runs it. */
export { startServer, handleShutdownSignals, StartupError } from './main.js'
export { startWorker, openJobQueue, type RunningWorker, type StartWorkerOptions } from './worker-main.js'
export {
  WORKER_GROUPS,
  JOB_KINDS,
  isWorkerGroup,
  isJobKind,
  type WorkerGroup,
  type JobKindName,
  type Job,
  type JobQueue,
  type JobStatus,
} from './jobs/index.js'
export type { RunningServer, StartServerOptions, SignalSource } from './main.js'
export { loadConfig, ConfigError, defaultPublicUrl, mbToBytes, LOG_LEVELS } from './config.js'
export type { Config, ConfigFlags, LogLevel, S3Config } from './config.js'
export { buildApp } from './app.js'
export type { AppDeps, TrussApp } from './app.js'
export * from './errors.js'
export { createMetrics } from './modules/metrics/index.js'
export type { Metrics } from './modules/metrics/index.js'
export type { Sql, SqlExecutor, QueryResult } from './adapters/sql/types.js'
export type { BlobStore, BlobInfo } from './adapters/blobs/types.js'
export type { Bus, BusHandler, RateLimitResult } from './adapters/bus/types.js'
export type { Mailer, MailMessage } from './adapters/mail/types.js'
export * from './modules/auth/index.js'
export { createUsersService, normalizeEmail, MIN_PASSWORD_LENGTH } from './modules/users/service.js'
export type { User, UsersService, CreateUserInput } from './modules/users/service.js'
export {
  createTokensService,
  subscribeTokenRevocations,
  TOKEN_LENGTH,
  TOKENS_REVOKED_TOPIC,
} from './modules/tokens/service.js'
export type { CreateAppTokenInput, TokensRevokedMessage } from './modules/tokens/service.js'
export * from './modules/accounts/index.js'
export * from './modules/apps/index.js'
export type { TokensService, TokensServiceOptions, CreateTokenInput } from './modules/tokens/service.js'
export {
  createProjectsService,
  DEFAULT_MODEL_NAME,
  PROJECT_ROLES,
  PROJECT_VISIBILITIES,
} from './modules/projects/service.js'
export type {
  CreateProjectInput,
  Project,
  ProjectAccess,
  ProjectRole,
  ProjectVisibility,
  ProjectsService,
} from './modules/projects/service.js'
export {
  assertAllowed,
  canManageProject,
  canReadProject,
  canWriteProject,
  createPolicy,
  decideProject,
} from './modules/policy/service.js'
export type { AccessDecision, Policy, ProjectAction } from './modules/policy/service.js'
export { createObjectsService, closureIds } from './modules/objects/service.js'
export type { ObjectsService, ObjectRow } from './modules/objects/service.js'
export { objectsRoutes } from './modules/objects/rest.js'
export type { ObjectsRoutesOptions } from './modules/objects/rest.js'
export { createActivityService } from './modules/activity/service.js'
export { createModelsService } from './modules/models/service.js'
export { createVersionsService } from './modules/versions/service.js'
export { graphqlRoutes, createGraphqlSchema, createGraphqlContext } from './modules/graphql/index.js'
export type { GraphqlDeps, GraphqlContext } from './modules/graphql/index.js'
export { attachRealtimeGateway, createRealtimeHub } from './modules/realtime/index.js'
