import { describe, expect, it } from 'vitest'
import { splitJsonArray } from './split.js'

describe('splitJsonArray', () => {
  it('returns each element of an array of objects as its exact text', () => {
    const items = ['{"id":"a","s":"x]}"}', '{ "id" : "b", "nested": {"arr": [1, {"q": "\\"}"}]} }', '{}']
    const text = ` [ ${items.join(' ,\n ')} ] `
    expect(splitJsonArray(text)).toEqual(items)
  })

  it('handles escaped backslashes before a closing quote', () => {
    const items = ['{"p":"C:\\\\dir\\\\"}', '{"q":"\\\\\\""}']
    expect(splitJsonArray(`[${items.join(',')}]`)).toEqual(items)
    for (const t of items) expect(() => JSON.parse(t)).not.toThrow()
  })

  it('keeps unicode and an empty array empty', () => {
    expect(splitJsonArray('[{"name":"Gebäude 東京 🏗️"}]')).toEqual(['{"name":"Gebäude 東京 🏗️"}'])
    expect(splitJsonArray('[]')).toEqual([])
  })
})
