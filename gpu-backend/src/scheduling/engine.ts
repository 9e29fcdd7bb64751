// The one scheduling engine of the backend: a bounded queue per graph, admission (queue_full 429 with
// a Retry-After from the measured run time), cancellation, batch formation through a pluggable
// picker, and shutdown. What a batch does on the device is the Runner's business: one run for encode,
// decode, embed and generate.onnx; one run per token for the per-step AR loop; one run per chunk of
// steps for generate_chunk.onnx, whose batch stays in flight while rows leave and join between runs.
//
// When to run. A batch starts as soon as the engine has a free slot: a request never waits for
// company while the device is idle. Company gathers on its own while a batch is in flight, and the
// next batch takes what arrived meanwhile (as continuous-batching servers do); between batches the
// engine yields a few event-loop turns, no timer, so requests already received can join
// (#admitArrived). Clients in a closed loop (each sends its next request when the last one answers)
// come back a moment after their batch ends; when the last batch was bigger than what is queued and
// ended less than one run ago, the engine waits for them a short while (a quarter of a run, at most
// RETURN_WAIT_CAP_MS), so they do not split into a batch of one and a batch of the rest. A lone
// client never waits: its last batch was itself. `maxQueueDelayMs` (0 by default) is an opt-in wait
// for company when nothing is in flight, for hosts that prefer fuller batches to latency.
//
// Two priorities. `interactive` work (the default) is what people wait for; `background` work (dataset
// tokenization) fills the gaps: a batch takes background items only when no interactive item is
// queued, so an interactive request that arrives behind a backlog starts at the next batch boundary,
// and background batches run at maxBatch whenever the backlog allows. Each priority has its own
// maxQueue bound, so a backlog never makes an interactive request queue_full.
import { ApiError } from '@gigatok/shared';
import { logger } from '../log.ts';
import { fifo, type Picker } from './pickers.ts';

/** Most event-loop turns a batch that follows another waits for already-received requests to queue. */
const ADMIT_TURNS = 8;
/** The wait for the clients of the last batch: this share of a run, and never longer than the cap. */
const RETURN_WAIT_FRACTION = 0.25;
const RETURN_WAIT_CAP_MS = 5;

/** Whose work an item is: `interactive` first; `background` only while no interactive item waits. */
export type Priority = 'interactive' | 'background';

/** Thrown when the queue is full; `retryAfterSeconds` feeds the Retry-After header. */
export class QueueFullError extends ApiError {
  override readonly name: string = 'QueueFullError';
  constructor(
    detail: string,
    limit: number,
    readonly retryAfterSeconds: number,
  ) {
    super('queue_full', detail, { limit });
  }
}

/**
 * What a batch does on the device. `B` is the runner's state of one batch (a KV cache, a position);
 * items join and leave a batch only between runs: aborted items and items whose result came back
 * leave through `drop`, queued items join through `join` (runners that have it).
 */
export interface Runner<I, O, B = undefined> {
  /** Refuses one request's items before they are queued (throw an ApiError), so a bad request fails alone. */
  check?(items: readonly I[]): void;
  /** The state of a new batch of `items`. */
  start(items: readonly I[]): B;
  /**
   * One run on the device for the batch's current `items`. Returns one entry per item, in order: the
   * item's result once it is done (it then leaves the batch), undefined while it needs more runs; or
   * undefined when no item is done yet.
   */
  run(batch: B, items: readonly I[], context: RunContext): Promise<readonly (O | undefined)[] | undefined>;
  /** Removes the items with `keep[i]` false from the batch's state (called between runs). */
  drop?(batch: B, keep: readonly boolean[]): void;
  /**
   * Adds queued items at the end of a running batch (called between runs, up to maxBatch items in
   * all). Runners without it take new items only in new batches.
   */
  join?(batch: B, items: readonly I[]): void;
  /** Runs one batch takes from start to finish, for Retry-After (1 for a single-run graph). */
  readonly runsPerBatch: number;
  /** Rows the device computes per item, for metrics (2 with guidance). Default 1. */
  readonly rowsPerItem?: number;
}

/** What the engine tells a run about the queue. */
export interface RunContext {
  /**
   * The batch is full and items wait in the queue for room in it: a runner whose run can end as soon
   * as one of its items is done (chunked generation) lets them join sooner.
   */
  waiting: boolean;
}

export interface EngineOptions<I> {
  /** `model/graph`, for messages. */
  label: string;
  /** Items per batch. */
  maxBatch: number;
  /** Batches in flight at once, their runs interleaved (per-step generation); default 1. */
  maxActiveBatches?: number;
  /** Items waiting (not yet in a batch) per priority; a request that would exceed it is refused whole. */
  maxQueue: number;
  /** Opt-in wait for a fuller batch when nothing is in flight; default 0 (run at once). */
  maxQueueDelayMs?: number;
  /** Chooses the items of the next batch; default: the oldest, first come first served. */
  picker?: Picker<I>;
  onRun?: (info: { rows: number; computeUs: number }) => void;
  onQueued?: (info: { queueUs: number }) => void;
  /** Items that joined a batch already in flight (runners with `join`), at each join. */
  onJoin?: (info: { items: number }) => void;
}

interface Request<O> {
  results: O[];
  remaining: number;
  settled: boolean;
  resolve: (results: O[]) => void;
  reject: (error: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

interface Entry<I, O> {
  item: I;
  /** Position of the item in its request's answer. */
  index: number;
  request: Request<O>;
  priority: Priority;
  enqueuedAt: number;
}

interface Batch<I, O, B> {
  entries: Entry<I, O>[];
  state: B;
  runs: number;
}

export class Engine<I, O, B = undefined> {
  #queue: Entry<I, O>[] = [];
  #active: Batch<I, O, B>[] = [];
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #closed = false;
  /** Exponential moving average of one run, in ms. */
  #avgRunMs = 0;
  /** Items of the batch that finished last, and when (performance.now ms). */
  #lastBatch = { items: 0, endedAt: Number.NEGATIVE_INFINITY };
  readonly #picker: Picker<I>;

  constructor(
    readonly runner: Runner<I, O, B>,
    readonly options: EngineOptions<I>,
  ) {
    this.#picker = options.picker ?? fifo;
  }

  /** Items waiting to start. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Items in batches in flight. */
  get active(): number {
    return this.#active.reduce((n, b) => n + b.entries.length, 0);
  }

  /** Seconds until the work queued now has likely finished (at least 1), for Retry-After. */
  retryAfterSeconds(): number {
    const { runsPerBatch } = this.runner;
    const waiting = Math.ceil(this.#queue.length / this.options.maxBatch) * runsPerBatch;
    const inFlight = this.#active.reduce((n, b) => n + Math.max(1, runsPerBatch - b.runs), 0);
    return Math.max(1, Math.ceil(((waiting + inFlight) * this.#avgRunMs) / 1000));
  }

  /**
   * Runs `items` (in batches shared with other requests) and resolves with one result per item, in
   * order. Rejects with the signal's reason when aborted: queued items leave the queue at once, items in
   * a batch leave it before its next run (a run cannot be stopped midway; its results are dropped).
   * `background` items wait while any interactive item is queued (see the module comment).
   */
  submit(items: readonly I[], signal?: AbortSignal, priority: Priority = 'interactive'): Promise<O[]> {
    if (this.#closed)
      return Promise.reject(new ApiError('backend_unavailable', 'the server is shutting down'));
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (items.length === 0) return Promise.resolve([]);
    try {
      this.runner.check?.(items);
    } catch (error) {
      return Promise.reject(error);
    }
    const { maxQueue } = this.options;
    const waiting = this.#queue.reduce((n, e) => n + (e.priority === priority ? 1 : 0), 0);
    if (waiting + items.length > maxQueue) {
      const which = priority === 'background' ? 'background items' : 'items';
      return Promise.reject(
        new QueueFullError(
          `${waiting} ${which} are waiting for ${this.options.label}; the queue holds ${maxQueue}`,
          maxQueue,
          this.retryAfterSeconds(),
        ),
      );
    }
    return new Promise<O[]>((resolve, reject) => {
      const request: Request<O> = {
        results: new Array<O>(items.length),
        remaining: items.length,
        settled: false,
        resolve,
        reject,
        signal,
        onAbort: () => this.#settle(request, signal?.reason ?? new Error('aborted')),
      };
      signal?.addEventListener('abort', request.onAbort, { once: true });
      const now = performance.now();
      for (const [index, item] of items.entries())
        this.#queue.push({ item, index, request, priority, enqueuedAt: now });
      this.#kick();
    });
  }

  /** Refuses new work; resolves once the queue has drained and no batch is in flight. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#loop !== undefined) await this.#loop;
  }

  #settle(request: Request<O>, error?: unknown): void {
    if (request.settled) return;
    request.settled = true;
    request.signal?.removeEventListener('abort', request.onAbort);
    if (error === undefined) {
      request.resolve(request.results);
      return;
    }
    this.#queue = this.#queue.filter((e) => e.request !== request);
    this.#wakeUp();
    request.reject(error);
  }

  /** Ends a wait for company early (new work arrived, or queued work left). */
  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #kick(): void {
    this.#wakeUp();
    if (this.#loop !== undefined) return;
    // Started after the current task's synchronous work, so requests submitted together share a batch.
    this.#loop = Promise.resolve()
      .then(() => this.#serve())
      .catch((error: unknown) =>
        logger.error('scheduler loop failed', { scheduler: this.options.label, error: String(error) }),
      )
      .finally(() => {
        this.#loop = undefined;
        if (this.#queue.length > 0) this.#kick();
      });
  }

  async #serve(): Promise<void> {
    const maxActive = this.options.maxActiveBatches ?? 1;
    while (this.#queue.length > 0 || this.#active.length > 0) {
      if (this.#active.length === 0) await this.#gather();
      while (this.#active.length < maxActive && this.#queue.length > 0) this.#startBatch();
      for (const batch of this.#active) this.#join(batch);
      // One run of every batch in flight, round robin.
      for (const batch of [...this.#active]) await this.#advance(batch);
      // A slot is free again: first let requests that already reached the process join the queue.
      if (this.#active.length === 0 || (this.#queue.length > 0 && this.#active.length < maxActive)) {
        await this.#admitArrived();
      }
    }
  }

  /**
   * After a run, before the next batch: lets requests that already reached this process (bodies
   * being read, signatures being checked) join the queue, by yielding event-loop turns (at least two,
   * at most ADMIT_TURNS) while each turn still brings new items. No timer, and a lone request never
   * meets it (it starts at once when the engine is idle). Without it, on a host whose CPU also runs
   * the graphs, the next run starts before the requests that arrived during the last one are queued,
   * and batches shrink under load.
   */
  async #admitArrived(): Promise<void> {
    const { maxBatch } = this.options;
    for (let turn = 0; turn < ADMIT_TURNS && this.#queue.length < maxBatch; turn++) {
      const before = this.#queue.length;
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (turn > 0 && this.#queue.length === before) return;
    }
  }

  /**
   * How long to wait for the clients of the batch that just ended, and for how many items: nothing
   * unless that batch was bigger than what is queued and ended less than one run ago.
   */
  #returningClients(): { waitMs: number; items: number } {
    const items = Math.min(this.#lastBatch.items, this.options.maxBatch);
    const recent = performance.now() - this.#lastBatch.endedAt < this.#avgRunMs;
    if (!recent || this.#queue.length >= items) return { waitMs: 0, items };
    return { waitMs: Math.min(this.#avgRunMs * RETURN_WAIT_FRACTION, RETURN_WAIT_CAP_MS), items };
  }

  /**
   * The wait for company when nothing is in flight: for the last batch's clients to come back (see
   * the module comment), or the opt-in maxQueueDelayMs for a full batch; ends early once that many
   * items are queued.
   */
  async #gather(): Promise<void> {
    const optIn = this.options.maxQueueDelayMs ?? 0;
    const returning = this.#returningClients();
    const oldest = this.#queue[0];
    if (oldest === undefined || (optIn <= 0 && returning.waitMs <= 0)) return;
    const [delay, target] =
      optIn >= returning.waitMs ? [optIn, this.options.maxBatch] : [returning.waitMs, returning.items];
    const deadline = oldest.enqueuedAt + delay;
    while (this.#queue.length > 0 && this.#queue.length < target) {
      const left = deadline - performance.now();
      if (left <= 0) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.#wake = undefined;
          resolve();
        }, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /**
   * Takes the picker's choice of at most `max` queued entries off the queue, from one priority:
   * interactive while any interactive item is queued. Empty when nothing is queued.
   */
  #take(max: number): Entry<I, O>[] {
    const priority: Priority = this.#queue.some((e) => e.priority === 'interactive')
      ? 'interactive'
      : 'background';
    const lane = this.#queue.filter((e) => e.priority === priority);
    const oldest = lane[0];
    if (oldest === undefined) return [];
    const picked = new Set(
      this.#picker(
        lane.map((e) => e.item),
        max,
      ).map((i) => lane[i]),
    );
    // The oldest item of the priority always goes, whatever the picker says, so nothing in it starves.
    picked.add(oldest);
    const entries: Entry<I, O>[] = [];
    const rest: Entry<I, O>[] = [];
    for (const e of this.#queue) (picked.has(e) ? entries : rest).push(e);
    this.#queue = rest;
    const now = performance.now();
    for (const e of entries) this.options.onQueued?.({ queueUs: (now - e.enqueuedAt) * 1000 });
    return entries;
  }

  #startBatch(): void {
    const entries = this.#take(this.options.maxBatch);
    if (entries.length === 0) return;
    this.#active.push({ entries, state: this.runner.start(entries.map((e) => e.item)), runs: 0 });
  }

  /** Queued items join a running batch with room, for runners that can take them between runs. */
  #join(batch: Batch<I, O, B>): void {
    const room = this.options.maxBatch - batch.entries.length;
    if (this.runner.join === undefined || room <= 0 || this.#queue.length === 0) return;
    const entries = this.#take(room);
    if (entries.length === 0) return;
    this.runner.join(
      batch.state,
      entries.map((e) => e.item),
    );
    batch.entries.push(...entries);
    this.options.onJoin?.({ items: entries.length });
  }

  async #advance(batch: Batch<I, O, B>): Promise<void> {
    const keep = batch.entries.map((e) => !e.request.settled);
    if (!keep.every(Boolean)) {
      this.runner.drop?.(batch.state, keep);
      batch.entries = batch.entries.filter((_, i) => keep[i]);
    }
    if (batch.entries.length === 0) {
      this.#finish(batch);
      return;
    }
    const started = performance.now();
    let results: readonly (O | undefined)[] | undefined;
    try {
      const waiting = this.#queue.length > 0 && batch.entries.length >= this.options.maxBatch;
      results = await this.runner.run(
        batch.state,
        batch.entries.map((e) => e.item),
        { waiting },
      );
      if (results !== undefined && results.length !== batch.entries.length) {
        throw new Error(
          `${this.options.label}: a batch of ${batch.entries.length} returned ${results.length} results`,
        );
      }
    } catch (error) {
      logger.error('graph run failed; failing its requests', {
        scheduler: this.options.label,
        items: batch.entries.length,
      });
      for (const e of batch.entries) this.#settle(e.request, error);
      this.#finish(batch);
      return;
    }
    const ms = performance.now() - started;
    this.#avgRunMs = this.#avgRunMs === 0 ? ms : 0.9 * this.#avgRunMs + 0.1 * ms;
    batch.runs += 1;
    const rows = batch.entries.length * (this.runner.rowsPerItem ?? 1);
    this.options.onRun?.({ rows, computeUs: ms * 1000 });
    if (results === undefined) return;
    const done = results;
    const stay = done.map((r) => r === undefined);
    const leaving = batch.entries.flatMap((e, k) => (stay[k] ? [] : [{ e, result: done[k]! }]));
    if (stay.some(Boolean)) {
      this.runner.drop?.(batch.state, stay);
      batch.entries = batch.entries.filter((_, k) => stay[k]);
    } else {
      this.#finish(batch);
      this.#lastBatch = { items: leaving.length, endedAt: performance.now() };
    }
    for (const { e, result } of leaving) {
      // A request aborted during the run was already rejected: its results are dropped here.
      if (e.request.settled) continue;
      e.request.results[e.index] = result;
      e.request.remaining -= 1;
      if (e.request.remaining === 0) this.#settle(e.request);
    }
  }

  #finish(batch: Batch<I, O, B>): void {
    this.#active = this.#active.filter((b) => b !== batch);
  }
}
