import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Sql } from '../../adapters/sql/types.js'
import { openDatabase } from '../auth/test-utils/identity.js'
import { createActivityService } from './service.js'

describe('activity service (pglite)', () => {
  let sql: Sql & { dispose(): Promise<void> }

  beforeAll(async () => {
    sql = await openDatabase('pglite')
  })
  afterAll(() => sql?.dispose())

  it('commits an entry only with the transaction that wrote it', async () => {
    const activity = createActivityService({ sql })
    const entry = {
      projectId: 'p000000001',
      userId: 'u000000001',
      resourceType: 'stream' as const,
      resourceId: 'p000000001',
      actionType: 'stream_update' as const,
      info: { old: { name: 'a' }, new: { name: 'b' } },
    }
    await expect(
      sql.transaction(async (tx) => {
        await activity.record(tx, entry)
        throw new Error('roll back')
      }),
    ).rejects.toThrow('roll back')
    expect((await activity.forProject('p000000001')).totalCount).toBe(0)
    await sql.transaction((tx) => activity.record(tx, entry))
    const page = await activity.forProject('p000000001')
    expect(page).toMatchObject({ totalCount: 1, cursor: null })
    expect(page.items[0]).toMatchObject({ ...entry, time: expect.any(Date) })
    expect((await activity.forUser('u000000001')).items).toHaveLength(1)
  })

  it('pages per user newest first', async () => {
    const activity = createActivityService({ sql })
    for (let i = 0; i < 5; i++) {
      await activity.record(sql, {
        projectId: null,
        userId: 'pager00001',
        resourceType: 'commit',
        resourceId: `c${i}`,
        actionType: 'commit_receive',
      })
    }
    const first = await activity.forUser('pager00001', { limit: 3 })
    const second = await activity.forUser('pager00001', { limit: 3, cursor: first.cursor })
    expect([...first.items, ...second.items].map((a) => a.resourceId)).toEqual(['c4', 'c3', 'c2', 'c1', 'c0'])
    expect(second.cursor).toBeNull()
  })
})
