/**
 * Prometheus metrics: one registry per app (no global singleton, so tests can build several apps), the
 * default process metrics, HTTP request durations, and the object counters the objects module increments.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

export interface Metrics {
  readonly registry: Registry
  /** Seconds per request, by method, route pattern (not the raw URL) and status code. */
  readonly httpRequestDurationSeconds: Histogram<'method' | 'route' | 'status_code'>
  readonly objectsStoredTotal: Counter
  readonly uploadBytesTotal: Counter
  readonly downloadBytesTotal: Counter
}

export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry()
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry })
  return {
    registry,
    httpRequestDurationSeconds: new Histogram({
      name: 'truss_http_request_duration_seconds',
      help: 'HTTP request duration in seconds, by method, route pattern and status code',
      labelNames: ['method', 'route', 'status_code'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    objectsStoredTotal: new Counter({
      name: 'truss_objects_stored_total',
      help: 'Objects written to the object store (including ones already present)',
      registers: [registry],
    }),
    uploadBytesTotal: new Counter({
      name: 'truss_upload_bytes_total',
      help: 'Bytes received in object uploads',
      registers: [registry],
    }),
    downloadBytesTotal: new Counter({
      name: 'truss_download_bytes_total',
      help: 'Bytes sent in object downloads',
      registers: [registry],
    }),
  }
}
