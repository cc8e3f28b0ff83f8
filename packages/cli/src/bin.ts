#!/usr/bin/env node
// The `truss` executable: the only CLI file that touches `process`.
import { runCli } from './cli.js'

const code = await runCli(process.argv.slice(2), {
  env: process.env,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  signals: process,
  stderrIsTTY: process.stderr.isTTY === true,
  readStdin: async () => {
    if (process.stdin.isTTY) return undefined
    const chunks: Buffer[] = []
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
    return Buffer.concat(chunks).toString('utf8')
  },
})
// Exit explicitly: a long-running command has already closed what it opened, and nothing else should hold
// the process open once it says it is done.
process.exit(code)
