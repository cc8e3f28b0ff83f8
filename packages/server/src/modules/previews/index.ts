/**
 * The previews module: preview images of versions and objects, as Speckle's `/preview/…` routes serve
 * them. `renderer.ts` renders a tree with @speckle/viewer in one shared headless Chromium; `job.ts` is the
 * `preview.render` job that renders and stores; `service.ts` asks for renders (on version creation, as an
 * activity sink, and from the routes) and reads images; `routes.ts` answers with images or placeholders.
 */
export {
  createPreviewRenderer,
  BrowserUnavailable,
  PreviewRenderFailed,
  PreviewTimeout,
  CHROMIUM_ARGS,
  DEFAULT_PREVIEW_ANGLES,
  DEFAULT_PREVIEW_HEIGHT,
  DEFAULT_PREVIEW_WIDTH,
} from './renderer.js'
export type {
  ObjectEntry,
  PreviewRenderer,
  PreviewRendererOptions,
  ReadObjects,
  RenderOptions,
  RenderRequest,
} from './renderer.js'
export { placeholderPng, type PlaceholderKind } from './placeholders.js'
export { decodePng, encodePng, isPng, type Image } from './png.js'
export { createPreviewsService, storedAngle, SPECKLE_PREVIEW_ANGLES } from './service.js'
export type { PreviewImage, PreviewsService, PreviewsServiceDeps } from './service.js'
export { createPreviewJobHandler, type PreviewJobDeps } from './job.js'
export { registerPreviewRoutes, type PreviewRoutesDeps } from './routes.js'
export type { PreviewStatus } from './repository.js'
