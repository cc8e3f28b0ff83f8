import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import {
  BadUserInput,
  Conflict,
  Forbidden,
  Internal,
  NotFound,
  RateLimited,
  TooLarge,
  Unauthenticated,
  Unavailable,
  toDomainError,
  toHttp,
  type ErrorLogger,
} from './errors.js'

interface Logged {
  level: 'info' | 'error'
  obj: object
  msg?: string
}

function recordingLogger(): ErrorLogger & { lines: Logged[] } {
  const lines: Logged[] = []
  return {
    lines,
    info: (obj, msg) => lines.push({ level: 'info', obj, msg }),
    error: (obj, msg) => lines.push({ level: 'error', obj, msg }),
  }
}

function foreign(message: string, props: Record<string, unknown>): Error {
  return Object.assign(new Error(message), props)
}

describe('domain errors', () => {
  it.each([
    [new NotFound('project', 'abc'), 'NOT_FOUND', 404, 'STREAM_NOT_FOUND', 'Project abc not found'],
    [new NotFound('model'), 'NOT_FOUND', 404, 'BRANCH_NOT_FOUND', 'Model not found'],
    [new NotFound('version', 'v1'), 'NOT_FOUND', 404, 'COMMIT_NOT_FOUND', 'Version v1 not found'],
    [new NotFound('comment', 'c1'), 'NOT_FOUND', 404, 'NOT_FOUND_ERROR', 'Comment c1 not found'],
    [new Forbidden(), 'FORBIDDEN', 403, 'FORBIDDEN', 'You do not have permission to do this'],
    [new Unauthenticated(), 'UNAUTHENTICATED', 401, 'FORBIDDEN', 'You are not logged in to this server'],
    [new BadUserInput('name is empty'), 'BAD_USER_INPUT', 400, 'BAD_USER_INPUT', 'name is empty'],
    [new Conflict('name taken'), 'CONFLICT', 409, 'CONFLICT', 'name taken'],
    [new TooLarge('Object', 20, 10), 'TOO_LARGE', 413, 'BAD_USER_INPUT', 'Object is too large (20 > 10 bytes)'],
    [new RateLimited(3), 'RATE_LIMITED', 429, 'RATE_LIMITED', 'You are being rate limited; retry later'],
    [new Unavailable(), 'UNAVAILABLE', 503, 'SERVICE_UNAVAILABLE', 'The server is busy; retry shortly'],
    [new Internal(), 'INTERNAL', 500, 'INTERNAL_SERVER_ERROR', 'Internal server error'],
  ])('%s carries its code, HTTP status and GraphQL code', (err, code, status, graphqlCode, message) => {
    expect(err).toBeInstanceOf(Error)
    expect(err.code).toBe(code)
    expect(err.statusCode).toBe(status)
    expect(err.graphqlCode).toBe(graphqlCode)
    expect(err.message).toBe(message)
  })

  it('takes a GraphQL code override', () => {
    expect(new BadUserInput('dup', { graphqlCode: 'BRANCH_CREATE_ERROR' }).graphqlCode).toBe('BRANCH_CREATE_ERROR')
  })
})

describe('toHttp', () => {
  it('answers a domain error with its status and the JSON error body, logged at info', () => {
    const log = recordingLogger()
    expect(toHttp(new NotFound('project', 'p1'), log)).toEqual({
      statusCode: 404,
      headers: {},
      body: { error: { code: 'NOT_FOUND', message: 'Project p1 not found' } },
    })
    expect(log.lines.map((l) => l.level)).toEqual(['info'])
  })

  it('adds Retry-After to a rate-limited answer, in whole seconds of at least one', () => {
    const log = recordingLogger()
    expect(toHttp(new RateLimited(2.2), log)).toMatchObject({ statusCode: 429, headers: { 'retry-after': '3' } })
    expect(toHttp(new RateLimited(0), log).headers).toEqual({ 'retry-after': '1' })
  })

  it('answers a busy database (no connection came free in time) with 503 and Retry-After, not a 500', async () => {
    const { SqlBusy } = await import('./adapters/sql/types.js')
    const log = recordingLogger()
    expect(toHttp(new SqlBusy('no database connection came free in time'), log)).toEqual({
      statusCode: 503,
      headers: { 'retry-after': '5' },
      body: { error: { code: 'UNAVAILABLE', message: 'The server is busy; retry shortly' } },
    })
  })

  it('hides an unexpected error behind a 500 and logs it at error with the original', () => {
    const log = recordingLogger()
    const boom = new Error('connection string postgres://u:p@h leaked')
    const answer = toHttp(boom, log)
    expect(answer).toEqual({
      statusCode: 500,
      headers: {},
      body: { error: { code: 'INTERNAL', message: 'Internal server error' } },
    })
    expect(log.lines).toEqual([{ level: 'error', obj: { err: boom }, msg: 'request failed' }])
  })

  it('maps a PostgreSQL unique violation (23505) to 409 Conflict', () => {
    const err = foreign('duplicate key value violates unique constraint "users_email_key"', { code: '23505' })
    expect(toHttp(err, recordingLogger())).toMatchObject({ statusCode: 409, body: { error: { code: 'CONFLICT' } } })
    expect(toDomainError(err)).toBeInstanceOf(Conflict)
  })

  it('maps a PostgreSQL bad text representation (22P02) to 400', () => {
    const err = foreign('invalid input syntax for type uuid', { code: '22P02' })
    expect(toHttp(err, recordingLogger()).statusCode).toBe(400)
  })

  it('does not take a Node system error code for a PostgreSQL one', () => {
    expect(toHttp(foreign('connect ECONNREFUSED', { code: 'ECONNREFUSED' }), recordingLogger()).statusCode).toBe(500)
  })

  it.each([
    ['FST_ERR_CTP_BODY_TOO_LARGE', 413, 'TOO_LARGE'],
    ['FST_ERR_CTP_INVALID_MEDIA_TYPE', 415, 'BAD_USER_INPUT'],
    ['FST_ERR_CTP_EMPTY_JSON_BODY', 400, 'BAD_USER_INPUT'],
    ['FST_ERR_CTP_INVALID_JSON_BODY', 400, 'BAD_USER_INPUT'],
    ['FST_ERR_CTP_INVALID_CONTENT_LENGTH', 400, 'BAD_USER_INPUT'],
    ['FST_ERR_BAD_URL', 400, 'BAD_USER_INPUT'],
  ])('maps Fastify %s to %i', (code, status, domainCode) => {
    const log = recordingLogger()
    const answer = toHttp(foreign('fastify said no', { code, statusCode: status }), log)
    expect(answer.statusCode).toBe(status)
    expect(answer.body.error.code).toBe(domainCode)
    expect(log.lines[0].level).toBe('info')
  })

  it('maps a JSON parse error (SyntaxError with status 400) to 400', () => {
    const err = Object.assign(new SyntaxError('Unexpected token } in JSON at position 1'), { statusCode: 400 })
    expect(toHttp(err, recordingLogger())).toMatchObject({
      statusCode: 400,
      body: { error: { code: 'BAD_USER_INPUT' } },
    })
  })

  it('maps schema validation and zod errors to 400 naming the field', () => {
    expect(toHttp(foreign('body/name must be string', { validation: [] }), recordingLogger()).statusCode).toBe(400)
    const parsed = z.object({ name: z.string() }).safeParse({ name: 1 })
    const answer = toHttp(parsed.error, recordingLogger())
    expect(answer.statusCode).toBe(400)
    expect(answer.body.error.message).toMatch(/^name: /)
  })

  it('maps a foreign error that declares the BAD_USER_INPUT code to 400 with its message', () => {
    const answer = toHttp(foreign('invalid blob key: empty', { code: 'BAD_USER_INPUT' }), recordingLogger())
    expect(answer).toMatchObject({ statusCode: 400, body: { error: { message: 'invalid blob key: empty' } } })
  })

  it('keeps any other 4xx status a foreign error declares', () => {
    expect(toHttp(foreign('nope', { statusCode: 413 }), recordingLogger()).statusCode).toBe(413)
    expect(toHttp(foreign('nope', { statusCode: 400 }), recordingLogger()).statusCode).toBe(400)
    expect(toHttp(foreign('nope', { statusCode: 503 }), recordingLogger()).statusCode).toBe(500)
  })

  it('never throws: not an error, a hostile object, a broken logger', () => {
    const hostile = new Proxy(
      {},
      {
        get() {
          throw new Error('trap')
        },
        has() {
          throw new Error('trap')
        },
      },
    )
    const broken: ErrorLogger = {
      info() {
        throw new Error('logger down')
      },
      error() {
        throw new Error('logger down')
      },
    }
    for (const value of [undefined, null, 'a string', 42, hostile]) {
      expect(toHttp(value, broken).statusCode).toBe(500)
    }
    expect(toHttp(new NotFound('project'), broken).statusCode).toBe(404)
  })
})
