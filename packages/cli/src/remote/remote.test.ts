/** The pure parts of the remote commands: stored accounts, target resolution, Speckle JSON shapes, links. */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { TransportError } from '@truss/core'
import { sharedData } from '../../../core/test/shared-data.js'
import { UsageError } from '../command.js'
import { parseLink } from '../commands/receive.js'
import { accountsFile, findAccount, listAccounts, removeAccount, saveAccount } from './accounts.js'
import { RemoteError, explainTransportError, resolveTarget } from './client.js'
import { looksLikeSpeckleJson, parseSpeckleJson } from './speckle-json.js'

const user = { id: 'u1', name: 'Ada', email: 'ada@example.com' }

describe('accounts', () => {
  const dirs: string[] = []
  const home = () => {
    const d = mkdtempSync(join(tmpdir(), 'truss-accounts-'))
    dirs.push(d)
    return d
  }
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
  })

  it('keeps one account per server, the last login the default, in a 0600 file', () => {
    const env = { TRUSS_HOME: home() }
    saveAccount(env, { server: 'https://a.example/', token: 'ta', user })
    saveAccount(env, { server: 'https://b.example', token: 'tb', user })
    saveAccount(env, { server: 'https://a.example', token: 'ta2', user })
    expect(listAccounts(env).map((a) => [a.server, a.token, a.default])).toEqual([
      ['https://a.example', 'ta2', true],
      ['https://b.example', 'tb', false],
    ])
    expect(statSync(accountsFile(env)).mode & 0o777).toBe(0o600)
    expect(findAccount(env)?.server).toBe('https://a.example')
    expect(findAccount(env, 'https://b.example/')?.token).toBe('tb')
    expect(removeAccount(env, 'https://a.example')).toBe(true)
    expect(findAccount(env)?.server).toBe('https://b.example')
    expect(removeAccount(env, 'https://a.example')).toBe(false)
  })

  it('lives under defaultDataPath("Truss") of the given environment without TRUSS_HOME', () => {
    if (process.platform !== 'linux') return
    const xdg = home()
    saveAccount({ XDG_DATA_HOME: xdg }, { server: 'https://a.example', token: 't', user })
    expect(JSON.parse(readFileSync(join(xdg, 'Truss', 'accounts.json'), 'utf8'))).toEqual({
      'https://a.example': { token: 't', user, default: true },
    })
  })

  it('resolves flags over environment over the stored account, and refuses when no server is known', () => {
    const env = { TRUSS_HOME: home() }
    expect(() => resolveTarget({}, env)).toThrow(UsageError)
    saveAccount(env, { server: 'https://a.example', token: 'stored', user })
    expect(resolveTarget({}, env)).toEqual({ server: 'https://a.example', token: 'stored' })
    expect(resolveTarget({}, { ...env, TRUSS_TOKEN: 'envtok' })).toEqual({
      server: 'https://a.example',
      token: 'envtok',
    })
    expect(
      resolveTarget({}, { ...env, TRUSS_SERVER_URL: 'http://b.example', TRUSS_SERVER: 'http://c.example/' }),
    ).toEqual({ server: 'http://c.example', token: undefined })
    expect(resolveTarget({ server: 'https://a.example/', token: 'flag' }, env)).toEqual({
      server: 'https://a.example',
      token: 'flag',
    })
    expect(() => resolveTarget({ server: 'ftp://x' }, env)).toThrow(/http\(s\) URL/)
  })
})

describe('Speckle JSON files', () => {
  it('reads a JSON array of detached objects, the root first', () => {
    const f = parseSpeckleJson(readFileSync(sharedData('speckle/RevitObject.json'), 'utf8'), 'RevitObject.json')
    expect(f.rootId).toBe('551513ff4f3596024547fc818f1f3f70')
    expect(f.objects).toHaveLength(13)
    expect(f.objects[0]![0]).toBe(f.rootId)
    expect(f.missing).toEqual([])
    expect(f.totalChildrenCount).toBe(12)
  })

  it('reads a single root with a BOM and names the children it lacks', () => {
    const text = readFileSync(sharedData('speckle/RevitObjectsTop.json'), 'utf8')
    expect(text.charCodeAt(0)).toBe(0xfeff)
    expect(looksLikeSpeckleJson(text)).toBe(true)
    const f = parseSpeckleJson(text, 'RevitObjectsTop.json')
    expect(f.rootId).toBe('7238c0e0bbd1bafbe1a287aa7fc88619')
    expect(f.objects).toHaveLength(1)
    expect(f.missing).toHaveLength(8873)
  })

  it('reads an id → object map with a BOM and finds the root nothing refers to', () => {
    const file = 'speckle/ExternalIdTests.ExternalIdTest_Detached_Nested_More_Too.verified.json'
    const f = parseSpeckleJson(readFileSync(sharedData(file), 'utf8'), 'x.json')
    expect(f.objects).toHaveLength(4)
    expect(f.missing).toEqual([])
    const root = JSON.parse(f.objects[0]![1]) as { __closure: Record<string, number> }
    expect(Object.keys(root.__closure)).toHaveLength(3)
  })

  it('refuses what is not Speckle objects, and tells a glTF from Speckle JSON', () => {
    expect(() => parseSpeckleJson('{"a": 1}', 'a.json')).toThrow(/holds no Speckle objects/)
    expect(() => parseSpeckleJson('[{"id": "x"}]', 'a.json')).toThrow(/object x has no speckle_type/)
    expect(() => parseSpeckleJson('[]', 'a.json')).toThrow(/holds no objects/)
    expect(looksLikeSpeckleJson('{"asset": {"version": "2.0"}, "scenes": []}')).toBe(false)
  })
})

describe('links', () => {
  it('parses version and model links, keeping a base path', () => {
    expect(parseLink('https://hub.example/projects/p1/models/m1@v1')).toEqual({
      server: 'https://hub.example',
      projectId: 'p1',
      modelId: 'm1',
      versionId: 'v1',
    })
    expect(parseLink('http://h:3000/truss/projects/p1/models/m1/')).toEqual({
      server: 'http://h:3000/truss',
      projectId: 'p1',
      modelId: 'm1',
      versionId: undefined,
    })
    expect(parseLink('551513ff4f3596024547fc818f1f3f70')).toBeNull()
    expect(parseLink('https://hub.example/projects/p1')).toBeNull()
    expect(() => parseLink('https://hub.example/projects/p1/models/a,b')).toThrow(/several models/)
  })
})

describe('transport errors', () => {
  it('names a refused token, an unknown project and an unreachable server', () => {
    const server = 'http://hub.example'
    const refused = explainTransportError(
      new TransportError('Server', 'POST answered 403', { status: 403 }),
      server,
      'p1',
    )
    expect(refused).toEqual(
      new RemoteError('the token was rejected by http://hub.example, or may not write to project p1'),
    )
    const cause = new TypeError('fetch failed', {
      cause: Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }),
    })
    const gone = explainTransportError(new TransportError('Server', 'POST failed', { cause }), server, 'p1')
    expect((gone as Error).message).toBe('could not reach http://hub.example: ECONNREFUSED')
    const other = new Error('not a transport error')
    expect(explainTransportError(other, server, 'p1')).toBe(other)
  })
})
