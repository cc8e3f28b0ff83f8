/** The comments panel's pure parts: rich text as React elements, the viewer state a thread keeps, pin projection. */
import { createElement, Fragment } from 'react'
import { renderToStaticMarkup } from 'react-dom/server'
import { describe, expect, it } from 'vitest'
import {
  boxCentre,
  docFromText,
  isUnread,
  projectToScreen,
  readViewerState,
  serializeViewerState,
} from '../src/lib/comments.js'
import { renderCommentDoc, safeHref } from '../src/lib/rich-text.js'

const html = (doc: unknown) => renderToStaticMarkup(createElement(Fragment, null, renderCommentDoc(doc)))
const text = (t: string, marks?: unknown[]) => ({ type: 'text', text: t, ...(marks ? { marks } : {}) })
const doc = (...content: unknown[]) => ({ type: 'doc', content })
const para = (...content: unknown[]) => ({ type: 'paragraph', content })

describe('rich text as React elements', () => {
  it('escapes markup in text instead of making elements of it', () => {
    const hostile = '<img src=x onerror=window.__pwned=1><script>window.__pwned=1</script>'
    const out = html(docFromText(hostile))
    expect(out).toBe('<p>&lt;img src=x onerror=window.__pwned=1&gt;&lt;script&gt;window.__pwned=1&lt;/script&gt;</p>')
  })

  it('renders paragraphs, marks, hard breaks and mentions', () => {
    const out = html(
      doc(
        para(text('bold', [{ type: 'bold' }]), text(' and '), text('both', [{ type: 'italic' }, { type: 'strike' }])),
        para(text('line'), { type: 'hardBreak' }, { type: 'mention', attrs: { id: 'u1', label: 'Ada' } }),
      ),
    )
    expect(out).toBe(
      '<p><strong>bold</strong> and <s><em>both</em></s></p><p>line<br/><span class="mention">@Ada</span></p>',
    )
  })

  it('keeps http, https and mailto links, opened safely, and drops any other scheme', () => {
    const link = (href: string) => html(doc(para(text('x', [{ type: 'link', attrs: { href } }]))))
    expect(link('https://example.com/a?b=1')).toBe(
      '<p><a href="https://example.com/a?b=1" target="_blank" rel="noopener noreferrer nofollow">x</a></p>',
    )
    expect(link('mailto:ada@example.com')).toContain('href="mailto:ada@example.com"')
    for (const bad of ['javascript:alert(1)', ' JaVaScRiPt:alert(1)', 'data:text/html,<b>', 'vbscript:x', '/relative'])
      expect(link(bad)).toBe('<p>x</p>')
    expect(safeHref('http://a.example/"onmouseover="x')).toBe('http://a.example/%22onmouseover=%22x')
  })

  it('drops unknown nodes and attributes, and reads loose inline nodes as one paragraph', () => {
    const out = html({
      type: 'doc',
      content: [text('a'), { type: 'image', attrs: { src: 'x' } }, text('b', [{ type: 'onclick' }]), { nope: 1 }],
    })
    expect(out).toBe('<p>ab</p>')
    expect(html(null)).toBe('')
    expect(html({ type: 'html', content: '<b>' })).toBe('')
  })
})

describe('the viewer state a thread keeps', () => {
  it('round-trips camera, selection, anchor and section box in Speckle’s shape', () => {
    const state = serializeViewerState({
      projectId: 'p',
      resourceIdString: 'm@v',
      camera: { position: [1, 2, 3], target: [0, 0, 0], isOrthoProjection: false },
      selectedObjectIds: ['abc'],
      selection: [1, 1, 1],
      sectionBox: { min: [0, 0, 0], max: [2, 2, 2] },
    })
    expect(state).toMatchObject({
      projectId: 'p',
      resources: { request: { resourceIdString: 'm@v' } },
      ui: { camera: { position: [1, 2, 3], target: [0, 0, 0] }, selection: [1, 1, 1] },
    })
    expect(readViewerState(JSON.parse(JSON.stringify(state)))).toEqual({
      camera: { position: [1, 2, 3], target: [0, 0, 0] },
      selectedObjectIds: ['abc'],
      anchor: [1, 1, 1],
      sectionBox: { min: [0, 0, 0], max: [2, 2, 2] },
    })
  })

  it('reads nothing from a state another client wrote badly', () => {
    expect(readViewerState({ ui: { camera: { position: 'x' }, selection: [1, 'a', 2], filters: 3 } })).toEqual({
      camera: null,
      selectedObjectIds: [],
      anchor: null,
      sectionBox: null,
    })
    expect(readViewerState(null).anchor).toBeNull()
    expect(readViewerState({ ui: { selection: { x: 1, y: 2, z: 3 } } }).anchor).toEqual([1, 2, 3])
  })

  it('finds a box centre, and none for an empty box', () => {
    expect(boxCentre([0, 0, 0], [2, 4, 6])).toEqual([1, 2, 3])
    expect(boxCentre([Infinity, Infinity, Infinity], [-Infinity, -Infinity, -Infinity])).toBeNull()
  })

  it('calls a thread unread until viewed after its last change', () => {
    expect(isUnread({ viewedAt: null, updatedAt: '2026-01-01T00:00:00Z' })).toBe(true)
    expect(isUnread({ viewedAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-02T00:00:00Z' })).toBe(true)
    expect(isUnread({ viewedAt: '2026-01-03T00:00:00Z', updatedAt: '2026-01-02T00:00:00Z' })).toBe(false)
  })
})

describe('projecting a pin onto the canvas', () => {
  // A camera at (0, 0, 10) looking down -z: 90° field of view, square, near 1, far 100 (column-major).
  const view = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, -10, 1]
  const [n, f] = [1, 100]
  const projection = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, (f + n) / (n - f), -1, 0, 0, (2 * f * n) / (n - f), 0]

  it('puts the point looked at in the middle, and y grows downwards', () => {
    expect(projectToScreen([0, 0, 0], view, projection, 800, 600)).toEqual({ x: 400, y: 300 })
    const right = projectToScreen([5, 5, 0], view, projection, 800, 600)!
    expect(right.x).toBeCloseTo(600)
    expect(right.y).toBeCloseTo(150)
  })

  it('hides points behind the camera or outside the view', () => {
    expect(projectToScreen([0, 0, 20], view, projection, 800, 600)).toBeNull()
    expect(projectToScreen([30, 0, 0], view, projection, 800, 600)).toBeNull()
    expect(projectToScreen([0, 0, -200], view, projection, 800, 600)).toBeNull()
  })

  it('works with an orthographic camera (w stays 1)', () => {
    const ortho = [0.1, 0, 0, 0, 0, 0.1, 0, 0, 0, 0, -0.02, 0, 0, 0, -1, 1]
    const at = projectToScreen([5, 0, 0], view, ortho, 100, 100)!
    expect(at.x).toBeCloseTo(75)
    expect(at.y).toBeCloseTo(50)
  })
})
