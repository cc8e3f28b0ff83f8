import { createHash } from 'node:crypto'
import { gzip as zlibGzip, constants } from 'node:zlib'
import { registerGzip } from './gzip.js'
import { registerSha256 } from './hash.js'

registerSha256((text) => createHash('sha256').update(text, 'utf8').digest('hex'))

// Level 1: JSON compresses ~5x even at the fastest level, and upload speed is CPU-bound here.
registerGzip(
  (data) =>
    new Promise((resolve, reject) =>
      zlibGzip(data, { level: constants.Z_BEST_SPEED }, (err, out) => (err ? reject(err) : resolve(out))),
    ),
)
