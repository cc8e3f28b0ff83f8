/**
 * gzip for upload batches. Node registers zlib (level chosen for throughput); elsewhere the
 * standard CompressionStream is used.
 */
export type Gzip = (data: Uint8Array) => Promise<Uint8Array>

let impl: Gzip | undefined

export function registerGzip(fn: Gzip): void {
  impl = fn
}

export async function gzip(data: Uint8Array): Promise<Uint8Array> {
  if (impl) return impl(data)
  const stream = new Blob([data as BlobPart]).stream().pipeThrough(new CompressionStream('gzip'))
  return new Uint8Array(await new Response(stream).arrayBuffer())
}
