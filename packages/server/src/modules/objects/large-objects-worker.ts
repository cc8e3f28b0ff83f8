/** The worker side of `large-objects.ts`: check an object, hand its bytes back. */
import { parentPort } from 'node:worker_threads'
import { checkObject } from './split.js'

const port = parentPort
if (!port) throw new Error('large-objects-worker.ts must run in a worker thread')
port.on(
  'message',
  ({ n, buffer, offset, length }: { n: number; buffer: ArrayBuffer; offset: number; length: number }) => {
    const result = checkObject(Buffer.from(buffer, offset, length))
    port.postMessage({ n, buffer, offset, length, result }, [buffer])
  },
)
