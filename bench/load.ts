// HTTP load through autocannon: a fixed number of connections for a bounded time, reduced to
// requests/s (2xx only), latency percentiles and error counts.
import autocannon from 'autocannon';

export interface LoadOptions {
  url: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string | Buffer;
  connections: number;
  seconds: number;
  /** Per-request rewrite (e.g. rotating API keys); autocannon calls it before every request. */
  setupRequest?: (request: autocannon.Request) => autocannon.Request;
  /** Seconds before a request counts as timed out. */
  timeoutSeconds?: number;
}

export interface LoadFigure {
  connections: number;
  seconds: number;
  /** Completed 2xx responses per second of the run. */
  requestsPerSecond: number;
  ok: number;
  non2xx: number;
  /** Connection errors and timeouts. */
  errors: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  statusCodes: Record<string, number>;
}

export async function load(o: LoadOptions): Promise<LoadFigure> {
  const result = await autocannon({
    url: o.url,
    method: o.method ?? 'GET',
    connections: o.connections,
    duration: o.seconds,
    timeout: o.timeoutSeconds ?? 120,
    ...(o.headers ? { headers: o.headers } : {}),
    ...(o.body !== undefined ? { body: o.body } : {}),
    ...(o.setupRequest ? { requests: [{ setupRequest: o.setupRequest }] } : {}),
  });
  const statusCodes: Record<string, number> = {};
  for (const [code, stat] of Object.entries(result.statusCodeStats ?? {}))
    statusCodes[code] = stat.count ?? 0;
  return {
    connections: o.connections,
    seconds: result.duration,
    requestsPerSecond: result['2xx'] / result.duration,
    ok: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    meanMs: result.latency.mean,
    statusCodes,
  };
}
