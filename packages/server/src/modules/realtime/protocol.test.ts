import { describe, expect, it } from 'vitest'
import * as wsModule from 'ws'
import {
  KEEP_ALIVE_FRAME,
  parseLegacyFrame,
  parseModernFrame,
  pickProtocol,
  textFrame,
  tokenFromInitPayload,
} from './protocol.js'

// `ws`'s frame parser, the one its clients read with; @types/ws does not declare it.
interface FrameParser {
  on(event: 'message', listener: (data: Buffer, isBinary: boolean) => void): void
  on(event: 'error', listener: (error: Error) => void): void
  write(chunk: Buffer): void
}
const { Receiver } = wsModule as unknown as { Receiver: new (options: { isServer: boolean }) => FrameParser }

/** What a `ws` client reads from `bytes`: each message's text, or the error it refused them with. */
function readAsClient(bytes: Buffer): string[] {
  const receiver = new Receiver({ isServer: false })
  const messages: string[] = []
  receiver.on('message', (data, isBinary) => messages.push(isBinary ? '(binary)' : data.toString()))
  receiver.on('error', (error) => messages.push(`(error: ${error.message})`))
  receiver.write(bytes)
  return messages
}

describe('realtime protocol', () => {
  it('picks the protocol from the offered subprotocols in the client’s order', () => {
    expect(pickProtocol(['graphql-ws'])).toEqual({ kind: 'legacy', subprotocol: 'graphql-ws' })
    expect(pickProtocol(['graphql-transport-ws'])?.kind).toBe('modern')
    expect(pickProtocol(['graphql-subscriptions'])?.kind).toBe('legacy')
    expect(pickProtocol(['chat', 'graphql-transport-ws', 'graphql-ws'])?.kind).toBe('modern')
    expect(pickProtocol(['chat', ''])).toBeNull()
  })

  it.each([
    [{ Authorization: 'Bearer abc' }, 'abc'],
    [{ authorization: 'bearer abc' }, 'abc'],
    [{ headers: { Authorization: 'Bearer abc' } }, 'abc'],
    [{ headers: { authorization: 'abc' } }, 'abc'],
    [{ Authorization: 'abc' }, 'abc'],
    [{ Authorization: 'Bearer ' }, null],
    [{ Authorization: 42 }, null],
    [{ headers: 'nonsense' }, null],
    [{}, null],
    [null, null],
    [undefined, null],
  ])('reads the token from connection_init payload %j', (payload, token) => {
    expect(tokenFromInitPayload(payload)).toBe(token)
  })

  it('parses the legacy messages and refuses malformed ones with a reason', () => {
    expect(parseLegacyFrame('{"type":"start","id":"1","payload":{"query":"{ a }"}}')).toEqual({
      ok: true,
      message: { type: 'start', id: '1', payload: { query: '{ a }' } },
    })
    expect(parseLegacyFrame('{"type":"connection_init"}').ok).toBe(true)
    expect(parseLegacyFrame('not json')).toMatchObject({ ok: false, reason: 'Message is not valid JSON' })
    expect(parseLegacyFrame('{"type":"start","id":"7"}')).toMatchObject({ ok: false, id: '7' })
    expect(parseLegacyFrame('{"type":"subscribe","id":"1","payload":{"query":"{a}"}}').ok).toBe(false)
    expect(parseLegacyFrame('[1,2]').ok).toBe(false)
    expect(parseLegacyFrame('{"type":"start","id":"1","payload":{"query":1}}').ok).toBe(false)
  })

  it('parses the modern messages', () => {
    expect(parseModernFrame('{"type":"subscribe","id":"a","payload":{"query":"{a}","variables":null}}').ok).toBe(true)
    expect(parseModernFrame('{"type":"ping"}').ok).toBe(true)
    expect(parseModernFrame('{"type":"complete","id":"a"}').ok).toBe(true)
    expect(parseModernFrame('{"type":"start","id":"a","payload":{"query":"{a}"}}').ok).toBe(false)
    expect(parseModernFrame('{"type":"complete"}').ok).toBe(false)
  })

  // 125, 126 and 65,536 bytes are where the length takes 7, 16 and 64 bits (RFC 6455 §5.2).
  it.each([0, 1, 125, 126, 127, 65_535, 65_536, 200_000])('frames %i bytes of text as ws clients read them', (size) => {
    const text = 'é'.repeat(Math.floor(size / 2)) + 'x'.repeat(size % 2)
    expect(Buffer.byteLength(text)).toBe(size)
    const frame = textFrame(text)
    // The shortest length form, as the RFC requires.
    expect(frame.length - size).toBe(size < 126 ? 2 : size < 65_536 ? 4 : 10)
    expect(readAsClient(frame)).toEqual([text])
    // Frames written back to back on one socket stay apart.
    expect(readAsClient(Buffer.concat([frame, KEEP_ALIVE_FRAME, frame]))).toEqual([text, '{"type":"ka"}', text])
  })
})
