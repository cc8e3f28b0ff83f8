/**
 * The SHA-256 used for object ids. Node registers OpenSSL's (fast, native); browsers register a
 * synchronous pure-JS one, because WebCrypto's digest is async and the serializer is not.
 */
export type Sha256Hex = (text: string) => string

let impl: Sha256Hex | undefined

export function registerSha256(fn: Sha256Hex): void {
  impl = fn
}

export function sha256Hex(text: string): string {
  if (!impl) throw new Error('No SHA-256 implementation registered: import @truss/core, not its internal files')
  return impl(text)
}

/** Truss's id rule (WIRE.md): SHA-256 of the compact JSON without `id`, first 32 hex characters. */
export function objectIdOf(jsonWithoutId: string): string {
  return sha256Hex(jsonWithoutId).slice(0, 32)
}
