import { createHmac } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { signWebhookBody, verifyWebhookSignature, WEBHOOK_SIGNATURE_HEADER } from './signature.js'

describe('webhook signature', () => {
  it('is the lowercase hex HMAC-SHA256 of the body (RFC 4231 test case 2)', () => {
    expect(signWebhookBody('what do ya want for nothing?', 'Jefe')).toBe(
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    )
  })

  it('keys with the empty string when the webhook has no secret', () => {
    const empty = 'b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad'
    expect(signWebhookBody('', '')).toBe(empty)
    expect(signWebhookBody('', null)).toBe(empty)
    expect(signWebhookBody('', undefined)).toBe(empty)
  })

  it('signs a string as its UTF-8 bytes, the same as the equal Buffer', () => {
    const text = '{"payload":{"message":"ünïcødé 漢字 🚀"}}'
    expect(signWebhookBody(text, 's')).toBe(signWebhookBody(Buffer.from(text, 'utf8'), 's'))
    expect(signWebhookBody(text, 's')).toBe(createHmac('sha256', 's').update(Buffer.from(text)).digest('hex'))
  })

  it('verifies a matching signature and refuses others', () => {
    const sig = signWebhookBody('{"a":1}', 'secret')
    expect(verifyWebhookSignature('{"a":1}', 'secret', sig)).toBe(true)
    expect(verifyWebhookSignature('{"a":2}', 'secret', sig)).toBe(false)
    expect(verifyWebhookSignature('{"a":1}', 'other', sig)).toBe(false)
    expect(verifyWebhookSignature('{"a":1}', 'secret', sig.toUpperCase())).toBe(false)
    expect(verifyWebhookSignature('{"a":1}', 'secret', undefined)).toBe(false)
    expect(verifyWebhookSignature('{"a":1}', 'secret', 'abc')).toBe(false)
  })

  it('names the header Speckle sends', () => {
    expect(WEBHOOK_SIGNATURE_HEADER).toBe('X-WEBHOOK-SIGNATURE')
  })
})
