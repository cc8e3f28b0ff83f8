import * as crypto from 'node:crypto'
import { gzip as zlibGzip, constants } from 'node:zlib'
import { registerGzip } from './gzip.js'
import { registerSha256 } from './hash.js'

// crypto.hash (Node >= 20.12) is the one-shot form: no Hash object per call, measurably faster for
// the ~1 KB texts of typical objects.
const oneShot = (crypto as { hash?: (alg: string, data: string, enc: 'hex') => string }).hash
registerSha256(
  oneShot
    ? (text) => oneShot('sha256', text, 'hex')
    : (text) => crypto.createHash('sha256').update(text, 'utf8').digest('hex'),
)

// Level 1: JSON compresses ~5x even at the fastest level, and upload speed is CPU-bound here.
registerGzip(
  (data) =>
    new Promise((resolve, reject) =>
      zlibGzip(data, { level: constants.Z_BEST_SPEED }, (err, out) => (err ? reject(err) : resolve(out))),
    ),
)
