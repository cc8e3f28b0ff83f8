/**
 * `truss import FILE --project P [--model M]`: upload a file to a running server's import route
 * (Speckle's `POST /api/file/...`), streamed from disk with a progress bar, then follow its conversion
 * until the version exists. Prints the version id as the last line.
 */
import { createReadStream, statSync } from 'node:fs'
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { basename, extname } from 'node:path'
import { EXIT_FAILURE, UsageError, type CliIo, type Command } from '../command.js'
import { parseFlags, required } from './identity.js'

const TYPES = ['ifc', 'obj', 'stl', 'gltf', 'glb']

const HELP = `Usage: truss import <file> --project <id> [--model <name>] [--server <url>] [--token <token>]

Upload a file (IFC, OBJ, STL, glTF/GLB) to a Truss server, wait until it is converted, and print the new
version's id as the last line.

Options:
  --project <id>      The project to import into
  --model <name>      The model (created when missing; default main)
  --server <url>      The server (TRUSS_SERVER_URL; default http://127.0.0.1:3000)
  --token <token>     A token with streams:write (TRUSS_TOKEN)
  --type <type>       ${TYPES.join(', ')} (default: from the extension, else detected from the content)
  --no-wait           Only upload; print the upload id
  -h, --help          Show this help
`

export interface ImportArgs {
  file: string
  project: string
  model: string
  server: string
  token: string
  type: string
  wait: boolean
}

export function parseImportArgs(
  args: readonly string[],
  env: CliIo['env'],
): { help: true } | ({ help: false } & ImportArgs) {
  const positional = args.filter((a, i) => !a.startsWith('-') && (i === 0 || !FLAGS_WITH_VALUE.has(args[i - 1]!)))
  const flags = args.filter((a) => !positional.includes(a))
  const values = parseFlags(flags, {
    project: { type: 'string' },
    model: { type: 'string' },
    server: { type: 'string' },
    token: { type: 'string' },
    type: { type: 'string' },
    'no-wait': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  })
  if (values.help) return { help: true }
  if (positional.length !== 1) throw new UsageError('give exactly one file to import')
  const file = positional[0]!
  let isFile = false
  try {
    isFile = statSync(file).isFile()
  } catch {
    isFile = false
  }
  if (!isFile) throw new UsageError(`${file} is not a readable file`)
  const ext = extname(file).slice(1).toLowerCase()
  const type = (values.type ?? (TYPES.includes(ext) ? ext : 'autodetect')).toLowerCase()
  if (type !== 'autodetect' && !TYPES.includes(type)) {
    throw new UsageError(`--type must be one of ${TYPES.join(', ')} (got ${JSON.stringify(values.type)})`)
  }
  const token = values.token ?? env.TRUSS_TOKEN
  if (!token) throw new UsageError('--token (or TRUSS_TOKEN) is required')
  const server = (values.server ?? env.TRUSS_SERVER_URL ?? 'http://127.0.0.1:3000').replace(/\/+$/, '')
  if (!/^https?:\/\//.test(server))
    throw new UsageError(`--server must be an http(s) URL (got ${JSON.stringify(server)})`)
  return {
    help: false,
    file,
    project: required(values.project, '--project'),
    model: values.model ?? 'main',
    server,
    token,
    type,
    wait: values['no-wait'] !== true,
  }
}

const FLAGS_WITH_VALUE = new Set(['--project', '--model', '--server', '--token', '--type'])

class ImportFailed extends Error {}

/** A one-line progress display: a redrawn bar on a terminal, a line per 10% otherwise. */
function progress(io: CliIo, tty: boolean) {
  let lastTenth = -1
  return (label: string, done: number, total: number, started: number) => {
    const fraction = total > 0 ? done / total : 1
    const mbps = done / 1e6 / Math.max((performance.now() - started) / 1000, 0.001)
    if (tty) {
      const width = 30
      const full = Math.round(fraction * width)
      io.stderr(
        `\r${label} [${'#'.repeat(full)}${'-'.repeat(width - full)}] ${Math.round(fraction * 100)}% ${(done / 1e6).toFixed(1)}/${(total / 1e6).toFixed(1)} MB ${mbps.toFixed(1)} MB/s`,
      )
      if (done >= total) io.stderr('\n')
    } else {
      const tenth = Math.floor(fraction * 10)
      if (tenth !== lastTenth) {
        lastTenth = tenth
        io.stderr(`${label} ${Math.round(fraction * 100)}% (${(done / 1e6).toFixed(1)} MB)\n`)
      }
    }
  }
}

/** POST the file as multipart/form-data, streamed from disk. Resolves with the status and JSON body. */
function upload(args: ImportArgs, io: CliIo, tty: boolean): Promise<{ status: number; body: unknown }> {
  const size = statSync(args.file).size
  const boundary = `----truss-import-${Date.now().toString(16)}`
  const name = basename(args.file).replace(/["\r\n]/g, '_')
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\n` +
      'Content-Type: application/octet-stream\r\n\r\n',
  )
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`)
  const url = new URL(
    `${args.server}/api/file/${args.type}/${encodeURIComponent(args.project)}/${encodeURIComponent(args.model)}`,
  )
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest
  const show = progress(io, tty)
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      {
        method: 'POST',
        headers: {
          authorization: `Bearer ${args.token}`,
          'content-type': `multipart/form-data; boundary=${boundary}`,
          'content-length': head.length + size + tail.length,
        },
      },
      (res: IncomingMessage) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => (text += c))
        res.on('end', () => {
          let body: unknown = text
          try {
            body = JSON.parse(text)
          } catch {
            // not JSON: keep the text for the message
          }
          resolve({ status: res.statusCode ?? 0, body })
        })
      },
    )
    req.on('error', (err) => reject(new ImportFailed(`cannot reach ${args.server}: ${err.message}`)))
    // Stream the file once connected: a refused connection shows no upload progress.
    req.once('socket', (socket) => {
      if (!socket.connecting) return sendBody()
      socket.once('connect', sendBody)
    })
    const sendBody = () => {
      req.write(head)
      const started = performance.now()
      let sent = 0
      const file = createReadStream(args.file)
      file.on('data', (chunk) => {
        sent += chunk.length
        show('uploading', sent, size, started)
      })
      file.on('error', (err) => {
        req.destroy()
        reject(new ImportFailed(`cannot read ${args.file}: ${err.message}`))
      })
      file.on('end', () => {
        if (size === 0) show('uploading', 0, 0, started)
        req.end(tail)
      })
      file.pipe(req, { end: false })
    }
  })
}

async function graphql(args: ImportArgs, query: string, variables: Record<string, unknown>) {
  let res: Response
  try {
    res = await fetch(`${args.server}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${args.token}` },
      body: JSON.stringify({ query, variables }),
    })
  } catch (err) {
    throw new ImportFailed(`cannot reach ${args.server}: ${(err as Error).message}`)
  }
  const body = (await res.json()) as { data?: Record<string, unknown>; errors?: { message: string }[] }
  if (body.errors?.length) throw new ImportFailed(body.errors[0]!.message)
  return body.data!
}

const STATUS = `query($p: String!, $u: String!) { stream(id: $p) { fileUpload(id: $u) {
  convertedStatus convertedMessage convertedVersionId } } }`
const STATUS_WORDS = ['queued', 'converting', 'completed', 'failed']

export async function runImport(args: ImportArgs, io: CliIo, options: { pollMs?: number; tty?: boolean } = {}) {
  const tty = options.tty ?? process.stderr.isTTY === true
  const { status, body } = await upload(args, io, tty)
  if (status !== 201) {
    const reason = typeof body === 'object' && body !== null && 'error' in body ? String(body.error) : String(body)
    const why: Record<number, string> = { 401: 'the token was refused', 403: 'the token may not write to this project' }
    throw new ImportFailed(`the server answered ${status}: ${why[status] ?? (reason || 'no reason given')}`)
  }
  const result = (body as { uploadResults: { blobId: string; uploadStatus: number; uploadError?: string }[] })
    .uploadResults[0]
  if (!result) throw new ImportFailed('the server stored no file')
  if (result.uploadStatus !== 1) throw new ImportFailed(`the upload failed: ${result.uploadError ?? 'unknown reason'}`)
  if (!args.wait) {
    io.stdout(`${result.blobId}\n`)
    return 0
  }
  let said = -1
  for (;;) {
    const data = (await graphql(args, STATUS, { p: args.project, u: result.blobId })) as {
      stream: {
        fileUpload: {
          convertedStatus: number
          convertedMessage: string | null
          convertedVersionId: string | null
        } | null
      }
    }
    const u = data.stream.fileUpload
    if (u === null) throw new ImportFailed('the upload is gone from the project')
    if (u.convertedStatus !== said) {
      said = u.convertedStatus
      io.stderr(`${STATUS_WORDS[said] ?? `status ${said}`}${u.convertedMessage ? `: ${u.convertedMessage}` : ''}\n`)
    }
    if (u.convertedStatus === 2) {
      io.stdout(`${u.convertedVersionId}\n`)
      return 0
    }
    if (u.convertedStatus === 3) throw new ImportFailed(`the import failed: ${u.convertedMessage ?? 'no reason given'}`)
    await new Promise((r) => setTimeout(r, options.pollMs ?? 500))
  }
}

export const importCommand: Command = {
  name: 'import',
  summary: 'Import a file (IFC, OBJ, STL, glTF) into a project on a server',
  help: HELP,
  async run(args, io) {
    const parsed = parseImportArgs(args, io.env)
    if (parsed.help) {
      io.stdout(HELP)
      return 0
    }
    try {
      return await runImport(parsed, io)
    } catch (err) {
      if (err instanceof ImportFailed) {
        io.stderr(`truss: ${err.message}\n`)
        return EXIT_FAILURE
      }
      throw err
    }
  },
}
