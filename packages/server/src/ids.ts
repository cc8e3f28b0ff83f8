/**
 * Random identifiers and secrets: alphanumeric strings from the OS CSPRNG, as Speckle's ids (10 characters)
 * and token secrets (32 characters).
 */
import { randomBytes } from 'node:crypto'

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
// Bytes at or above this are dropped so every character is equally likely (248 = 4 × 62).
const UNBIASED_LIMIT = 256 - (256 % ALPHABET.length)

/** `length` characters from [A-Za-z0-9], uniformly distributed. */
export function randomAlphanumeric(length: number): string {
  let out = ''
  while (out.length < length) {
    for (const byte of randomBytes(length + 8)) {
      if (byte >= UNBIASED_LIMIT) continue
      out += ALPHABET[byte % ALPHABET.length]
      if (out.length === length) break
    }
  }
  return out
}

/** Length of user, project, model and token ids (Speckle's). */
export const ID_LENGTH = 10

/** A new 10-character id for a user, project or model. */
export function newId(): string {
  return randomAlphanumeric(ID_LENGTH)
}
