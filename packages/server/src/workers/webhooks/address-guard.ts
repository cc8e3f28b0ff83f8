/**
 * Where a webhook may be delivered. `validateWebhookUrl` checks a URL's shape (when a webhook is created);
 * `checkWebhookTarget` resolves its host once and refuses it when any address it resolves to is not a public
 * unicast address, unless private targets are allowed. The delivery then connects to the addresses returned
 * here and never resolves the name again, so a DNS answer that changes after the check (rebinding) cannot
 * send the request elsewhere.
 */
import { lookup as dnsLookup } from 'node:dns/promises'
import { isIP } from 'node:net'

export type WebhookAddressErrorCode = 'WEBHOOK_URL_INVALID' | 'WEBHOOK_URL_FORBIDDEN' | 'WEBHOOK_DNS_FAILED'

/** A webhook URL that cannot be used: malformed, aimed at a forbidden address, or not resolvable. */
export class WebhookAddressError extends Error {
  override readonly name = 'WebhookAddressError'
  constructor(
    readonly code: WebhookAddressErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

export interface ResolvedAddress {
  address: string
  family: 4 | 6
}

/** Resolves a host name to all its addresses (the DNS boundary; tests inject their own). */
export type WebhookLookup = (hostname: string) => Promise<readonly ResolvedAddress[]>

/** A URL that passed the guard, with the addresses a delivery must connect to (and only to). */
export interface CheckedWebhookTarget {
  url: URL
  protocol: 'http:' | 'https:'
  /** The URL's host without IPv6 brackets: what goes in `Host` and TLS SNI. */
  hostname: string
  port: number
  addresses: readonly ResolvedAddress[]
}

export const systemLookup: WebhookLookup = async (hostname) => {
  const answers = await dnsLookup(hostname, { all: true, verbatim: true })
  return answers.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }))
}

const invalid = (message: string) => new WebhookAddressError('WEBHOOK_URL_INVALID', message)

/**
 * Checks a webhook URL's shape only (no DNS): absolute http(s), a host, no credentials, a usable port.
 * Returns the parsed URL; throws `WebhookAddressError` (`WEBHOOK_URL_INVALID`) with a message fit for the user.
 */
export function validateWebhookUrl(url: string | URL): URL {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw invalid('The webhook URL is not a valid absolute URL')
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw invalid(`The webhook URL must use http or https, not ${parsed.protocol.replace(/:$/, '')}`)
  }
  if (parsed.username !== '' || parsed.password !== '') {
    throw invalid('The webhook URL must not contain a user name or password')
  }
  if (bareHostname(parsed) === '') throw invalid('The webhook URL has no host')
  // The URL parser already refuses ports past 65535; port 0 is not a port one can connect to.
  if (parsed.port === '0') throw invalid('The webhook URL port must be from 1 to 65535')
  return parsed
}

/**
 * Validates the URL, resolves its host (or takes the literal IP) and, unless `allowPrivate`, refuses it when
 * ANY resolved address is forbidden (`WEBHOOK_URL_FORBIDDEN`): a name that also points inside the network is
 * refused even if the first answer is public. Lookup failures are `WEBHOOK_DNS_FAILED`.
 */
export async function checkWebhookTarget(
  url: string | URL,
  options: { allowPrivate: boolean; lookup?: WebhookLookup },
): Promise<CheckedWebhookTarget> {
  const parsed = validateWebhookUrl(url)
  const hostname = bareHostname(parsed)
  const protocol = parsed.protocol as 'http:' | 'https:'
  const port = parsed.port === '' ? (protocol === 'https:' ? 443 : 80) : Number(parsed.port)

  let addresses: ResolvedAddress[]
  const literal = isIP(hostname)
  if (literal !== 0) {
    addresses = [{ address: hostname, family: literal === 6 ? 6 : 4 }]
  } else {
    // RFC 6761: these names are loopback whatever a resolver says; refuse them without asking one.
    if (!options.allowPrivate && /(^|\.)localhost\.?$/i.test(hostname)) {
      throw new WebhookAddressError(
        'WEBHOOK_URL_FORBIDDEN',
        `The webhook address ${hostname} is not allowed: a loopback name`,
      )
    }
    addresses = await resolve(hostname, options.lookup ?? systemLookup)
  }

  if (!options.allowPrivate) {
    for (const { address } of addresses) {
      const reason = forbiddenAddressReason(address)
      if (reason !== null) {
        const via = literal !== 0 ? '' : ` (${hostname} resolves to ${address})`
        throw new WebhookAddressError(
          'WEBHOOK_URL_FORBIDDEN',
          `The webhook address ${literal !== 0 ? address : hostname} is not allowed: ${reason}${via}`,
        )
      }
    }
  }
  return { url: parsed, protocol, hostname, port, addresses }
}

async function resolve(hostname: string, lookup: WebhookLookup): Promise<ResolvedAddress[]> {
  let answers: readonly ResolvedAddress[]
  try {
    answers = await lookup(hostname)
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code
    const detail = typeof code === 'string' ? code : err instanceof Error ? err.message : String(err)
    throw new WebhookAddressError('WEBHOOK_DNS_FAILED', `Could not resolve the webhook host ${hostname}: ${detail}`, {
      cause: err,
    })
  }
  const addresses: ResolvedAddress[] = []
  for (const answer of Array.isArray(answers) ? answers : []) {
    const family = typeof answer?.address === 'string' ? isIP(answer.address) : 0
    if (family === 0) {
      throw new WebhookAddressError('WEBHOOK_DNS_FAILED', `The webhook host ${hostname} resolved to a non-address`)
    }
    addresses.push({ address: answer.address, family: family === 6 ? 6 : 4 })
  }
  if (addresses.length === 0) {
    throw new WebhookAddressError('WEBHOOK_DNS_FAILED', `The webhook host ${hostname} has no addresses`)
  }
  return addresses
}

function bareHostname(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
}

// ---- address classification -------------------------------------------------------------------------------

interface Range {
  bits: 32 | 128
  base: bigint
  prefix: number
  reason: string
}

function range(cidr: string, reason: string): Range {
  const [text, prefix] = cidr.split('/')
  const bits = isIP(text) === 4 ? 32 : 128
  return { bits, base: bits === 32 ? ipv4Value(text) : ipv6Value(text), prefix: Number(prefix), reason }
}

function inRange(value: bigint, r: Range): boolean {
  const shift = BigInt(r.bits - r.prefix)
  return value >> shift === r.base >> shift
}

// IANA special-purpose registries; the more specific entries come first so the reason names them.
const IPV4_FORBIDDEN: readonly Range[] = [
  range('169.254.169.254/32', 'cloud metadata service'),
  range('100.100.100.200/32', 'cloud metadata service'),
  range('168.63.129.16/32', 'cloud platform service (Azure)'),
  range('255.255.255.255/32', 'broadcast'),
  range('0.0.0.0/8', 'unspecified ("this network")'),
  range('10.0.0.0/8', 'private network (RFC 1918)'),
  range('100.64.0.0/10', 'shared address space (carrier-grade NAT)'),
  range('127.0.0.0/8', 'loopback'),
  range('169.254.0.0/16', 'link-local'),
  range('172.16.0.0/12', 'private network (RFC 1918)'),
  range('192.0.0.0/24', 'IETF protocol assignments'),
  range('192.0.2.0/24', 'documentation range'),
  range('192.88.99.0/24', '6to4 relay anycast (deprecated)'),
  range('192.168.0.0/16', 'private network (RFC 1918)'),
  range('198.18.0.0/15', 'benchmarking range'),
  range('198.51.100.0/24', 'documentation range'),
  range('203.0.113.0/24', 'documentation range'),
  range('224.0.0.0/4', 'multicast'),
  range('240.0.0.0/4', 'reserved'),
]

const IPV6_FORBIDDEN: readonly Range[] = [
  range('fd00:ec2::254/128', 'cloud metadata service'),
  range('::/128', 'unspecified'),
  range('::1/128', 'loopback'),
  range('::/96', 'IPv4-compatible IPv6 (deprecated)'),
  range('::ffff:0:0:0/96', 'IPv4-translated IPv6'),
  range('64:ff9b:1::/48', 'local-use NAT64'),
  range('100::/64', 'discard-only range'),
  range('2001::/32', 'Teredo tunnelling'),
  range('2001:2::/48', 'benchmarking range'),
  range('2001:10::/28', 'ORCHID (deprecated)'),
  range('2001:20::/28', 'ORCHIDv2'),
  range('2001:db8::/32', 'documentation range'),
  range('3fff::/20', 'documentation range'),
  range('fc00::/7', 'unique-local'),
  range('fe80::/10', 'link-local'),
  range('fec0::/10', 'site-local (deprecated)'),
  range('ff00::/8', 'multicast'),
]

const GLOBAL_UNICAST = range('2000::/3', 'global unicast')
// IPv6 ranges whose bits carry an IPv4 address the packets end up at: judged by that address.
const IPV4_MAPPED = range('::ffff:0:0/96', 'IPv4-mapped IPv6')
const NAT64 = range('64:ff9b::/96', 'NAT64')
const SIX_TO_FOUR = range('2002::/16', '6to4')

/** Why `address` (an IPv4 or IPv6 literal) must not receive webhooks, or null when it is a public address. */
export function forbiddenAddressReason(address: string): string | null {
  const text = address.replace(/%.*$/, '') // a zone id says which interface, not which address
  const family = isIP(text)
  if (family === 4) return matchReason(ipv4Value(text), IPV4_FORBIDDEN)
  if (family !== 6) return 'not an IP address'

  const value = ipv6Value(text)
  for (const [r, shift] of [
    [IPV4_MAPPED, 0n],
    [NAT64, 0n],
    [SIX_TO_FOUR, 80n],
  ] as const) {
    if (!inRange(value, r)) continue
    const v4 = (value >> shift) & 0xffffffffn
    const reason = matchReason(v4, IPV4_FORBIDDEN)
    return reason === null ? null : `${r.reason} of ${ipv4Text(v4)}: ${reason}`
  }
  const reason = matchReason(value, IPV6_FORBIDDEN)
  if (reason !== null) return reason
  return inRange(value, GLOBAL_UNICAST) ? null : 'not a global unicast address'
}

function matchReason(value: bigint, ranges: readonly Range[]): string | null {
  for (const r of ranges) if (inRange(value, r)) return r.reason
  return null
}

function ipv4Value(text: string): bigint {
  return text.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n)
}

function ipv4Text(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.')
}

/** The 128-bit value of a valid IPv6 literal (`::` shorthand and a trailing dotted IPv4 allowed). */
function ipv6Value(text: string): bigint {
  let body = text
  const lastColon = body.lastIndexOf(':')
  const tail = body.slice(lastColon + 1)
  if (tail.includes('.')) {
    const v4 = ipv4Value(tail)
    body = `${body.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`
  }
  const [head, rest] = body.split('::')
  const left = head === '' ? [] : head.split(':')
  const right = rest === undefined || rest === '' ? [] : rest.split(':')
  const groups =
    rest === undefined ? left : [...left, ...new Array<string>(8 - left.length - right.length).fill('0'), ...right]
  return groups.reduce((acc, group) => (acc << 16n) | BigInt(parseInt(group, 16)), 0n)
}
