/**
 * Mail adapter: sends account and notification mail. `.eml` files in `<dataDir>/outbox` plus a log
 * line on one machine; SMTP via nodemailer when `SMTP_URL` is set.
 */
import { pino, type Logger } from 'pino'
import { createOutboxMailer } from './outbox.js'
import { createSmtpMailer } from './smtp.js'
import { MailConfigError, type Mailer } from './types.js'

export * from './types.js'
export { createOutboxMailer, type OutboxMailerOptions } from './outbox.js'
export { createSmtpMailer, type SmtpMailerOptions } from './smtp.js'

const DEFAULT_FROM = 'Truss <no-reply@localhost>'

export async function createMailer(options: {
  dataDir?: string
  smtpUrl?: string
  from?: string
  logger?: Logger
}): Promise<Mailer> {
  const from = options.from ?? DEFAULT_FROM
  const logger = options.logger ?? pino({ name: 'mail' })
  if (options.smtpUrl) return createSmtpMailer({ url: options.smtpUrl, from, logger })
  if (options.dataDir) return createOutboxMailer({ dataDir: options.dataDir, from, logger })
  throw new MailConfigError('SMTP_URL', 'mail needs a data directory for its outbox, or SMTP_URL')
}
