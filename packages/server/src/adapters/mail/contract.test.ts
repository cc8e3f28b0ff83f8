/**
 * One contract for every mailer, run against the outbox (reading back the `.eml` it wrote) and SMTP
 * (a real smtp-server peer on a random loopback port, without TLS or auth). Both deliver a raw RFC 5322
 * message; the contract parses it and checks headers and bodies.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { SMTPServer } from 'smtp-server'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createMailer, InvalidMailMessage, MailConfigError, type Mailer } from './index.js'

const silent = pino({ level: 'silent' })
const FROM = 'Truss <no-reply@truss.test>'

interface Delivered {
  /** The message as stored or received, CRLF line ends. */
  raw: string
  /** SMTP envelope recipients, when the transport has an envelope. */
  recipients?: string[]
}

export interface MailerContractOptions {
  makeMailer: () => Promise<Mailer>
  /** The next message the mailer delivered, oldest first. */
  nextDelivered: () => Promise<Delivered>
}

export function mailerContract(name: string, { makeMailer, nextDelivered }: MailerContractOptions): void {
  describe(`mailer contract: ${name}`, () => {
    let mailer: Mailer

    beforeAll(async () => {
      mailer = await makeMailer()
    })
    afterAll(async () => {
      await mailer?.close()
    })

    it('delivers a plain-text message with the RFC 5322 headers', async () => {
      const sent = await mailer.send({
        to: 'ada@example.com',
        subject: 'Welcome to Truss',
        text: 'Hello Ada,\nwelcome.',
      })
      const { raw, recipients } = await nextDelivered()
      const mail = parseMessage(raw)
      expect(mail.header('from')).toBe(FROM)
      expect(mail.header('to')).toBe('ada@example.com')
      expect(mail.header('subject')).toBe('Welcome to Truss')
      expect(mail.header('message-id')).toBe(sent.messageId)
      expect(mail.header('mime-version')).toBe('1.0')
      expect(Number.isNaN(Date.parse(mail.header('date') ?? ''))).toBe(false)
      expect(mail.header('content-type')).toMatch(/^text\/plain/)
      expect(mail.text).toBe('Hello Ada,\r\nwelcome.')
      if (recipients) expect(recipients).toEqual(['ada@example.com'])
    })

    it('uses CRLF line ends only', async () => {
      await mailer.send({ to: 'crlf@example.com', subject: 'Lines', text: 'one\ntwo\nthree' })
      const { raw } = await nextDelivered()
      expect(raw).not.toMatch(/[^\r]\n/)
    })

    it('carries a unicode subject and body, and long lines, intact', async () => {
      const text = `Modèle « Façade » mis à jour ✓ 模型 🏗️ ${'long line '.repeat(30)}`
      await mailer.send({ to: 'zoë@example.com', subject: 'Révision 3 — 模型 🏗️', text })
      const mail = parseMessage((await nextDelivered()).raw)
      expect(mail.header('subject')).toBe('Révision 3 — 模型 🏗️')
      expect(mail.text).toBe(text)
    })

    it('sends html with its text alternative, and honours a message’s own sender', async () => {
      await mailer.send({
        to: 'Grace Hopper <grace@example.com>',
        from: 'Projects <projects@truss.test>',
        subject: 'Invitation',
        text: 'Join the project.',
        html: '<p>Join <b>the project</b>.</p>',
      })
      const { raw, recipients } = await nextDelivered()
      const mail = parseMessage(raw)
      expect(mail.header('from')).toBe('Projects <projects@truss.test>')
      expect(mail.header('to')).toBe('Grace Hopper <grace@example.com>')
      expect(mail.header('content-type')).toMatch(/^multipart\/alternative/)
      expect(mail.text).toBe('Join the project.')
      expect(mail.html).toBe('<p>Join <b>the project</b>.</p>')
      if (recipients) expect(recipients).toEqual(['grace@example.com'])
    })

    it('refuses a message without an address or with a line break in a header', async () => {
      await expect(mailer.send({ to: 'nobody', subject: 's', text: 't' })).rejects.toBeInstanceOf(InvalidMailMessage)
      await expect(
        mailer.send({ to: 'a@example.com', subject: 'hi\r\nBcc: victim@example.com', text: 't' }),
      ).rejects.toBeInstanceOf(InvalidMailMessage)
    })
  })
}

// ---- a small RFC 5322 / MIME reader, enough for what the mailers write ----

interface ParsedMessage {
  header(name: string): string | undefined
  text?: string
  html?: string
}

function parseMessage(raw: string): ParsedMessage {
  const { headers, body } = splitEntity(raw)
  const parsed: ParsedMessage = { header: (name) => headers.get(name.toLowerCase()) }
  // The last CRLF ends the message, it is not part of the body.
  collectBodies(headers, body.replace(/\r\n$/, ''), parsed)
  return parsed
}

function splitEntity(raw: string): { headers: Map<string, string>; body: string } {
  const end = raw.indexOf('\r\n\r\n')
  const head = raw.slice(0, end).replace(/\r\n[ \t]+/g, ' ')
  const headers = new Map<string, string>()
  for (const line of head.split('\r\n')) {
    const colon = line.indexOf(':')
    headers.set(line.slice(0, colon).trim().toLowerCase(), decodeWords(line.slice(colon + 1).trim()))
  }
  return { headers, body: raw.slice(end + 4) }
}

function collectBodies(headers: Map<string, string>, body: string, into: ParsedMessage): void {
  const type = headers.get('content-type') ?? 'text/plain'
  const boundary = /boundary="?([^";]+)"?/.exec(type)?.[1]
  if (type.startsWith('multipart/') && boundary) {
    const parts = body.split(`--${boundary}`).slice(1, -1)
    for (const part of parts) {
      const entity = splitEntity(part.replace(/^\r\n/, ''))
      collectBodies(entity.headers, entity.body.replace(/\r\n$/, ''), into)
    }
    return
  }
  const decoded = decodeBody(body, headers.get('content-transfer-encoding') ?? '7bit')
  if (type.startsWith('text/html')) into.html = decoded
  else if (type.startsWith('text/plain')) into.text = decoded
}

function decodeBody(body: string, encoding: string): string {
  switch (encoding.toLowerCase()) {
    case 'base64':
      return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8')
    case 'quoted-printable':
      return decodeQuotedPrintable(body.replace(/=\r\n/g, ''))
    default:
      return body
  }
}

function decodeQuotedPrintable(text: string): string {
  const bytes: number[] = []
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '=' && /^[0-9A-F]{2}$/i.test(text.slice(i + 1, i + 3))) {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16))
      i += 2
    } else {
      bytes.push(...Buffer.from(text[i], 'utf8'))
    }
  }
  return Buffer.from(bytes).toString('utf8')
}

/** RFC 2047 encoded words; whitespace between two encoded words is not part of the text. */
function decodeWords(value: string): string {
  return value
    .replace(/(\?=)\s+(=\?)/g, '$1$2')
    .replace(/=\?([^?]+)\?([QqBb])\?([^?]*)\?=/g, (_all, _charset: string, kind: string, data: string) =>
      kind.toUpperCase() === 'B'
        ? Buffer.from(data, 'base64').toString('utf8')
        : decodeQuotedPrintable(data.replace(/_/g, ' ')),
    )
}

// ---- the outbox ----

let outboxDataDir = ''
const outboxLines: Record<string, unknown>[] = []
const logCapture = new Writable({
  write(chunk: Buffer, _encoding, done) {
    outboxLines.push(JSON.parse(chunk.toString()) as Record<string, unknown>)
    done()
  },
})
const seenFiles = new Set<string>()

async function nextOutboxFile(): Promise<Delivered> {
  const folder = path.join(outboxDataDir, 'outbox')
  // Names sort by time; within one millisecond the random suffix decides, so track what was read.
  const fresh = (await readdir(folder)).filter((name) => name.endsWith('.eml') && !seenFiles.has(name)).sort()
  if (fresh.length !== 1) throw new Error(`expected one new .eml file, found ${fresh.length}`)
  seenFiles.add(fresh[0])
  return { raw: await readFile(path.join(folder, fresh[0]), 'utf8') }
}

mailerContract('outbox', {
  makeMailer: async () => {
    outboxDataDir = await mkdtemp(path.join(tmpdir(), 'truss-outbox-'))
    return createMailer({ dataDir: outboxDataDir, from: FROM, logger: pino(logCapture) })
  },
  nextDelivered: nextOutboxFile,
})

describe('outbox mailer', () => {
  afterAll(async () => {
    if (outboxDataDir) await rm(outboxDataDir, { recursive: true, force: true })
  })

  it('names files <timestamp>-<id>.eml and logs one structured line per message', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'truss-outbox-'))
    const lines: Record<string, unknown>[] = []
    const capture = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>)
        done()
      },
    })
    const mailer = await createMailer({ dataDir, logger: pino(capture) })
    const { messageId } = await mailer.send({ to: 'ops@example.com', subject: 'Reset your password', text: 'x' })
    const [name] = await readdir(path.join(dataDir, 'outbox'))
    expect(name).toMatch(/^\d{8}T\d{9}Z-[0-9a-f]{12}\.eml$/)
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatchObject({
      msg: 'mail written to outbox',
      to: 'ops@example.com',
      subject: 'Reset your password',
      file: path.join(dataDir, 'outbox', name),
      messageId,
    })
    const raw = await readFile(path.join(dataDir, 'outbox', name), 'utf8')
    expect(parseMessage(raw).header('from')).toBe('Truss <no-reply@localhost>')
    await mailer.close()
    await rm(dataDir, { recursive: true, force: true })
  })

  it('logged every contract message with its file', () => {
    expect(outboxLines.length).toBeGreaterThanOrEqual(4)
    for (const line of outboxLines) expect(line).toHaveProperty('file')
  })
})

// ---- SMTP, against a real smtp-server peer ----

const received: Delivered[] = []
let smtpServer: SMTPServer | undefined
let smtpPort = 0

async function startSmtpPeer(): Promise<number> {
  if (smtpPort) return smtpPort
  smtpServer = new SMTPServer({
    // Plain loopback: no STARTTLS to upgrade to, no AUTH to offer.
    disabledCommands: ['STARTTLS', 'AUTH'],
    authOptional: true,
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = []
      stream.on('data', (chunk: Buffer) => chunks.push(chunk))
      stream.on('end', () => {
        received.push({
          raw: Buffer.concat(chunks).toString('utf8'),
          recipients: session.envelope.rcptTo.map((rcpt) => rcpt.address),
        })
        callback()
      })
    },
  })
  const server = smtpServer
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  smtpPort = (server.server.address() as AddressInfo).port
  return smtpPort
}

async function nextReceived(): Promise<Delivered> {
  // sendMail resolves once the peer accepted the DATA, which is after onData saw the end.
  const next = received.shift()
  if (!next) throw new Error('the SMTP peer received nothing')
  return next
}

mailerContract('smtp (smtp-server)', {
  makeMailer: async () =>
    createMailer({ smtpUrl: `smtp://127.0.0.1:${await startSmtpPeer()}`, from: FROM, logger: silent }),
  nextDelivered: nextReceived,
})

describe('smtp mailer', () => {
  afterAll(async () => {
    await new Promise<void>((resolve) => (smtpServer ? smtpServer.close(resolve) : resolve()))
  })

  it('names SMTP_URL for a malformed URL without echoing the password', async () => {
    const error = await createMailer({ smtpUrl: 'mail://user:sekret-value@host', logger: silent }).catch((e) => e)
    expect(error).toBeInstanceOf(MailConfigError)
    expect((error as MailConfigError).variable).toBe('SMTP_URL')
    expect((error as Error).message).not.toContain('sekret-value')
  })

  it('names SMTP_URL when no server answers, without echoing the password', async () => {
    const error = await createMailer({ smtpUrl: 'smtp://user:sekret-value@127.0.0.1:9', logger: silent }).catch(
      (e) => e,
    )
    expect(error).toBeInstanceOf(MailConfigError)
    expect((error as Error).message).toContain('smtp://127.0.0.1:9')
    expect((error as Error).message).toContain('SMTP_URL')
    expect((error as Error).message).not.toContain('sekret-value')
  })
})
