/** Errors the SDK throws. Each names what a user needs to find the problem: a property path, an id, a transport. */

export class TrussError extends Error {
  readonly code: string
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

/** The object tree cannot be serialized (cycle, function, NaN, too deep, ...). `path` names the property. */
export class SerializationError extends TrussError {
  readonly path: string
  constructor(path: string, reason: string) {
    super('SERIALIZATION_ERROR', `Cannot serialize ${path || '(root)'}: ${reason}`)
    this.path = path
  }
}

/** An object a tree refers to is not in the transport it was read from. */
export class MissingObjectError extends TrussError {
  readonly objectId: string
  readonly transport: string
  constructor(objectId: string, transport: string, parentId?: string) {
    super(
      'MISSING_OBJECT',
      `Object ${objectId} was not found in transport ${transport}` + (parentId ? ` (referenced by ${parentId})` : ''),
    )
    this.objectId = objectId
    this.transport = transport
  }
}

/** A stored object is not valid JSON or is not an object with a matching id. */
export class CorruptObjectError extends TrussError {
  readonly objectId: string
  readonly transport: string
  constructor(objectId: string, transport: string, reason: string) {
    super('CORRUPT_OBJECT', `Object ${objectId} in transport ${transport} is corrupt: ${reason}`)
    this.objectId = objectId
    this.transport = transport
  }
}

/** A transport failed to read or write (I/O, network, server answer). */
export class TransportError extends TrussError {
  readonly transport: string
  readonly status?: number
  constructor(transport: string, message: string, options?: { cause?: unknown; status?: number }) {
    super('TRANSPORT_ERROR', `${transport}: ${message}`, options)
    this.transport = transport
    this.status = options?.status
  }
}

/** The operation was cancelled through its AbortSignal. */
export class AbortError extends TrussError {
  constructor(message = 'The operation was aborted') {
    super('ABORTED', message)
  }
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    const reason: unknown = signal.reason
    if (reason instanceof Error && reason.name !== 'AbortError') throw reason
    throw new AbortError()
  }
}
