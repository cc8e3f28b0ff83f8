/**
 * Rate limits of the object routes, against a real server started with tight limits: a token past its
 * window gets 429 with Speckle's JSON body and `Retry-After`, nothing of the refused upload is stored,
 * other tokens and other actions keep their own counters, and an anonymous reader is counted by IP.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { http, leaf, multipart, postJson, upload, type ObjectsServer, startObjectsServer } from './objects-harness.js'

describe('object routes: per-token rate limits', () => {
  let s: ObjectsServer
  beforeAll(async () => {
    // Windows of a minute so the test never straddles a window's end on a slow machine.
    s = await startObjectsServer({
      env: { TRUSS_OBJECTS_RATE_LIMITS: 'upload=3/min;download=4/min;diff=off' },
    })
  }, 60_000)
  afterAll(() => s?.close())

  const batch = (tag: string) => {
    const o = leaf({ tag })
    return { id: o.id, body: multipart([{ type: 'application/json', body: `[${o.json}]` }]) }
  }

  it('answers 429 with Retry-After once a token has used its uploads, and stores nothing of the refused one', async () => {
    const statuses: number[] = []
    const remaining: (string | undefined)[] = []
    for (let i = 0; i < 3; i++) {
      const answer = await upload(s, s.privateProject, batch(`ok-${i}`).body, s.ownerToken)
      statuses.push(answer.status)
      remaining.push(answer.headers['x-ratelimit-remaining'] as string | undefined)
    }
    expect(statuses).toEqual([201, 201, 201])
    expect(remaining).toEqual(['2', '1', '0'])

    const refused = batch('refused')
    const answer = await upload(s, s.privateProject, refused.body, s.ownerToken)
    expect(answer.status).toBe(429)
    expect(JSON.parse(answer.text)).toEqual({ err: 'You have been rate limited. Please try again later.' })
    const retryAfter = Number(answer.headers['retry-after'])
    expect(retryAfter).toBeGreaterThanOrEqual(1)
    expect(retryAfter).toBeLessThanOrEqual(60)
    expect(Date.parse(String(answer.headers['x-ratelimit-reset']))).toBeGreaterThan(Date.now())

    // The refused object is not stored; the diff route (not limited here) says so.
    const diff = await postJson(
      `${s.url}/api/diff/${s.privateProject}`,
      { objects: JSON.stringify([refused.id]) },
      s.ownerToken,
    )
    expect(diff.status).toBe(200)
    expect(JSON.parse(diff.text)).toEqual({ [refused.id]: false })
  })

  it('keeps a separate count per token and per action', async () => {
    // The outsider's token has its own upload window (and is refused by permission, not by the limit).
    const outsider = await upload(s, s.privateProject, batch('outsider').body, s.outsiderToken)
    expect(outsider.status).toBe(401)
    // Downloads are counted apart from uploads: the owner, out of uploads, still reads.
    const stored = batch('ok-0')
    const single = await http(`${s.url}/objects/${s.privateProject}/${stored.id}/single`, { token: s.ownerToken })
    expect(single.status).toBe(200)
    expect(single.headers['x-ratelimit-remaining']).toBe('3')
  })

  it('counts anonymous readers of a public project by IP', async () => {
    const statuses: number[] = []
    for (let i = 0; i < 5; i++) {
      statuses.push((await http(`${s.url}/objects/${s.publicProject}/${'0'.repeat(32)}/single`)).status)
    }
    // Four misses (404: the object does not exist), then the window is full.
    expect(statuses).toEqual([404, 404, 404, 404, 429])
  })
})
