/**
 * The `preview.render` job: read the object tree from the database, render it in the shared browser and
 * store the images with the job's completion (one transaction). A tree the viewer cannot render fails for
 * good; a browser that crashed, could not start or ran out of time fails the attempt, and the queue retries.
 */
import type { Sql } from '../../adapters/sql/types.js'
import { PermanentJobError, type JobHandler } from '../../jobs/runner.js'
import { lineJsonBytes, type ObjectsService } from '../objects/service.js'
import { markRenderFailed, selectRender, storeImages } from './repository.js'
import { PreviewRenderFailed, type ObjectEntry, type PreviewRenderer, type RenderOptions } from './renderer.js'

export interface PreviewJobDeps {
  sql: Sql
  objects: Pick<ObjectsService, 'streamIds'>
  renderer: Pick<PreviewRenderer, 'render'>
  /** Angles, size and time limit of each render (the renderer's defaults otherwise). */
  renderOptions?: Omit<RenderOptions, 'signal'>
}

export function createPreviewJobHandler(deps: PreviewJobDeps): JobHandler<'preview.render'> {
  const { sql, objects, renderer } = deps
  return {
    kind: 'preview.render',
    async run(job, ctx) {
      const { projectId, objectId } = job.payload
      const render = await selectRender(sql, projectId, objectId)
      // Gone with its project, or rendered by an earlier job meanwhile.
      if (render === null) return { skipped: 'no render was asked for' }
      if (render.status === 'done') return { skipped: 'already rendered' }

      async function* readObjects(ids: readonly string[]): AsyncIterable<ObjectEntry> {
        for await (const batch of objects.streamIds(projectId, ids)) {
          for (const line of batch) yield [line[0], lineJsonBytes(line)]
        }
      }
      const began = performance.now()
      let pngs: Buffer[]
      try {
        pngs = await renderer.render(
          { projectId, objectId, readObjects },
          { ...deps.renderOptions, signal: ctx.signal },
        )
      } catch (err) {
        // Dead at once; `onDead` records the error on the render.
        if (err instanceof PreviewRenderFailed) throw new PermanentJobError(err.message, { cause: err })
        throw err
      }
      const ms = Math.round(performance.now() - began)
      await ctx.complete((tx) => storeImages(tx, projectId, objectId, pngs), { angles: pngs.length, ms })
      ctx.logger.info({ projectId, objectId, angles: pngs.length, ms }, 'preview rendered')
      return { angles: pngs.length, ms }
    },
    async onDead(job, error, tx) {
      await markRenderFailed(tx, job.payload.projectId, job.payload.objectId, error.message || error.name)
    },
  }
}
