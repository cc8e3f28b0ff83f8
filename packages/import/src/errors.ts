/** The one error the converters throw: a code a caller can branch on and a message a user understands. */

export type ImportErrorCode =
  /** The file is not one of SUPPORTED_FILE_TYPES (or its content does not match the type asked for). */
  | 'UNSUPPORTED_TYPE'
  /** The file uses a feature the converter cannot read (Draco-compressed glTF, ...). */
  | 'UNSUPPORTED_FEATURE'
  /** The file cannot be read or parsed: missing, truncated, garbage, wrong encoding. */
  | 'UNREADABLE_FILE'
  /** The file parsed but holds no geometry or elements to import. */
  | 'EMPTY_MODEL'
  /** The file has no bytes at all. */
  | 'EMPTY_FILE'
  /** The file is larger than the caller's `maxBytes`. */
  | 'TOO_LARGE'
  /** The import was cancelled through its AbortSignal. */
  | 'ABORTED'

export class ImportError extends Error {
  readonly code: ImportErrorCode
  constructor(code: ImportErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = 'ImportError'
  }
}

/** Wraps anything a parser threw that is not already an ImportError as UNREADABLE_FILE for `fileName`. */
export function asImportError(err: unknown, fileName: string, what: string): ImportError {
  if (err instanceof ImportError) return err
  const detail = err instanceof Error ? err.message : String(err)
  return new ImportError('UNREADABLE_FILE', `${fileName} could not be read as ${what}: ${detail}`, { cause: err })
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new ImportError('ABORTED', 'The import was cancelled')
}
