/**
 * Comment text: the ProseMirror (tiptap) document Speckle's viewer sends, checked against the nodes and marks
 * its editor has (frontend-2 `getEditorExtensions`: paragraph, text, hardBreak, mention, emailMention; bold,
 * italic, underline, strike, link), rebuilt from only the fields those carry, and rendered to plain text or
 * to HTML where every character of user text is escaped. Anything else is refused with `BadUserInput`.
 */
import { BadUserInput } from '../../errors.js'

export interface TextNode {
  type: 'text'
  text: string
  marks?: Mark[]
}
export type Mark =
  | { type: 'bold' | 'italic' | 'underline' | 'strike' }
  | { type: 'link'; attrs: { href: string; target: string | null } }
export type InlineNode =
  | TextNode
  | { type: 'hardBreak' }
  | { type: 'mention'; attrs: { id: string; label: string | null } }
  | { type: 'emailMention'; attrs: { email: string } }
export interface ParagraphNode {
  type: 'paragraph'
  content?: InlineNode[]
}
export interface CommentDoc {
  type: 'doc'
  /** Paragraphs; a single-line editor (Speckle's `InlineDoc`) sends inline nodes straight in the doc. */
  content?: (ParagraphNode | InlineNode)[]
}

/** Speckle's SmartTextEditorValue as stored: the doc and the ids of attached blobs. */
export interface CommentText {
  version: string
  type: string
  doc: CommentDoc | null
  blobIds: string[]
}

export const COMMENT_TEXT_VERSION = '1.0.0'
export const COMMENT_TEXT_TYPE = 'stream_comment'

const LIMITS = { textChars: 20_000, nodes: 5_000, blobIds: 20, attr: 2_048 } as const
const SIMPLE_MARKS = new Set(['bold', 'italic', 'underline', 'strike'])
// As Speckle's editor: only http(s) links (no javascript:, data:, vbscript: …).
const HTTP_URL = /^https?:\/\/[^\s<>"'`]+$/i
const LINK_TARGETS = new Set(['_blank', '_self', '_parent', '_top'])
// PostgreSQL's jsonb cannot hold U+0000, and other C0 controls (but tab and newline) have no place in text.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u0008\u000B-\u001F\u007F]/g

type Json = Record<string, unknown>
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)

function refuse(reason: string): never {
  throw new BadUserInput(`Invalid comment text: ${reason}`)
}

function attrString(v: unknown, name: string, required: boolean): string | null {
  if (v === undefined || v === null) {
    if (required) refuse(`${name} is required`)
    return null
  }
  if (typeof v !== 'string') refuse(`${name} must be a string`)
  if (v.length > LIMITS.attr) refuse(`${name} is too long`)
  return v.replace(CONTROL_CHARS, '')
}

interface Budget {
  nodes: number
  chars: number
}

function count(budget: Budget, chars = 0): void {
  budget.nodes += 1
  budget.chars += chars
  if (budget.nodes > LIMITS.nodes) refuse('too many nodes')
  if (budget.chars > LIMITS.textChars) refuse(`longer than ${LIMITS.textChars} characters`)
}

function parseMarks(v: unknown): Mark[] | undefined {
  if (v === undefined || v === null) return undefined
  if (!Array.isArray(v)) refuse('marks must be a list')
  const marks: Mark[] = []
  for (const m of v) {
    if (!isObject(m) || typeof m.type !== 'string') refuse('a mark has no type')
    if (SIMPLE_MARKS.has(m.type)) {
      marks.push({ type: m.type as 'bold' })
    } else if (m.type === 'link') {
      const attrs = isObject(m.attrs) ? m.attrs : {}
      const href = attrString(attrs.href, 'link href', true)!.trim()
      if (!HTTP_URL.test(href)) refuse('links must be http(s) URLs')
      const target = attrString(attrs.target, 'link target', false)
      marks.push({ type: 'link', attrs: { href, target: target !== null && LINK_TARGETS.has(target) ? target : null } })
    } else {
      refuse(`unknown mark type ${JSON.stringify(m.type.slice(0, 40))}`)
    }
  }
  return marks.length > 0 ? marks : undefined
}

function parseInline(node: Json, budget: Budget): InlineNode | null {
  switch (node.type) {
    case 'text': {
      if (typeof node.text !== 'string') refuse('a text node’s text must be a string')
      const text = node.text.replace(CONTROL_CHARS, '')
      count(budget, text.length)
      if (text === '') return null
      const marks = parseMarks(node.marks)
      return marks ? { type: 'text', text, marks } : { type: 'text', text }
    }
    case 'hardBreak':
      count(budget, 1)
      return { type: 'hardBreak' }
    case 'mention': {
      const attrs = isObject(node.attrs) ? node.attrs : {}
      const id = attrString(attrs.id, 'mention id', true)!
      const label = attrString(attrs.label, 'mention label', false)
      count(budget, (label ?? id).length)
      return { type: 'mention', attrs: { id, label } }
    }
    case 'emailMention': {
      const attrs = isObject(node.attrs) ? node.attrs : {}
      const email = attrString(attrs.email, 'mention email', true)!
      count(budget, email.length)
      return { type: 'emailMention', attrs: { email } }
    }
    default:
      return refuse(`unknown node type ${JSON.stringify(String(node.type).slice(0, 40))}`)
  }
}

const INLINE_TYPES = new Set(['text', 'hardBreak', 'mention', 'emailMention'])

function parseContent(v: unknown): Json[] {
  if (v === undefined || v === null) return []
  if (!Array.isArray(v)) refuse('content must be a list')
  return v.map((n) => {
    if (!isObject(n) || typeof n.type !== 'string') refuse('a node has no type')
    return n
  })
}

/** Check and rebuild a document; throws `BadUserInput` for anything the editor would not have produced. */
export function parseCommentDoc(value: unknown): CommentDoc {
  if (!isObject(value) || value.type !== 'doc') refuse('the document must be a ProseMirror doc')
  const budget: Budget = { nodes: 0, chars: 0 }
  const content: (ParagraphNode | InlineNode)[] = []
  for (const node of parseContent(value.content)) {
    if (node.type === 'paragraph') {
      count(budget, 1)
      const inline: InlineNode[] = []
      for (const child of parseContent(node.content)) {
        if (!INLINE_TYPES.has(child.type as string))
          refuse(`unknown node type ${JSON.stringify(String(child.type).slice(0, 40))}`)
        const parsed = parseInline(child, budget)
        if (parsed) inline.push(parsed)
      }
      content.push(inline.length > 0 ? { type: 'paragraph', content: inline } : { type: 'paragraph' })
    } else if (INLINE_TYPES.has(node.type as string)) {
      const parsed = parseInline(node, budget)
      if (parsed) content.push(parsed)
    } else {
      refuse(`unknown node type ${JSON.stringify(String(node.type).slice(0, 40))}`)
    }
  }
  return content.length > 0 ? { type: 'doc', content } : { type: 'doc' }
}

function inlineNodes(doc: CommentDoc | null): InlineNode[][] {
  const out: InlineNode[][] = []
  let loose: InlineNode[] | null = null
  for (const node of doc?.content ?? []) {
    if (node.type === 'paragraph') {
      out.push(node.content ?? [])
      loose = null
    } else {
      if (loose === null) out.push((loose = []))
      loose.push(node)
    }
  }
  return out
}

function inlineText(node: InlineNode): string {
  switch (node.type) {
    case 'text':
      return node.text
    case 'hardBreak':
      return '\n'
    case 'mention':
      return `@${node.attrs.label ?? node.attrs.id}`
    case 'emailMention':
      return node.attrs.email
  }
}

/** Plain text: paragraphs on their own lines, mentions as `@label` (Speckle's `rawText`). */
export function toPlainText(doc: CommentDoc | null): string {
  return inlineNodes(doc)
    .map((line) => line.map(inlineText).join(''))
    .join('\n')
    .trim()
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }
export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!)

/** The only tags `toSafeHtml` writes. */
export const SAFE_HTML_TAGS = ['p', 'br', 'strong', 'em', 'u', 's', 'a', 'span'] as const

const MARK_TAGS = { bold: 'strong', italic: 'em', underline: 'u', strike: 's' } as const

function inlineHtml(node: InlineNode): string {
  switch (node.type) {
    case 'text': {
      let html = escapeHtml(node.text)
      for (const mark of node.marks ?? []) {
        if (mark.type === 'link') {
          // Re-checked at render: a doc stored by an older or foreign writer gets the same guarantee.
          if (!HTTP_URL.test(mark.attrs.href)) continue
          html = `<a href="${escapeHtml(mark.attrs.href)}" rel="noopener noreferrer nofollow" target="_blank">${html}</a>`
        } else {
          const tag = MARK_TAGS[mark.type]
          html = `<${tag}>${html}</${tag}>`
        }
      }
      return html
    }
    case 'hardBreak':
      return '<br>'
    case 'mention':
      return `<span class="mention" data-user-id="${escapeHtml(node.attrs.id)}">@${escapeHtml(node.attrs.label ?? node.attrs.id)}</span>`
    case 'emailMention':
      return `<span class="mention">${escapeHtml(node.attrs.email)}</span>`
  }
}

/** HTML for e-mails and previews: only `SAFE_HTML_TAGS`, every attribute value and text escaped. */
export function toSafeHtml(doc: CommentDoc | null): string {
  return inlineNodes(doc)
    .map((line) => `<p>${line.map(inlineHtml).join('')}</p>`)
    .join('')
}

/** The user ids a document mentions, once each. */
export function mentionedUserIds(doc: CommentDoc | null): string[] {
  const ids = new Set<string>()
  for (const line of inlineNodes(doc)) for (const n of line) if (n.type === 'mention') ids.add(n.attrs.id)
  return [...ids]
}

/**
 * Speckle's `CommentContentInput` ({ doc, blobIds }) to the stored value. A comment needs text or an
 * attachment (Speckle refuses one with neither).
 */
export function buildCommentText(content: unknown): CommentText {
  if (!isObject(content)) refuse('content is required')
  const doc = content.doc === undefined || content.doc === null ? null : parseCommentDoc(content.doc)
  const rawIds = content.blobIds ?? []
  if (!Array.isArray(rawIds) || !rawIds.every((id) => typeof id === 'string')) refuse('blobIds must be strings')
  const blobIds = [...new Set(rawIds as string[])]
  if (blobIds.length > LIMITS.blobIds) refuse(`at most ${LIMITS.blobIds} attachments`)
  if (toPlainText(doc) === '' && blobIds.length === 0) refuse('a comment needs text or an attachment')
  return { version: COMMENT_TEXT_VERSION, type: COMMENT_TEXT_TYPE, doc, blobIds }
}

/** A plain string as a one-paragraph document (legacy clients). */
export function docFromPlainText(text: string): CommentDoc {
  const lines = text.replace(CONTROL_CHARS, '').split('\n')
  return {
    type: 'doc',
    content: lines.map((line) =>
      line === '' ? { type: 'paragraph' } : { type: 'paragraph', content: [{ type: 'text', text: line }] },
    ),
  }
}
