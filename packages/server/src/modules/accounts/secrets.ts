/** One-time secrets for links sent by mail (verification, password reset, invites): random, stored hashed. */
import { createHash } from 'node:crypto'
import { randomAlphanumeric } from '../../ids.js'

const LINK_TOKEN_LENGTH = 42

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex')
}

/** A new link token and the hash to store for it. */
export function newLinkToken(): { token: string; hash: string } {
  const token = randomAlphanumeric(LINK_TOKEN_LENGTH)
  return { token, hash: sha256Hex(token) }
}

/** `base` + `path` + `?token=…`, for links in mail. */
export function linkWithToken(publicUrl: string, path: string, token: string): string {
  const url = new URL(path, `${publicUrl.replace(/\/+$/, '')}/`)
  url.searchParams.set('token', token)
  return url.href
}
