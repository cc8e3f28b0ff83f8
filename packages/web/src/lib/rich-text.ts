/**
 * A comment's rich text (the ProseMirror doc the server stores: paragraphs, text with bold / italic /
 * underline / strike / link marks, hard breaks, mentions) as React elements. Text is only ever a React
 * child, so React escapes it; links survive only with an http(s) or mailto address. Anything unknown is
 * dropped, because another client may have written the doc. (createElement, not JSX: the root typecheck
 * reads this file through the unit tests, without a JSX setting.)
 */
import { createElement as h, Fragment, type ReactNode } from 'react'

type Json = Record<string, unknown>
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)
const list = (v: unknown): Json[] => (Array.isArray(v) ? v.filter(isObject) : [])

/** The address a link may have, or null: http, https and mailto only. */
export function safeHref(href: unknown): string | null {
  if (typeof href !== 'string') return null
  const trimmed = href.trim()
  if (!/^(https?:\/\/|mailto:)/i.test(trimmed)) return null
  try {
    const url = new URL(trimmed)
    return ['http:', 'https:', 'mailto:'].includes(url.protocol) ? url.href : null
  } catch {
    return null
  }
}

const MARK_TAGS = { bold: 'strong', italic: 'em', underline: 'u', strike: 's' } as const

function inline(node: Json, key: number): ReactNode {
  switch (node.type) {
    case 'text': {
      if (typeof node.text !== 'string') return null
      let out: ReactNode = node.text
      for (const mark of list(node.marks)) {
        if (mark.type === 'link') {
          const href = safeHref(isObject(mark.attrs) ? mark.attrs.href : null)
          if (href) out = h('a', { href, target: '_blank', rel: 'noopener noreferrer nofollow' }, out)
        } else if (typeof mark.type === 'string' && mark.type in MARK_TAGS) {
          out = h(MARK_TAGS[mark.type as keyof typeof MARK_TAGS], null, out)
        }
      }
      return h(Fragment, { key }, out)
    }
    case 'hardBreak':
      return h('br', { key })
    case 'mention': {
      const attrs = isObject(node.attrs) ? node.attrs : {}
      const label = typeof attrs.label === 'string' ? attrs.label : typeof attrs.id === 'string' ? attrs.id : ''
      return h('span', { key, className: 'mention' }, `@${label}`)
    }
    case 'emailMention': {
      const attrs = isObject(node.attrs) ? node.attrs : {}
      return typeof attrs.email === 'string' ? h('span', { key, className: 'mention' }, attrs.email) : null
    }
    default:
      return null
  }
}

/** The doc as paragraphs; loose inline nodes (a single-line editor's doc) make one paragraph. */
export function renderCommentDoc(doc: unknown): ReactNode {
  if (!isObject(doc) || doc.type !== 'doc') return null
  const paragraphs: Json[][] = []
  let loose: Json[] | null = null
  for (const node of list(doc.content)) {
    if (node.type === 'paragraph') {
      paragraphs.push(list(node.content))
      loose = null
    } else {
      if (loose === null) paragraphs.push((loose = []))
      loose.push(node)
    }
  }
  return paragraphs.map((nodes, i) => h('p', { key: i }, nodes.map(inline)))
}

/** A comment's body: its doc, or its plain text when it has none. */
export function CommentText({ doc, fallback }: { doc: unknown; fallback: string | null }) {
  const rendered = renderCommentDoc(doc)
  return h('div', { className: 'comment-text' }, rendered ?? h('p', null, fallback ?? ''))
}
