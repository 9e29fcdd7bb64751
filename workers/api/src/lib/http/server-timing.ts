// Server-Timing (W3C Server Timing, RFC 8941-style list) for every answer: where a request spent its
// time, readable with curl -i or a browser's network panel. Each phase is a named metric; a phase that
// happens several times in one request (two backend calls) adds up under its name. In workerd the
// clock advances only across I/O, so what is measured is time spent waiting on D1, R2, caches and
// the backend, which is what these phases are.

/** The metrics this API reports, in the order they appear; `total` is the whole request. */
export const TIMING_METRICS = {
  auth: 'API key check (isolate cache, colo cache or D1; desc says which)',
  own: 'ownership check of the requested id (isolate cache, colo cache or D1)',
  d1: 'other D1 queries (jobs, idempotency keys, ownership grants)',
  blob: 'artifact read (colo cache or R2)',
  backend: 'GPU backend calls',
  enc: 'building the response body (GTOK decode, JSON encode)',
  total: 'the whole request inside the Worker',
} as const;

export type TimingMetric = Exclude<keyof typeof TIMING_METRICS, 'total'>;

const now = () => performance.now();

export class ServerTiming {
  readonly #start = now();
  readonly #metrics = new Map<TimingMetric, { ms: number; desc: string | undefined }>();

  /** Adds `ms` to `name`; `desc` (the cache layer that answered, say) replaces an earlier one. */
  record(name: TimingMetric, ms: number, desc?: string): void {
    const current = this.#metrics.get(name);
    this.#metrics.set(name, { ms: (current?.ms ?? 0) + ms, desc: desc ?? current?.desc });
  }

  /**
   * Awaits `work` and records its duration under `name`, also when it fails; `describe` turns the
   * result into the metric's desc (which cache layer answered).
   */
  async measure<T>(name: TimingMetric, work: Promise<T>, describe?: (value: T) => string): Promise<T> {
    const start = now();
    let desc: string | undefined;
    try {
      const value = await work;
      desc = describe?.(value);
      return value;
    } finally {
      this.record(name, now() - start, desc);
    }
  }

  /** Runs synchronous `work` and records its duration under `name`. */
  measureSync<T>(name: TimingMetric, work: () => T): T {
    const start = now();
    try {
      return work();
    } finally {
      this.record(name, now() - start);
    }
  }

  /** The header value: `auth;dur=0.1;desc="isolate", …, total;dur=3.2`. */
  header(): string {
    const parts: string[] = [];
    for (const name of Object.keys(TIMING_METRICS) as (keyof typeof TIMING_METRICS)[]) {
      const metric =
        name === 'total' ? { ms: now() - this.#start, desc: undefined } : this.#metrics.get(name);
      if (!metric) continue;
      const desc = metric.desc === undefined ? '' : `;desc="${metric.desc.replace(/["\\]/g, '')}"`;
      parts.push(`${name};dur=${metric.ms.toFixed(1)}${desc}`);
    }
    return parts.join(', ');
  }
}
