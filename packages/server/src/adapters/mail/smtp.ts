/**
 * Mailer over SMTP, configured by one URL (`smtp://user:pass@host:587`, `smtps://…:465`; nodemailer
 * reads options such as `?pool=true` from the query). The server is checked at start so a wrong
 * `SMTP_URL` fails the start, not the first password reset.
 */
import { createTransport } from 'nodemailer'
import type { Logger } from 'pino'
import { assertValidMailMessage, MailConfigError, type Mailer } from './types.js'

export interface SmtpMailerOptions {
  url: string
  /** Sender for messages without their own `from`. */
  from: string
  logger: Logger
}

/** nodemailer waits 2 minutes for a connection by default; a start-up check should fail sooner. */
const CONNECTION_TIMEOUT_MS = 10_000

export async function createSmtpMailer(options: SmtpMailerOptions): Promise<Mailer> {
  const where = redactedUrl(options.url)
  const transport = createTransport({
    url: options.url,
    connectionTimeout: CONNECTION_TIMEOUT_MS,
    greetingTimeout: CONNECTION_TIMEOUT_MS,
  })
  try {
    await transport.verify()
  } catch (error) {
    transport.close()
    const detail = error instanceof Error ? error.message : String(error)
    throw new MailConfigError(
      'SMTP_URL',
      `the SMTP server at ${where} refused or did not answer; check SMTP_URL (${detail})`,
      {
        cause: error,
      },
    )
  }

  return {
    kind: 'smtp',

    async send(message) {
      assertValidMailMessage(message)
      const info = await transport.sendMail({ ...message, from: message.from ?? options.from })
      options.logger.info({ to: message.to, subject: message.subject, messageId: info.messageId }, 'mail sent')
      return { messageId: info.messageId }
    },

    async close() {
      transport.close()
    },
  }
}

/** The URL without user and password, for messages; refuses what is not an SMTP URL. */
function redactedUrl(url: string): string {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new MailConfigError('SMTP_URL', 'SMTP_URL is not a valid URL (expected smtp://user:pass@host:587)')
  }
  if (parsed.protocol !== 'smtp:' && parsed.protocol !== 'smtps:') {
    throw new MailConfigError('SMTP_URL', 'SMTP_URL must start with smtp:// or smtps://')
  }
  return `${parsed.protocol}//${parsed.host}`
}
