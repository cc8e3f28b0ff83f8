/**
 * The smallest PNG codec the previews need: encode 8-bit RGB(A) pixels (placeholders), and decode the
 * PNGs Chromium writes (8-bit RGB or RGBA, any filter, not interlaced) so images can be checked.
 */
import { crc32, deflateSync, inflateSync } from 'node:zlib'

export interface Image {
  width: number
  height: number
  /** 3 (RGB) or 4 (RGBA) bytes a pixel, rows top to bottom. */
  channels: 3 | 4
  pixels: Uint8Array
}

const SIGNATURE = Buffer.from([137, 80, 78, 71, 13, 10, 26, 10])

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8)
  head.writeUInt32BE(data.length, 0)
  head.write(type, 4, 'latin1')
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(data, crc32(head.subarray(4))) >>> 0, 0)
  return Buffer.concat([head, data, crc])
}

export function encodePng(image: Image): Buffer {
  const { width, height, channels, pixels } = image
  if (pixels.length !== width * height * channels) throw new Error('pixel buffer does not match the image size')
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(width, 0)
  ihdr.writeUInt32BE(height, 4)
  ihdr[8] = 8
  ihdr[9] = channels === 4 ? 6 : 2
  const stride = width * channels
  // Filter type 0 (none) on every row: placeholders are flat colour, deflate does the rest.
  const raw = Buffer.alloc((stride + 1) * height)
  for (let y = 0; y < height; y++) raw.set(pixels.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1)
  return Buffer.concat([
    SIGNATURE,
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ])
}

/** Whether `bytes` start with the PNG signature and an IHDR chunk. */
export function isPng(bytes: Uint8Array): boolean {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)
  return b.length > 33 && b.subarray(0, 8).equals(SIGNATURE) && b.toString('latin1', 12, 16) === 'IHDR'
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c
  const pa = Math.abs(p - a)
  const pb = Math.abs(p - b)
  const pc = Math.abs(p - c)
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c
}

export function decodePng(bytes: Uint8Array): Image {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)
  if (!isPng(b)) throw new Error('not a PNG')
  let width = 0
  let height = 0
  let channels: 3 | 4 = 4
  const idat: Buffer[] = []
  for (let at = 8; at + 8 <= b.length;) {
    const length = b.readUInt32BE(at)
    const type = b.toString('latin1', at + 4, at + 8)
    const data = b.subarray(at + 8, at + 8 + length)
    if (type === 'IHDR') {
      width = data.readUInt32BE(0)
      height = data.readUInt32BE(4)
      if (data[8] !== 8 || (data[9] !== 2 && data[9] !== 6) || data[12] !== 0) {
        throw new Error(`unsupported PNG: depth ${data[8]}, colour type ${data[9]}, interlace ${data[12]}`)
      }
      channels = data[9] === 6 ? 4 : 3
    } else if (type === 'IDAT') idat.push(data)
    else if (type === 'IEND') break
    at += 12 + length
  }
  const raw = inflateSync(Buffer.concat(idat))
  const stride = width * channels
  const pixels = new Uint8Array(stride * height)
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]
    const row = y * stride
    const prev = row - stride
    for (let x = 0; x < stride; x++) {
      const v = raw[y * (stride + 1) + 1 + x]!
      const a = x >= channels ? pixels[row + x - channels]! : 0
      const up = y > 0 ? pixels[prev + x]! : 0
      const c = x >= channels && y > 0 ? pixels[prev + x - channels]! : 0
      const predicted =
        filter === 0 ? 0 : filter === 1 ? a : filter === 2 ? up : filter === 3 ? (a + up) >> 1 : paeth(a, up, c)
      pixels[row + x] = (v + predicted) & 255
    }
  }
  return { width, height, channels, pixels }
}
