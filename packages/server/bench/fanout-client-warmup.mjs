// Preloaded into the fan-out client by fanout-real.mjs (`node --import` this file): warms the client's own HTTP
// stack before it starts timing. Without it the client's first `fetch` — the first mutation — loads undici and
// compiles llhttp's WebAssembly, ~200 ms of CPU on one of the machine's 2 cores while the servers deliver the
// first event, which then alone sets p99. Talks only to a throwaway local server (no Truss node sees it), and
// does nothing in the client's worker processes, which send no HTTP.
import { createServer } from 'node:http'

if (process.env.FAN_ROLE !== 'worker') {
  const server = createServer((request, response) => {
    request.resume()
    request.on('end', () => response.end('{"data":{}}'))
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${server.address().port}/graphql`
  // Enough requests for V8 to tier llhttp's hot functions up now rather than during the first events.
  for (let i = 0; i < 200; i += 1) {
    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
    await response.json()
  }
  await new Promise((resolve) => server.close(resolve))
}
