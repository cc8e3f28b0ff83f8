import { describe, expect, it } from 'vitest'
import { placeholderPng } from './placeholders.js'
import { decodePng, encodePng, isPng } from './png.js'

describe('placeholders', () => {
  it('are valid, distinct PNGs of the preview size with something drawn on them', () => {
    const kinds = ['pending', 'unauthorized', 'notFound'] as const
    const pngs = kinds.map((kind) => placeholderPng(kind))
    for (const png of pngs) {
      expect(isPng(png)).toBe(true)
      const image = decodePng(png)
      expect([image.width, image.height, image.channels]).toEqual([700, 400, 3])
      const background = image.pixels[0]
      expect(image.pixels.some((v) => v !== background)).toBe(true)
    }
    expect(new Set(pngs.map((p) => p.toString('base64'))).size).toBe(3)
  })

  it('encodes pixels that decode back the same', () => {
    const pixels = Uint8Array.from({ length: 5 * 3 * 4 }, (_, i) => (i * 37) % 256)
    const image = decodePng(encodePng({ width: 5, height: 3, channels: 4, pixels }))
    expect(image).toEqual({ width: 5, height: 3, channels: 4, pixels })
  })
})
