/**
 * The placeholder images Speckle's preview routes answer with (WIRE.md, "Previews"): "no preview yet"
 * while a render is pending, "401" for no access and "404" for an unknown project. Drawn here in code,
 * with a 5×7 pixel font, once per process.
 */
import { encodePng } from './png.js'

export type PlaceholderKind = 'pending' | 'unauthorized' | 'notFound'

const WIDTH = 700
const HEIGHT = 400
const BACKGROUND = [244, 245, 247] as const
const INK = [120, 126, 138] as const
const ACCENT = [190, 195, 204] as const

// Each glyph: 7 rows of 5 bits, most significant bit leftmost.
const FONT: Record<string, readonly number[]> = {
  ' ': [0, 0, 0, 0, 0, 0, 0],
  '0': [14, 17, 19, 21, 25, 17, 14],
  '1': [4, 12, 4, 4, 4, 4, 14],
  '4': [2, 6, 10, 18, 31, 2, 2],
  A: [14, 17, 17, 31, 17, 17, 17],
  C: [14, 17, 16, 16, 16, 17, 14],
  D: [30, 17, 17, 17, 17, 17, 30],
  E: [31, 16, 16, 30, 16, 16, 31],
  F: [31, 16, 16, 30, 16, 16, 16],
  I: [14, 4, 4, 4, 4, 4, 14],
  N: [17, 25, 21, 19, 17, 17, 17],
  O: [14, 17, 17, 17, 17, 17, 14],
  P: [30, 17, 17, 30, 16, 16, 16],
  R: [30, 17, 17, 30, 20, 18, 17],
  S: [15, 16, 16, 14, 1, 1, 30],
  T: [31, 4, 4, 4, 4, 4, 4],
  U: [17, 17, 17, 17, 17, 17, 14],
  V: [17, 17, 17, 17, 17, 10, 4],
  W: [17, 17, 17, 21, 21, 21, 10],
  Y: [17, 17, 10, 4, 4, 4, 4],
}

const TEXT: Record<PlaceholderKind, { big: string; small: string }> = {
  pending: { big: '', small: 'NO PREVIEW YET' },
  unauthorized: { big: '401', small: 'NO ACCESS' },
  notFound: { big: '404', small: 'NOT FOUND' },
}

class Canvas {
  readonly pixels = new Uint8Array(WIDTH * HEIGHT * 3)

  constructor() {
    this.rect(0, 0, WIDTH, HEIGHT, BACKGROUND)
  }

  rect(x0: number, y0: number, w: number, h: number, colour: readonly number[]): void {
    for (let y = Math.max(0, y0); y < Math.min(HEIGHT, y0 + h); y++) {
      for (let x = Math.max(0, x0); x < Math.min(WIDTH, x0 + w); x++) this.pixels.set(colour, (y * WIDTH + x) * 3)
    }
  }

  /** Text centred on `cy`, each font pixel `scale` pixels wide, one blank column between glyphs. */
  text(value: string, cy: number, scale: number, colour: readonly number[]): void {
    const advance = 6 * scale
    let x = Math.round((WIDTH - (value.length * advance - scale)) / 2)
    const top = Math.round(cy - (7 * scale) / 2)
    for (const ch of value) {
      const rows = FONT[ch] ?? FONT[' ']!
      rows.forEach((bits, row) => {
        for (let col = 0; col < 5; col++) {
          if (bits & (16 >> col)) this.rect(x + col * scale, top + row * scale, scale, scale, colour)
        }
      })
      x += advance
    }
  }

  /** A square frame: the outline of an empty picture. */
  frame(cx: number, cy: number, size: number, thickness: number, colour: readonly number[]): void {
    const x = cx - size / 2
    const y = cy - size / 2
    this.rect(x, y, size, thickness, colour)
    this.rect(x, y + size - thickness, size, thickness, colour)
    this.rect(x, y, thickness, size, colour)
    this.rect(x + size - thickness, y, thickness, size, colour)
  }
}

function draw(kind: PlaceholderKind): Buffer {
  const canvas = new Canvas()
  const { big, small } = TEXT[kind]
  if (big === '') {
    canvas.frame(WIDTH / 2, 160, 120, 8, ACCENT)
    canvas.rect(WIDTH / 2 - 30, 170, 60, 8, ACCENT)
    canvas.rect(WIDTH / 2 - 30, 140, 16, 16, ACCENT)
  } else {
    canvas.text(big, 160, 14, ACCENT)
  }
  canvas.text(small, 290, 5, INK)
  return encodePng({ width: WIDTH, height: HEIGHT, channels: 3, pixels: canvas.pixels })
}

const cache = new Map<PlaceholderKind, Buffer>()

/** The placeholder PNG of a kind (drawn on first use, then the same bytes). */
export function placeholderPng(kind: PlaceholderKind): Buffer {
  let png = cache.get(kind)
  if (png === undefined) {
    png = draw(kind)
    cache.set(kind, png)
  }
  return png
}
