import { describe, expect, it } from 'vitest'
import {
  checkWebhookTarget,
  forbiddenAddressReason,
  validateWebhookUrl,
  WebhookAddressError,
  type ResolvedAddress,
  type WebhookLookup,
} from './address-guard.js'

/** A DNS answer injected at the lookup boundary (no resolver is asked); it counts the questions. */
function fakeLookup(...answers: (readonly ResolvedAddress[] | Error)[]): WebhookLookup & { calls: string[] } {
  const calls: string[] = []
  const lookup = async (hostname: string) => {
    calls.push(hostname)
    const answer = answers[Math.min(calls.length, answers.length) - 1]
    if (answer instanceof Error) throw answer
    return answer
  }
  return Object.assign(lookup, { calls })
}

const v4 = (address: string): ResolvedAddress => ({ address, family: 4 })
const v6 = (address: string): ResolvedAddress => ({ address, family: 6 })

async function refusal(promise: Promise<unknown>): Promise<WebhookAddressError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(WebhookAddressError)
  return err as WebhookAddressError
}

describe('validateWebhookUrl', () => {
  it('accepts http and https URLs and returns them parsed', () => {
    expect(validateWebhookUrl('https://hooks.example.com/x?y=1').host).toBe('hooks.example.com')
    expect(validateWebhookUrl('http://hooks.example.com:8080/').port).toBe('8080')
  })

  it.each([
    ['not a url', 'not a valid absolute URL'],
    ['/relative/path', 'not a valid absolute URL'],
    ['ftp://example.com/', 'must use http or https, not ftp'],
    ['javascript:alert(1)', 'must use http or https'],
    ['file:///etc/passwd', 'must use http or https'],
    ['https://user:pass@example.com/', 'must not contain a user name or password'],
    ['https://user@example.com/', 'must not contain a user name or password'],
    ['http://example.com:0/', 'port must be from 1 to 65535'],
    ['http://example.com:65536/', 'not a valid absolute URL'],
  ])('refuses %s with WEBHOOK_URL_INVALID', (url, message) => {
    let caught: unknown
    try {
      validateWebhookUrl(url)
    } catch (err) {
      caught = err
    }
    expect(caught).toBeInstanceOf(WebhookAddressError)
    expect((caught as WebhookAddressError).code).toBe('WEBHOOK_URL_INVALID')
    expect((caught as WebhookAddressError).message).toContain(message)
  })

  it('does not judge addresses (that needs the allowPrivate setting and DNS)', () => {
    expect(() => validateWebhookUrl('http://127.0.0.1:3000/')).not.toThrow()
  })
})

describe('forbiddenAddressReason', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['100.127.255.255', 'carrier-grade NAT'],
    ['169.254.1.1', 'link-local'],
    ['169.254.169.254', 'cloud metadata'],
    ['0.0.0.0', 'unspecified'],
    ['255.255.255.255', 'broadcast'],
    ['224.0.0.1', 'multicast'],
    ['192.0.2.10', 'documentation'],
    ['198.51.100.1', 'documentation'],
    ['203.0.113.5', 'documentation'],
    ['198.18.0.1', 'benchmarking'],
    ['240.0.0.1', 'reserved'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['febf::1', 'link-local'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456::1', 'unique-local'],
    ['fd00:ec2::254', 'cloud metadata'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'documentation'],
    ['::ffff:127.0.0.1', 'IPv4-mapped IPv6 of 127.0.0.1: loopback'],
    ['::ffff:7f00:1', 'IPv4-mapped IPv6 of 127.0.0.1: loopback'],
    ['::ffff:a9fe:a9fe', 'IPv4-mapped IPv6 of 169.254.169.254: cloud metadata'],
    ['::ffff:10.0.0.1', 'private'],
    ['64:ff9b::7f00:1', 'NAT64 of 127.0.0.1'],
    ['2002:c0a8:101::1', '6to4 of 192.168.1.1'],
    ['::127.0.0.1', 'IPv4-compatible'],
    ['2001:0:4136:e378::1', 'Teredo'],
    ['4000::1', 'not a global unicast'],
  ])('refuses %s (%s)', (address, reason) => {
    expect(forbiddenAddressReason(address)).toContain(reason)
  })

  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '93.184.215.14',
    '172.32.0.1',
    '100.128.0.1',
    '192.169.0.1',
    '2606:4700:4700::1111',
    '2a00:1450:4001:80b::200e',
    '::ffff:8.8.8.8',
    '64:ff9b::808:808',
  ])('allows the public address %s', (address) => {
    expect(forbiddenAddressReason(address)).toBeNull()
  })
})

describe('checkWebhookTarget', () => {
  it.each([
    'http://127.0.0.1/',
    'http://[::1]:8080/',
    'http://10.0.0.7/',
    'http://192.168.0.1/',
    'http://169.254.169.254/latest/meta-data/',
    'http://[::ffff:127.0.0.1]/',
    'http://[fd00:ec2::254]/',
    'http://2130706433/', // decimal 127.0.0.1: the URL parser turns it into 127.0.0.1
    'http://0x7f000001/',
    'http://0177.0.0.1/',
    'http://127.1/',
    'http://0/',
  ])('refuses the literal %s when private targets are not allowed, without a lookup', async (url) => {
    const lookup = fakeLookup([v4('8.8.8.8')])
    const err = await refusal(checkWebhookTarget(url, { allowPrivate: false, lookup }))
    expect(err.code).toBe('WEBHOOK_URL_FORBIDDEN')
    expect(err.message).toMatch(/^The webhook address .+ is not allowed: /)
    expect(lookup.calls).toEqual([])
  })

  it.each(['http://localhost/', 'http://LOCALHOST.:3000/', 'http://api.localhost/'])(
    'refuses the loopback name %s without asking a resolver',
    async (url) => {
      const lookup = fakeLookup([v4('8.8.8.8')])
      const err = await refusal(checkWebhookTarget(url, { allowPrivate: false, lookup }))
      expect(err.code).toBe('WEBHOOK_URL_FORBIDDEN')
      expect(lookup.calls).toEqual([])
    },
  )

  it('refuses a name when any of its addresses is forbidden, even after a public one', async () => {
    const lookup = fakeLookup([v4('93.184.215.14'), v4('127.0.0.1')])
    const err = await refusal(checkWebhookTarget('https://hooks.example.com/', { allowPrivate: false, lookup }))
    expect(err.code).toBe('WEBHOOK_URL_FORBIDDEN')
    expect(err.message).toBe(
      'The webhook address hooks.example.com is not allowed: loopback (hooks.example.com resolves to 127.0.0.1)',
    )
  })

  it('refuses a name that resolves to an IPv4-mapped metadata address', async () => {
    const lookup = fakeLookup([v6('::ffff:169.254.169.254')])
    const err = await refusal(checkWebhookTarget('http://meta.example.com/', { allowPrivate: false, lookup }))
    expect(err.message).toContain('cloud metadata')
  })

  it('returns the checked public addresses, the host for Host/SNI and the port, from one lookup', async () => {
    // The second answer would point inside the network: it must never be asked for.
    const lookup = fakeLookup([v4('93.184.215.14'), v6('2606:2800:21f:cb07:6820:80da:af6b:8b2c')], [v4('127.0.0.1')])
    const target = await checkWebhookTarget('https://Hooks.Example.com/in?x=1', { allowPrivate: false, lookup })
    expect(target.hostname).toBe('hooks.example.com')
    expect(target.port).toBe(443)
    expect(target.protocol).toBe('https:')
    expect(target.addresses).toEqual([v4('93.184.215.14'), v6('2606:2800:21f:cb07:6820:80da:af6b:8b2c')])
    expect(lookup.calls).toEqual(['hooks.example.com'])
  })

  it('uses port 80 for http and the explicit port when given', async () => {
    const lookup = fakeLookup([v4('93.184.215.14')])
    expect((await checkWebhookTarget('http://a.example.com/', { allowPrivate: false, lookup })).port).toBe(80)
    expect((await checkWebhookTarget('http://a.example.com:8443/', { allowPrivate: false, lookup })).port).toBe(8443)
  })

  it('allows private targets when told to, still returning what to connect to', async () => {
    const lookup = fakeLookup([v4('10.0.0.5')])
    const named = await checkWebhookTarget('http://internal.example/', { allowPrivate: true, lookup })
    expect(named.addresses).toEqual([v4('10.0.0.5')])
    const literal = await checkWebhookTarget('http://[::1]:9000/', { allowPrivate: true })
    expect(literal).toMatchObject({ hostname: '::1', port: 9000, addresses: [v6('::1')] })
  })

  it('resolves localhost with the system resolver when private targets are allowed', async () => {
    const target = await checkWebhookTarget('http://localhost:1234/', { allowPrivate: true })
    expect(target.addresses.length).toBeGreaterThan(0)
    for (const { address } of target.addresses) expect(forbiddenAddressReason(address)).toContain('loopback')
  })

  it('reports a failed lookup as WEBHOOK_DNS_FAILED', async () => {
    const notFound = Object.assign(new Error('getaddrinfo ENOTFOUND nope.example'), { code: 'ENOTFOUND' })
    const err = await refusal(
      checkWebhookTarget('http://nope.example/', { allowPrivate: false, lookup: fakeLookup(notFound) }),
    )
    expect(err).toMatchObject({
      code: 'WEBHOOK_DNS_FAILED',
      message: 'Could not resolve the webhook host nope.example: ENOTFOUND',
    })
  })

  it('reports an empty or malformed answer as WEBHOOK_DNS_FAILED', async () => {
    const empty = await refusal(
      checkWebhookTarget('http://a.example/', { allowPrivate: false, lookup: fakeLookup([]) }),
    )
    expect(empty.code).toBe('WEBHOOK_DNS_FAILED')
    const junk = await refusal(
      checkWebhookTarget('http://a.example/', { allowPrivate: true, lookup: fakeLookup([v4('not-an-ip')]) }),
    )
    expect(junk.code).toBe('WEBHOOK_DNS_FAILED')
  })
})
