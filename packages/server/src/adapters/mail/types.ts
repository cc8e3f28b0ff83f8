/**
 * Mail interface: `.eml` files in `<data-dir>/outbox` (plus a log line) on one machine; SMTP via
 * nodemailer when `SMTP_URL` is set.
 */

export interface MailMessage {
  to: string
  subject: string
  text: string
  html?: string
  /** Defaults to the configured sender. */
  from?: string
}

export interface Mailer {
  readonly kind: 'outbox' | 'smtp'
  /** Deliver (or write) the message; resolves to an id for logs. */
  send(message: MailMessage): Promise<{ messageId: string }>
  close(): Promise<void>
}

/** The mail configuration is unusable; `variable` names the setting to fix. */
export class MailConfigError extends Error {
  readonly code = 'CONFIG'
  constructor(
    readonly variable: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = 'MailConfigError'
  }
}

/** A message no mailer would send: no recipient, or a line break where a header would get it. */
export class InvalidMailMessage extends Error {
  readonly code = 'BAD_USER_INPUT'
  constructor(reason: string) {
    super(`invalid mail message: ${reason}`)
    this.name = 'InvalidMailMessage'
  }
}

/** Both mailers check messages alike; a line break in a header value could inject headers. */
export function assertValidMailMessage(message: MailMessage): void {
  if (!/^[^\s@]+@[^\s@]+$/.test(message.to.replace(/^.*<(.*)>\s*$/, '$1'))) {
    throw new InvalidMailMessage('`to` is not an e-mail address')
  }
  for (const field of ['to', 'subject', 'from'] as const) {
    if (/[\r\n]/.test(message[field] ?? '')) throw new InvalidMailMessage(`\`${field}\` contains a line break`)
  }
}
