// Dynamic batching for one model graph (encode, decode): items of concurrent requests are merged
// into batches of up to `maxBatch`, waiting at most `maxQueueDelayMs` for a batch to fill, run one
// batch at a time, and split back to their requests. A bounded queue answers `queue_full` (429).
import { ApiError } from '@gigatok/shared';
import { logger } from './log.ts';

export interface BatcherOptions<I, O> {
  /** `model/graph`, for messages. */
  label: string;
  maxBatch: number;
  maxQueueDelayMs: number;
  /** Items waiting (not yet in a running batch); a request that would exceed it is refused whole. */
  maxQueue: number;
  /** Runs one batch; must return one result per item, in order. */
  run: (items: I[]) => Promise<O[]>;
  onBatch?: (info: { size: number; computeUs: number; ok: boolean }) => void;
  onQueued?: (info: { queueUs: number }) => void;
}

interface Entry<I, O> {
  item: I;
  index: number;
  request: PendingRequest<O>;
  enqueuedAt: number;
}

interface PendingRequest<O> {
  results: O[];
  remaining: number;
  settled: boolean;
  resolve: (results: O[]) => void;
  reject: (error: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

/** Thrown when the queue is full; `retryAfterSeconds` feeds the Retry-After header. */
export class QueueFullError extends ApiError {
  constructor(
    detail: string,
    limit: number,
    readonly retryAfterSeconds: number,
  ) {
    super('queue_full', detail, { limit });
  }
}

export class DynamicBatcher<I, O> {
  #queue: Entry<I, O>[] = [];
  #running = false;
  #wake: (() => void) | undefined;
  #closed = false;
  /** Exponential moving average of batch run time, for Retry-After. */
  #avgBatchMs = 0;

  constructor(readonly options: BatcherOptions<I, O>) {}

  get queued(): number {
    return this.#queue.length;
  }

  /** Seconds until a queue this full has likely drained (at least 1). */
  retryAfterSeconds(): number {
    const batches = Math.ceil(this.#queue.length / this.options.maxBatch) + 1;
    return Math.max(1, Math.ceil((batches * this.#avgBatchMs) / 1000));
  }

  submit(items: readonly I[], signal?: AbortSignal): Promise<O[]> {
    if (this.#closed)
      return Promise.reject(new ApiError('backend_unavailable', 'the server is shutting down'));
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (items.length === 0) return Promise.resolve([]);
    if (this.#queue.length + items.length > this.options.maxQueue) {
      return Promise.reject(
        new QueueFullError(
          `${this.#queue.length} items are waiting for ${this.options.label}; the queue holds ${this.options.maxQueue}`,
          this.options.maxQueue,
          this.retryAfterSeconds(),
        ),
      );
    }
    return new Promise<O[]>((resolve, reject) => {
      const request: PendingRequest<O> = {
        results: new Array<O>(items.length),
        remaining: items.length,
        settled: false,
        resolve,
        reject,
        signal,
        onAbort: () => {
          // Items not yet in a batch leave the queue; items already running finish and are discarded.
          this.#queue = this.#queue.filter((e) => e.request !== request);
          this.#settle(request, signal?.reason ?? new Error('aborted'));
          this.#wakeUp();
        },
      };
      signal?.addEventListener('abort', request.onAbort, { once: true });
      const now = performance.now();
      for (const [index, item] of items.entries()) {
        this.#queue.push({ item, index, request, enqueuedAt: now });
      }
      this.#kick();
    });
  }

  /** Refuses new work and resolves when the queue has drained. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#running || this.#queue.length > 0) await new Promise((r) => setTimeout(r, 5));
  }

  #settle(request: PendingRequest<O>, error?: unknown): void {
    if (request.settled) return;
    request.settled = true;
    request.signal?.removeEventListener('abort', request.onAbort);
    if (error !== undefined) {
      this.#queue = this.#queue.filter((e) => e.request !== request);
      request.reject(error);
    } else {
      request.resolve(request.results);
    }
  }

  /** Ends a wait for a fuller batch early (new work arrived, or queued work left). */
  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #kick(): void {
    this.#wakeUp();
    if (this.#running) return;
    this.#running = true;
    void this.#drain()
      .catch((error: unknown) =>
        logger.error('batcher failed', { batcher: this.options.label, error: String(error) }),
      )
      .finally(() => {
        this.#running = false;
        if (this.#queue.length > 0) this.#kick();
      });
  }

  async #drain(): Promise<void> {
    const { maxBatch, maxQueueDelayMs } = this.options;
    while (this.#queue.length > 0) {
      const oldest = this.#queue[0]!;
      const deadline = oldest.enqueuedAt + maxQueueDelayMs;
      while (this.#queue.length > 0 && this.#queue.length < maxBatch && performance.now() < deadline) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            this.#wake = undefined;
            resolve();
          }, deadline - performance.now());
          this.#wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      const batch = this.#queue.splice(0, maxBatch);
      if (batch.length === 0) continue;
      const started = performance.now();
      for (const e of batch) this.options.onQueued?.({ queueUs: (started - e.enqueuedAt) * 1000 });
      let outputs: O[] | undefined;
      let failure: unknown;
      try {
        outputs = await this.options.run(batch.map((e) => e.item));
        if (outputs.length !== batch.length) {
          throw new Error(
            `${this.options.label}: batch of ${batch.length} returned ${outputs.length} results`,
          );
        }
      } catch (error) {
        failure = error;
      }
      const ms = performance.now() - started;
      this.#avgBatchMs = this.#avgBatchMs === 0 ? ms : 0.8 * this.#avgBatchMs + 0.2 * ms;
      this.options.onBatch?.({ size: batch.length, computeUs: ms * 1000, ok: failure === undefined });
      for (const [k, e] of batch.entries()) {
        const request = e.request;
        if (request.settled) continue;
        if (failure !== undefined) {
          this.#settle(request, failure);
          continue;
        }
        request.results[e.index] = outputs![k]!;
        request.remaining -= 1;
        if (request.remaining === 0) this.#settle(request);
      }
    }
  }
}
