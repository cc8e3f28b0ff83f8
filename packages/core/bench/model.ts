// Generated models for benchmarks: N mesh-like children of about 1 KB each under one root.
import { Base } from '../src/index.js'

/** A deterministic pseudo-random generator, so every run builds the same model. */
export function rng(seed = 42): () => number {
  let s = seed >>> 0
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0
    return s / 4294967296
  }
}

export function makeChild(i: number, rand: () => number): Base {
  const vertices = new Array<number>(60)
  for (let k = 0; k < 60; k++) vertices[k] = Math.round(rand() * 1e6) / 1000
  return new Base({
    speckle_type: 'Objects.Geometry.Mesh',
    applicationId: `element-${i}`,
    units: 'm',
    name: `Element ${i}`,
    vertices,
    faces: [3, 0, 1, 2, 3, 3, 4, 5, 3, 6, 7, 8],
    properties: { category: 'Walls', level: `Level ${i % 10}`, fireRating: 'EI60', area: rand() * 100 },
  })
}

export function makeModel(n: number, seed = 42): Base {
  const rand = rng(seed)
  const root = new Base({ name: `Benchmark model ${n}` })
  const children = new Array<Base>(n)
  for (let i = 0; i < n; i++) children[i] = makeChild(i, rand)
  root['@elements'] = children
  return root
}
