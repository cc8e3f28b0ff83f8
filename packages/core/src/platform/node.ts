import { createHash } from 'node:crypto'
import { registerSha256 } from './hash.js'

registerSha256((text) => createHash('sha256').update(text, 'utf8').digest('hex'))
