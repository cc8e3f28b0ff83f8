/**
 * Speckle's webhook signature (WIRE.md "Webhooks"): header `X-WEBHOOK-SIGNATURE` carries the lowercase hex
 * HMAC-SHA256 of the exact body bytes sent, keyed with the webhook's secret (the empty string when it has none).
 */
import { createHmac, timingSafeEqual } from 'node:crypto'

export const WEBHOOK_SIGNATURE_HEADER = 'X-WEBHOOK-SIGNATURE'

/** The signature of `body` (a string is signed as its UTF-8 bytes, which is what is sent). */
export function signWebhookBody(body: Buffer | string, secret: string | null | undefined): string {
  return createHmac('sha256', secret ?? '')
    .update(typeof body === 'string' ? Buffer.from(body, 'utf8') : body)
    .digest('hex')
}

/** Whether `signature` is the signature of `body` (compared in constant time); for receivers and tests. */
export function verifyWebhookSignature(
  body: Buffer | string,
  secret: string | null | undefined,
  signature: string | null | undefined,
): boolean {
  if (typeof signature !== 'string' || !/^[0-9a-f]{64}$/.test(signature)) return false
  return timingSafeEqual(Buffer.from(signWebhookBody(body, secret), 'hex'), Buffer.from(signature, 'hex'))
}
