/**
 * Every domain error, with its code, HTTP status and GraphQL code, and the one mapper (`toHttp`) that turns
 * any thrown value into an answer. Domain code throws these by name (`new NotFound('project', id)`); it never
 * throws HTTP exceptions.
 */
import { ZodError } from 'zod'

export type ErrorCode =
  | 'NOT_FOUND'
  | 'FORBIDDEN'
  | 'UNAUTHENTICATED'
  | 'BAD_USER_INPUT'
  | 'CONFLICT'
  | 'TOO_LARGE'
  | 'RATE_LIMITED'
  | 'UNAVAILABLE'
  | 'INTERNAL'

export interface DomainErrorOptions {
  /** A GraphQL `extensions.code` other than the class default (Speckle's `STREAM_NOT_FOUND`, …). */
  graphqlCode?: string
  cause?: unknown
}

export abstract class DomainError extends Error {
  abstract readonly code: ErrorCode
  abstract readonly statusCode: number
  readonly graphqlCode: string

  constructor(message: string, defaultGraphqlCode: string, options: DomainErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.graphqlCode = options.graphqlCode ?? defaultGraphqlCode
  }

  /** Response headers that belong to the error (e.g. `Retry-After`). */
  headers(): Record<string, string> {
    return {}
  }
}

// GraphQL defaults follow Speckle's generic codes (WIRE-GRAPHQL.md "Error codes clients see").
const NOT_FOUND_GRAPHQL_CODES: Record<string, string> = {
  project: 'STREAM_NOT_FOUND',
  model: 'BRANCH_NOT_FOUND',
  version: 'COMMIT_NOT_FOUND',
}

export class NotFound extends DomainError {
  override readonly name = 'NotFound'
  readonly code = 'NOT_FOUND'
  readonly statusCode = 404
  constructor(
    readonly resource: string,
    readonly id?: string,
    options?: DomainErrorOptions,
  ) {
    const label = resource.charAt(0).toUpperCase() + resource.slice(1)
    super(
      id === undefined ? `${label} not found` : `${label} ${id} not found`,
      NOT_FOUND_GRAPHQL_CODES[resource] ?? 'NOT_FOUND_ERROR',
      options,
    )
  }
}

export class Forbidden extends DomainError {
  override readonly name = 'Forbidden'
  readonly code = 'FORBIDDEN'
  readonly statusCode = 403
  constructor(message = 'You do not have permission to do this', options?: DomainErrorOptions) {
    super(message, 'FORBIDDEN', options)
  }
}

export class Unauthenticated extends DomainError {
  override readonly name = 'Unauthenticated'
  readonly code = 'UNAUTHENTICATED'
  readonly statusCode = 401
  // Speckle's GraphQL answers anonymous access with FORBIDDEN "You are not logged in to this server".
  constructor(message = 'You are not logged in to this server', options?: DomainErrorOptions) {
    super(message, 'FORBIDDEN', options)
  }
}

export class BadUserInput extends DomainError {
  override readonly name = 'BadUserInput'
  readonly code = 'BAD_USER_INPUT'
  readonly statusCode: number = 400
  constructor(message: string, options?: DomainErrorOptions) {
    super(message, 'BAD_USER_INPUT', options)
  }
}

export class Conflict extends DomainError {
  override readonly name = 'Conflict'
  readonly code = 'CONFLICT'
  readonly statusCode = 409
  constructor(message = 'This conflicts with something that already exists', options?: DomainErrorOptions) {
    super(message, 'CONFLICT', options)
  }
}

export class TooLarge extends DomainError {
  override readonly name = 'TooLarge'
  readonly code = 'TOO_LARGE'
  readonly statusCode = 413
  constructor(
    readonly what: string,
    readonly sizeBytes?: number,
    readonly limitBytes?: number,
    options?: DomainErrorOptions,
  ) {
    super(
      sizeBytes !== undefined && limitBytes !== undefined
        ? `${what} is too large (${sizeBytes} > ${limitBytes} bytes)`
        : `${what} is too large`,
      'BAD_USER_INPUT',
      options,
    )
  }
}

export class RateLimited extends DomainError {
  override readonly name = 'RateLimited'
  readonly code = 'RATE_LIMITED'
  readonly statusCode = 429
  constructor(
    readonly retryAfterSeconds: number,
    message = 'You are being rate limited; retry later',
    options?: DomainErrorOptions,
  ) {
    super(message, 'RATE_LIMITED', options)
  }

  override headers(): Record<string, string> {
    return { 'retry-after': String(Math.max(1, Math.ceil(this.retryAfterSeconds))) }
  }
}

/** The server is too busy for this request right now (e.g. no database connection came free in time). */
export class Unavailable extends DomainError {
  override readonly name = 'Unavailable'
  readonly code = 'UNAVAILABLE'
  readonly statusCode = 503
  constructor(
    message = 'The server is busy; retry shortly',
    readonly retryAfterSeconds = 5,
    options?: DomainErrorOptions,
  ) {
    super(message, 'SERVICE_UNAVAILABLE', options)
  }

  override headers(): Record<string, string> {
    return { 'retry-after': String(this.retryAfterSeconds) }
  }
}

/** An unexpected failure; its message is logged, never shown. */
export class Internal extends DomainError {
  override readonly name = 'Internal'
  readonly code = 'INTERNAL'
  readonly statusCode = 500
  constructor(message = 'Internal server error', options?: DomainErrorOptions) {
    super(message, 'INTERNAL_SERVER_ERROR', options)
  }
}

/** The minimal logger `toHttp` needs (a pino logger or a request's child logger fits). */
export interface ErrorLogger {
  info(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
}

export interface HttpErrorAnswer {
  statusCode: number
  headers: Record<string, string>
  body: { error: { code: ErrorCode; message: string } }
}

/** Bad input by content type: a 415 that still carries the BAD_USER_INPUT code. */
class UnsupportedMediaType extends BadUserInput {
  override readonly statusCode = 415
  constructor(cause: Error) {
    super('Unsupported content type for this route', { cause })
  }
}

// PostgreSQL SQLSTATE codes that mean the caller's input, not the server, is at fault.
const POSTGRES_ERRORS: Record<string, (err: Error) => DomainError> = {
  '23505': (err) => new Conflict('This already exists', { cause: err }), // unique_violation
  '22P02': (err) => new BadUserInput('A value has the wrong format', { cause: err }), // invalid_text_representation
  '22001': (err) => new BadUserInput('A value is too long', { cause: err }), // string_data_right_truncation
}

// Fastify's own request errors (node_modules/fastify/lib/errors.js): all the client's fault.
const FASTIFY_ERRORS: Record<string, (err: Error) => DomainError> = {
  FST_ERR_CTP_BODY_TOO_LARGE: (err) => new TooLarge('Request body', undefined, undefined, { cause: err }),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: (err) => new UnsupportedMediaType(err),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: (err) =>
    new BadUserInput('Request body size did not match Content-Length', { cause: err }),
  FST_ERR_CTP_EMPTY_JSON_BODY: (err) => new BadUserInput('Body cannot be empty when it is JSON', { cause: err }),
  FST_ERR_CTP_INVALID_JSON_BODY: (err) => new BadUserInput('Body is not valid JSON', { cause: err }),
  FST_ERR_BAD_URL: (err) => new BadUserInput('The URL is not valid', { cause: err }),
}

function errorProperty(err: unknown, key: string): unknown {
  return typeof err === 'object' && err !== null && key in err ? (err as Record<string, unknown>)[key] : undefined
}

/** Turn a foreign error (PostgreSQL, Fastify, zod, …) into a domain error; unknown ones become `Internal`. */
export function toDomainError(err: unknown): DomainError {
  if (err instanceof DomainError) return err
  const error = err instanceof Error ? err : new Error(String(err))
  const code = errorProperty(err, 'code')
  if (typeof code === 'string') {
    if (/^[0-9A-Z]{5}$/.test(code) && code in POSTGRES_ERRORS) return POSTGRES_ERRORS[code](error)
    if (code in FASTIFY_ERRORS) return FASTIFY_ERRORS[code](error)
    // Errors from adapters and libraries that already say whose fault it is (e.g. the blob store's InvalidBlobKey).
    if (code === 'BAD_USER_INPUT') return new BadUserInput(error.message, { cause: err })
    // The database adapter found no free connection in time: busy, not broken.
    if (code === 'SQL_BUSY') return new Unavailable(undefined, undefined, { cause: err })
  }
  if (err instanceof ZodError) {
    const issue = err.issues[0]
    const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : ''
    return new BadUserInput(`${where}${issue?.message ?? 'invalid input'}`, { cause: err })
  }
  // Fastify schema validation, and JSON parse errors (a SyntaxError given status 400 by Fastify).
  const statusCode = errorProperty(err, 'statusCode')
  if (errorProperty(err, 'validation') !== undefined || (err instanceof SyntaxError && statusCode === 400)) {
    return new BadUserInput(error.message, { cause: err })
  }
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
    return statusCode === 413
      ? new TooLarge('Request', undefined, undefined, { cause: err })
      : statusCode === 415
        ? new UnsupportedMediaType(error)
        : new BadUserInput(error.message, { cause: err })
  }
  return new Internal('Internal server error', { cause: err })
}

const FALLBACK: HttpErrorAnswer = {
  statusCode: 500,
  headers: {},
  body: { error: { code: 'INTERNAL', message: 'Internal server error' } },
}

/**
 * Map any thrown value to an HTTP answer. Logs 4xx at info and 5xx at error (with the original error);
 * never throws, whatever it is given.
 */
export function toHttp(err: unknown, logger: ErrorLogger): HttpErrorAnswer {
  try {
    const domain = toDomainError(err)
    const answer: HttpErrorAnswer = {
      statusCode: domain.statusCode,
      headers: domain.headers(),
      body: { error: { code: domain.code, message: domain.message } },
    }
    try {
      if (domain.statusCode >= 500) logger.error({ err }, 'request failed')
      else logger.info({ err: domain, code: domain.code, statusCode: domain.statusCode }, domain.message)
    } catch {
      // A broken logger must not turn an answer into a crash.
    }
    return answer
  } catch {
    return FALLBACK
  }
}
