/**
 * `truss send FILE --project P [--model M]`: upload a model to a server through the SDK and create a
 * version. FILE is either Speckle JSON (objects already serialized, uploaded with their own ids) or an
 * IFC/OBJ/STL/glTF/GLB converted here with the converters the server's import uses (`@truss/import`).
 * Objects also go to the local cache (SQLite in the CLI's data folder). Prints the version's link last.
 */
import { readFileSync, statSync } from 'node:fs'
import { basename, extname } from 'node:path'
import { SQLiteTransport, send, type ServerTransport } from '@truss/core'
import { ImportError, detectFileType, importFile, type FileType } from '@truss/import'
import { UsageError, type Command, type CliIo } from '../command.js'
import { cliDataPath } from '../remote/accounts.js'
import { TARGET_FLAGS, TARGET_HELP, parseCommandArgs } from '../remote/args.js'
import { RemoteClient, RemoteError, explainTransportError, resolveTarget } from '../remote/client.js'
import { objectProgress } from '../remote/progress.js'
import { looksLikeSpeckleJson, parseSpeckleJson } from '../remote/speckle-json.js'

const HELP = `Usage: truss send <file> --project <id> [--model <name>] [-m <message>]

Upload a model and create a version; the last line printed is the version's link
(SERVER/projects/P/models/M@V).

<file> is Speckle JSON (an array of objects, one root object, or a map id → object, as Speckle's
serializers write) or an IFC, OBJ, STL, glTF or GLB file, converted on this machine as the server's import
would.

Options:
  --project <id>      The project to send to
  --model <name>      The model (created when missing; default main)
  -m, --message <m>   The version message (default: "Sent <file name>")
${TARGET_HELP}
`

const CONVERTIBLE = new Set(['ifc', 'obj', 'stl', 'gltf', 'glb'])

interface Prepared {
  kind: 'speckle' | FileType
  upload(transport: ServerTransport, cache: SQLiteTransport, io: CliIo): Promise<{ id: string; children: number }>
}

function readable(file: string): Buffer {
  let isFile = false
  try {
    isFile = statSync(file).isFile()
  } catch {
    isFile = false
  }
  if (!isFile) throw new RemoteError(`cannot read ${file}: no such file`)
  try {
    return readFileSync(file)
  } catch (err) {
    throw new RemoteError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
}

/** Read and check the file before anything touches the server. */
async function prepare(file: string): Promise<Prepared> {
  const bytes = readable(file)
  const name = basename(file)
  if (bytes.length === 0) throw new RemoteError(`${name} is empty (0 bytes)`)
  const ext = extname(file).slice(1).toLowerCase()
  const head = bytes.subarray(0, 4096).toString('utf8')
  const speckle = ext === 'json' || (!CONVERTIBLE.has(ext) && looksLikeSpeckleJson(head))
  if (speckle) {
    let parsed
    try {
      parsed = parseSpeckleJson(bytes.toString('utf8'), name)
    } catch (err) {
      throw new RemoteError((err as Error).message)
    }
    return {
      kind: 'speckle',
      async upload(transport, cache, io) {
        if (parsed.missing.length > 0) {
          const has = await transport.hasObjects(parsed.missing)
          const absent = parsed.missing.filter((id) => !has[id])
          if (absent.length > 0) {
            throw new RemoteError(
              `${name} refers to ${absent.length} object(s) that are neither in the file nor on the server (first: ${absent[0]})`,
            )
          }
        }
        const progress = objectProgress(io, 'uploading')
        let done = 0
        for (const [id, json] of parsed.objects) {
          await transport.saveObject(id, json)
          await cache.saveObject(id, json)
          if ((++done & 255) === 0) progress.update(done, parsed.objects.length)
        }
        await transport.flush()
        await cache.flush()
        progress.finish(done)
        return { id: parsed.rootId, children: parsed.totalChildrenCount }
      },
    }
  }
  let fileType: FileType
  try {
    fileType = (CONVERTIBLE.has(ext) ? ext : detectFileType(name, bytes.subarray(0, 1024))) as FileType
  } catch (err) {
    throw new RemoteError(err instanceof Error ? err.message : String(err))
  }
  return {
    kind: fileType,
    async upload(transport, cache, io) {
      let result
      try {
        result = await importFile({ path: file, fileName: name, fileType })
      } catch (err) {
        if (err instanceof ImportError) throw new RemoteError(err.message)
        throw err
      }
      const s = result.stats
      io.stderr(
        `converted ${name}: ${s.elements} elements, ${s.meshes} meshes, ${s.triangles} triangles, ${s.vertices} vertices (${Math.round(s.durationMs)} ms)\n`,
      )
      for (const w of result.warnings) io.stderr(`warning: ${w}\n`)
      const progress = objectProgress(io, 'uploading')
      let total = 0
      const id = await send(result.root, {
        transports: [transport],
        cache,
        onProgress: (p) => {
          total = p.done
          progress.update(p.done, p.total)
        },
      })
      // The serializer yields a repeated object (an instanced mesh) once per use; the root's closure counts
      // the distinct ones, as the server and viewers do.
      const closure = (JSON.parse((await cache.getObject(id)) ?? '{}') as { __closure?: Record<string, number> })
        .__closure
      const children = closure ? Object.keys(closure).length : Math.max(total - 1, 0)
      progress.finish(children + 1)
      return { id, children }
    },
  }
}

export const sendCommand: Command = {
  name: 'send',
  summary: 'Upload a model (Speckle JSON, IFC, OBJ, STL, glTF) and create a version',
  help: HELP,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, {
      ...TARGET_FLAGS,
      project: { type: 'string' },
      model: { type: 'string' },
      message: { type: 'string', short: 'm' },
    })
    if (values.help) {
      io.stdout(HELP)
      return 0
    }
    if (positionals.length !== 1) throw new UsageError('give exactly one file to send')
    if (values.project === undefined || values.project.trim() === '') throw new UsageError('--project is required')
    const file = positionals[0]!
    const projectId = values.project
    const modelName = values.model ?? 'main'
    const target = resolveTarget({ server: values.server, token: values.token }, io.env)
    const prepared = await prepare(file)
    const client = new RemoteClient(target)
    await client.project(projectId)
    const model = await client.ensureModel(projectId, modelName)
    const transport = client.transport(projectId)
    const cache = new SQLiteTransport({ basePath: cliDataPath(io.env) })
    let sent: { id: string; children: number }
    try {
      sent = await prepared.upload(transport, cache, io)
    } catch (err) {
      throw explainTransportError(err, client.server, projectId)
    } finally {
      await cache.close()
    }
    const versionId = await client.createVersion({
      projectId,
      modelId: model.id,
      objectId: sent.id,
      message: values.message ?? `Sent ${basename(file)}`,
      sourceApplication: 'truss-cli',
      totalChildrenCount: sent.children,
    })
    io.stderr(`created version ${versionId} of ${model.name} (object ${sent.id})\n`)
    io.stdout(`${client.server}/projects/${projectId}/models/${model.id}@${versionId}\n`)
    return 0
  },
}
