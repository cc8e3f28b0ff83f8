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
