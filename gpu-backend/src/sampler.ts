// The autoregressive sampling loop over the `ar_step` graph (docs/model-contract.md): class-token
// prefill at position 0, one token per step with a host-held KV cache, guidance by batch doubling.
//
// Batching. `ar_step` takes ONE `position` and one past length P for the whole batch, so rows at
// different positions cannot share a run: true continuous batching (a request joining a running
// batch at its next step) would need per-row positions and an attention mask in the graph. What
// this engine does instead: images queued together (within the max queue delay, up to the max
// batch) start as one cohort; a request that arrives while cohorts are decoding forms a new cohort
// that starts at the very next step and runs interleaved, step by step, with the others (up to
// `maxActiveCohorts`), instead of waiting for them to finish. Each image draws its uniforms from
// (seed, image index, step), and rows never mix, so tokens do not depend on cohort composition.
//
// Variations (issue 11). A row with a prefix of K tokens runs the same steps: positions 0..K-1 go
// through the step graph as usual (the prefill of the class token and the prefix into the KV cache,
// one position per run since the graph takes one token), but their token is the prefix's instead of
// a draw. Position p always uses u(seed, image, p), so a prefix never shifts the randomness of later
// positions, K = 0 is plain generation, and rows with different K share a cohort.
import { ApiError, uniform } from '@gigatok/shared';
import { QueueFullError } from './batcher.ts';
import { logger } from './log.ts';
import type { Graph, HostTensor } from './ort.ts';
import { float32, int64, outputFloat32 } from './ort.ts';
import { cfgAt, drawToken, SamplerScratch, type SamplingParams } from './sampling.ts';

export interface ArSpec {
  modelId: string;
  graph: Graph;
  layers: number;
  heads: number;
  headDim: number;
  tokens: number;
  vocab: number;
  numClasses: number;
  nullClass: number;
}

export type SamplerMode = 'kv' | 'recompute';

export interface SamplerOptions {
  maxBatch: number;
  maxQueueDelayMs: number;
  /** Images waiting to start; beyond it `generate` fails with `queue_full`. */
  maxQueue: number;
  maxActiveCohorts: number;
  /**
   * `kv`: the KV cache (present -> past each step). `recompute`: the no-cache baseline; each step
   * re-runs the step graph over positions 0..p from an empty cache (the step graph takes one token at a
   * time, so this is how "no cache" reads with these graphs). For benchmarks and the KV == recompute test.
   */
  mode: SamplerMode;
  onStep?: (info: { rows: number; computeUs: number }) => void;
  onQueued?: (info: { queueUs: number }) => void;
}

export interface GenerateRequest {
  seed: number;
  /** One per image; null = unconditional. Image i uses uniforms (seed, i). */
  classIds: readonly (number | null)[];
  params: SamplingParams;
  /** Optional forced first tokens per image (variations), each 0..T-1 tokens long, checked by the caller. */
  prefixes?: readonly (readonly number[])[];
}

interface Sequence {
  seed: number;
  imageIndex: number;
  classId: number;
  params: SamplingParams;
  /** Tokens forced at positions 0..prefix.length-1. */
  prefix: readonly number[];
  tokens: Int32Array;
  enqueuedAt: number;
  job: Job;
}

interface Job {
  sequences: Sequence[];
  remaining: number;
  signal: AbortSignal | undefined;
  settled: boolean;
  resolve: (tokens: Int32Array[]) => void;
  reject: (error: unknown) => void;
  onAbort: () => void;
}

interface Cohort {
  rows: Sequence[];
  position: number;
  pastKeys: Float32Array;
  pastValues: Float32Array;
}

export class ArSampler {
  #pending: Sequence[] = [];
  #cohorts: Cohort[] = [];
  #running = false;
  #wake: (() => void) | undefined;
  #closed = false;
  /** Moving average of one cohort step, in ms. */
  #avgStepMs = 0;
  readonly #scratch: SamplerScratch;

  constructor(
    readonly spec: ArSpec,
    readonly options: SamplerOptions,
  ) {
    this.#scratch = new SamplerScratch(spec.vocab);
  }

  get pendingImages(): number {
    return this.#pending.length;
  }

  get activeImages(): number {
    return this.#cohorts.reduce((n, c) => n + c.rows.length, 0);
  }

  /** Seconds until the work queued now has likely finished (at least 1), for Retry-After. */
  retryAfterSeconds(): number {
    const cohorts = Math.ceil(this.#pending.length / this.options.maxBatch) + this.#cohorts.length;
    const seconds = (cohorts * this.spec.tokens * this.#avgStepMs) / 1000;
    return Math.max(1, Math.ceil(seconds));
  }

  /** Samples `classIds.length` token sequences. Rejects with the signal's reason when aborted. */
  generate(request: GenerateRequest, signal?: AbortSignal): Promise<Int32Array[]> {
    const { spec } = this;
    if (this.#closed)
      return Promise.reject(new ApiError('backend_unavailable', 'the sampler is shutting down'));
    if (signal?.aborted) return Promise.reject(signal.reason);
    for (const [i, c] of request.classIds.entries()) {
      if (c !== null && (!Number.isInteger(c) || c < 0 || c >= spec.numClasses)) {
        return Promise.reject(
          new ApiError(
            'invalid_parameter',
            `'class_ids.${i}' must be in [0, ${spec.numClasses - 1}] or null, got ${c}`,
            {
              field: `class_ids.${i}`,
            },
          ),
        );
      }
    }
    if (this.#pending.length + request.classIds.length > this.options.maxQueue) {
      return Promise.reject(
        new QueueFullError(
          `${this.#pending.length} images are waiting for ${spec.modelId}; the queue holds ${this.options.maxQueue}`,
          this.options.maxQueue,
          this.retryAfterSeconds(),
        ),
      );
    }
    return new Promise<Int32Array[]>((resolve, reject) => {
      const now = performance.now();
      const job: Job = {
        sequences: [],
        remaining: request.classIds.length,
        signal,
        settled: false,
        resolve,
        reject,
        onAbort: () => this.#abort(job),
      };
      job.sequences = request.classIds.map((c, i) => ({
        seed: request.seed,
        imageIndex: i,
        classId: c ?? spec.nullClass,
        params: request.params,
        prefix: request.prefixes?.[i] ?? [],
        tokens: new Int32Array(spec.tokens),
        enqueuedAt: now,
        job,
      }));
      signal?.addEventListener('abort', job.onAbort, { once: true });
      this.#pending.push(...job.sequences);
      this.#kick();
    });
  }

  /** Stops taking work; in-flight cohorts finish. Resolves once the loop is idle. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#running) await new Promise((r) => setTimeout(r, 5));
  }

  /** Ends a wait for a fuller batch early (new work arrived, or queued work left). */
  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #kick(): void {
    this.#wakeUp();
    if (!this.#running) {
      this.#running = true;
      void this.#loop()
        .catch((error: unknown) =>
          logger.error('sampler loop failed', { model: this.spec.modelId, error: String(error) }),
        )
        .finally(() => {
          this.#running = false;
          if (this.#pending.length > 0) this.#kick();
        });
    }
  }

  #abort(job: Job): void {
    if (job.settled) return;
    // Rows of the job still in a cohort are dropped before that cohort's next step.
    this.#settle(job, job.signal?.reason ?? new Error('aborted'));
  }

  #settle(job: Job, error?: unknown): void {
    if (job.settled) return;
    job.settled = true;
    job.signal?.removeEventListener('abort', job.onAbort);
    if (error !== undefined) {
      this.#pending = this.#pending.filter((s) => s.job !== job);
      this.#wakeUp();
      job.reject(error);
    } else job.resolve(job.sequences.map((s) => s.tokens));
  }

  async #loop(): Promise<void> {
    while (this.#pending.length > 0 || this.#cohorts.length > 0) {
      if (this.#cohorts.length === 0 && this.#pending.length < this.options.maxBatch) {
        await this.#waitForBatch();
      }
      while (this.#cohorts.length < this.options.maxActiveCohorts && this.#pending.length > 0) {
        const rows = this.#pending.splice(0, this.options.maxBatch);
        const now = performance.now();
        for (const s of rows) this.options.onQueued?.({ queueUs: (now - s.enqueuedAt) * 1000 });
        this.#cohorts.push(this.#newCohort(rows));
      }
      // One step of every active cohort, round robin.
      for (const cohort of [...this.#cohorts]) {
        this.#dropSettled(cohort);
        if (cohort.rows.length === 0) {
          this.#cohorts = this.#cohorts.filter((c) => c !== cohort);
          continue;
        }
        try {
          await this.#step(cohort);
        } catch (error) {
          logger.error('ar_step failed; failing the cohort', {
            model: this.spec.modelId,
            rows: cohort.rows.length,
          });
          for (const s of cohort.rows) this.#settle(s.job, error);
          cohort.rows = [];
        }
        if (cohort.position === this.spec.tokens || cohort.rows.length === 0) {
          this.#cohorts = this.#cohorts.filter((c) => c !== cohort);
          for (const s of cohort.rows) {
            s.job.remaining -= 1;
            if (s.job.remaining === 0) this.#settle(s.job);
          }
        }
      }
    }
  }

  /** Waits until the queue holds a full batch or the oldest image waited `maxQueueDelayMs`. */
  async #waitForBatch(): Promise<void> {
    const oldest = this.#pending[0];
    if (oldest === undefined) return;
    const deadline = oldest.enqueuedAt + this.options.maxQueueDelayMs;
    while (this.#pending.length > 0 && this.#pending.length < this.options.maxBatch) {
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

  #newCohort(rows: Sequence[]): Cohort {
    return { rows, position: 0, pastKeys: new Float32Array(0), pastValues: new Float32Array(0) };
  }

  /** Removes rows whose request settled (aborted) from the cohort and from its KV cache. */
  #dropSettled(cohort: Cohort): void {
    const keep = cohort.rows.map((s) => !s.job.settled);
    if (keep.every(Boolean)) return;
    const { layers, heads, headDim } = this.spec;
    const n = cohort.rows.length;
    const rowSize = heads * cohort.position * headDim;
    // Batch rows are [cond 0..n-1; uncond 0..n-1]; keep both halves of each surviving sequence.
    const keptRows: number[] = [];
    for (let i = 0; i < n; i++) if (keep[i]) keptRows.push(i);
    for (let i = 0; i < n; i++) if (keep[i]) keptRows.push(n + i);
    const select = (src: Float32Array): Float32Array => {
      const dst = new Float32Array(layers * keptRows.length * rowSize);
      for (let l = 0; l < layers; l++) {
        for (const [j, r] of keptRows.entries()) {
          const from = (l * 2 * n + r) * rowSize;
          dst.set(src.subarray(from, from + rowSize), (l * keptRows.length + j) * rowSize);
        }
      }
      return dst;
    };
    if (rowSize > 0) {
      cohort.pastKeys = select(cohort.pastKeys);
      cohort.pastValues = select(cohort.pastValues);
    }
    cohort.rows = cohort.rows.filter((_, i) => keep[i]);
  }

  /** Feeds for one run of the step graph at `position`, for the cohort's doubled batch. */
  #feeds(
    cohort: Cohort,
    position: number,
    pastKeys: Float32Array,
    pastValues: Float32Array,
  ): Record<string, HostTensor> {
    const { layers, heads, headDim, nullClass } = this.spec;
    const n = cohort.rows.length;
    const N = 2 * n;
    const tokenIds = new BigInt64Array(N);
    const classIds = new BigInt64Array(N);
    for (const [i, s] of cohort.rows.entries()) {
      // Position 0 embeds the class (the graph ignores token_ids there); later positions embed the
      // token sampled at the previous step.
      const prev = position === 0 ? 0n : BigInt(s.tokens[position - 1]!);
      tokenIds[i] = prev;
      tokenIds[n + i] = prev;
      classIds[i] = BigInt(s.classId);
      classIds[n + i] = BigInt(nullClass);
    }
    const pastDims = [layers, N, heads, position, headDim];
    return {
      token_ids: int64(tokenIds, [N, 1]),
      class_ids: int64(classIds, [N]),
      position: int64(BigInt64Array.of(BigInt(position)), [1]),
      past_keys: float32(pastKeys, pastDims),
      past_values: float32(pastValues, pastDims),
    };
  }

  async #run(cohort: Cohort, position: number, pastKeys: Float32Array, pastValues: Float32Array) {
    const label = `${this.spec.modelId}/ar_step`;
    const started = performance.now();
    const out = await this.spec.graph.run(this.#feeds(cohort, position, pastKeys, pastValues));
    const ms = performance.now() - started;
    this.#avgStepMs = this.#avgStepMs === 0 ? ms : 0.9 * this.#avgStepMs + 0.1 * ms;
    this.options.onStep?.({ rows: 2 * cohort.rows.length, computeUs: ms * 1000 });
    return {
      logits: outputFloat32(out, 'logits', label).data,
      keys: outputFloat32(out, 'present_keys', label).data,
      values: outputFloat32(out, 'present_values', label).data,
    };
  }

  async #step(cohort: Cohort): Promise<void> {
    const p = cohort.position;
    let logits: Float32Array;
    if (this.options.mode === 'kv') {
      const r = await this.#run(cohort, p, cohort.pastKeys, cohort.pastValues);
      logits = r.logits;
      cohort.pastKeys = r.keys;
      cohort.pastValues = r.values;
    } else {
      // No cache: positions 0..p from an empty past, keeping only the last logits.
      let keys: Float32Array = new Float32Array(0);
      let values: Float32Array = new Float32Array(0);
      let last: Float32Array | undefined;
      for (let q = 0; q <= p; q++) {
        const r = await this.#run(cohort, q, keys, values);
        keys = r.keys;
        values = r.values;
        last = r.logits;
      }
      logits = last!;
    }
    const { vocab, tokens } = this.spec;
    const n = cohort.rows.length;
    if (logits.length !== 2 * n * vocab) {
      throw new Error(`ar_step logits have ${logits.length} values, expected ${2 * n} x ${vocab}`);
    }
    for (const [i, s] of cohort.rows.entries()) {
      if (p < s.prefix.length) {
        s.tokens[p] = s.prefix[p]!;
        continue;
      }
      const cfg = cfgAt(s.params.cfgScale, s.params.cfgSchedule, p, tokens);
      const u = uniform(s.seed, s.imageIndex, p);
      s.tokens[p] = drawToken(logits, i * vocab, logits, (n + i) * vocab, cfg, s.params, u, this.#scratch);
    }
    cohort.position = p + 1;
  }
}
