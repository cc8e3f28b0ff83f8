/**
 * Mailer for one machine without SMTP: each message becomes an RFC 5322 `.eml` file in
 * `<dataDir>/outbox` (open it in any mail client) plus one log line saying where it is.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, rename, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { createTransport } from 'nodemailer'
import type { Logger } from 'pino'
import { assertValidMailMessage, type Mailer } from './types.js'

export interface OutboxMailerOptions {
  dataDir: string
  /** Sender for messages without their own `from`. */
  from: string
  logger: Logger
  /** Injected in tests; names the files. */
  now?: () => Date
}

export async function createOutboxMailer(options: OutboxMailerOptions): Promise<Mailer> {
  const folder = path.resolve(options.dataDir, 'outbox')
  await mkdir(folder, { recursive: true })
  const now = options.now ?? (() => new Date())
  // RFC 5322 wants CRLF line ends; nodemailer builds the MIME message, we only store it.
  const composer = createTransport({ streamTransport: true, buffer: true, newline: 'windows' })

  return {
    kind: 'outbox',

    async send(message) {
      assertValidMailMessage(message)
      const date = now()
      const info = await composer.sendMail({ ...message, from: message.from ?? options.from, date })
      const file = path.join(folder, `${fileStamp(date)}-${randomBytes(6).toString('hex')}.eml`)
      if (!Buffer.isBuffer(info.message)) throw new Error('nodemailer did not buffer the message')
      await writeAtomically(file, info.message)
      options.logger.info(
        { to: message.to, subject: message.subject, file, messageId: info.messageId },
        'mail written to outbox',
      )
      return { messageId: info.messageId }
    },

    async close() {
      composer.close()
    },
  }
}

/** `20260131T235959123Z`: sorts by time, and has no `:` (refused in Windows file names). */
function fileStamp(date: Date): string {
  return date.toISOString().replace(/[-:.]/g, '')
}

/** A mail client or a test watching the folder never sees half a message. */
async function writeAtomically(file: string, bytes: Buffer): Promise<void> {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.tmp`)
  try {
    await writeFile(temp, bytes, { flag: 'wx' })
    await rename(temp, file)
  } catch (error) {
    await rm(temp, { force: true })
    throw error
  }
}
