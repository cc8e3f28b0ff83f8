import { describe, expect, it } from 'vitest'
import { parseLegacyFrame, parseModernFrame, pickProtocol, tokenFromInitPayload } from './protocol.js'

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
})
