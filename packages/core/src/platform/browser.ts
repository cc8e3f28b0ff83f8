import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js'
import { registerSha256 } from './hash.js'

registerSha256((text) => bytesToHex(sha256(utf8ToBytes(text))))
