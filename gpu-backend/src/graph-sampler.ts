// Sampling through generate.onnx (docs/model-contract.md, "generate.onnx"): the whole guided AR loop in
// ONE onnxruntime run, so the KV cache never leaves the runtime. Same Philox uniforms u(seed, image, step)
// and the same float32 sampler as the per-step ArSampler, so a seed gives the same tokens on either path.
import { ApiError, uniforms } from '@gigatok/shared';
import { QueueFullError } from './batcher.ts';
import { logger } from './log.ts';
import type { Feeds, Graph } from './ort.ts';
import { float32, int64, outputInt64 } from './ort.ts';
import type { SamplingParams } from './sampling.ts';

export interface GenerateGraphSpec {
  modelId: string;
  /** A session of the model's `graphs.generate` file. */
  graph: Graph;
  tokens: number;
  vocab: number;
  numClasses: number;
  nullClass: number;
}

/** One image of a graph run. Rows of one run may come from different requests. */
export interface GraphRow {
  seed: number;
  /** Index of the image in its request: its uniforms are u(seed, imageIndex, 0..T-1). */
  imageIndex: number;
  /** null = unconditional (the null class on both halves of the guidance batch). */
  classId: number | null;
  params: SamplingParams;
  /** Tokens forced at steps 0..K-1 (variations); every row of a run must have the same K. */
  prefix?: readonly number[];
}

export interface GraphRequest {
  seed: number;
  /** One per image; image i uses uniforms (seed, i). */
  classIds: readonly (number | null)[];
  params: SamplingParams;
  /** Optional forced first tokens, one array per image, all of the same length <= T. */
  prefixes?: readonly (readonly number[])[];
}

function invalid(field: string, detail: string): ApiError {
  return new ApiError('invalid_parameter', detail, { field });
}

/**
 * The feeds of generate.onnx for `rows`. Sampling parameters go in as one value per row ([B]), which the
 * graph broadcasts, so one run may mix requests with different settings. Throws `invalid_parameter` for
 * what would make the graph fail (class ids, prefix tokens, prefix lengths).
 */
export function generateFeeds(spec: GenerateGraphSpec, rows: readonly GraphRow[]): Feeds {
  const B = rows.length;
  const T = spec.tokens;
  if (B === 0) throw invalid('class_ids', "'class_ids' must hold at least one image");
  const K = rows[0]!.prefix?.length ?? 0;
  if (K > T) throw invalid('prefix', `'prefix' must hold at most ${T} tokens, got ${K}`);
  const classIds = new BigInt64Array(B);
  const u = new Float32Array(B * T);
  const cfgScale = new Float32Array(B);
  const cfgSchedule = new BigInt64Array(B);
  const temperature = new Float32Array(B);
  const topK = new BigInt64Array(B);
  const topP = new Float32Array(B);
  const prefix = new BigInt64Array(B * K);
  for (const [i, row] of rows.entries()) {
    const c = row.classId;
    if (c !== null && (!Number.isInteger(c) || c < 0 || c >= spec.numClasses)) {
      throw invalid(
        `class_ids.${i}`,
        `'class_ids.${i}' must be in [0, ${spec.numClasses - 1}] or null, got ${c}`,
      );
    }
    classIds[i] = BigInt(c ?? spec.nullClass);
    u.set(uniforms(row.seed, row.imageIndex, 1, T), i * T);
    const p = row.params;
    if (!Number.isInteger(p.topK) || p.topK < 0) {
      throw invalid('top_k', `'top_k' must be an integer >= 0, got ${p.topK}`);
    }
    cfgScale[i] = p.cfgScale;
    cfgSchedule[i] = p.cfgSchedule === 'step' ? 1n : 0n;
    temperature[i] = p.temperature;
    topK[i] = BigInt(p.topK);
    topP[i] = p.topP;
    const forced = row.prefix ?? [];
    if (forced.length !== K) {
      throw invalid(
        `prefix.${i}`,
        `every row of a run needs the same prefix length (${K}), got ${forced.length}`,
      );
    }
    for (const [s, t] of forced.entries()) {
      if (!Number.isInteger(t) || t < 0 || t >= spec.vocab) {
        throw invalid(`prefix.${i}.${s}`, `'prefix.${i}.${s}' must be in [0, ${spec.vocab - 1}], got ${t}`);
      }
      prefix[i * K + s] = BigInt(t);
    }
  }
  return {
    class_ids: int64(classIds, [B]),
    uniforms: float32(u, [B, T]),
    cfg_scale: float32(cfgScale, [B]),
    cfg_schedule: int64(cfgSchedule, [B]),
    temperature: float32(temperature, [B]),
    top_k: int64(topK, [B]),
    top_p: float32(topP, [B]),
    prefix_tokens: int64(prefix, [B, K]),
  };
}

/** Samples one token sequence per row in a single run of generate.onnx. */
export async function runGenerateGraph(
  spec: GenerateGraphSpec,
  rows: readonly GraphRow[],
): Promise<Int32Array[]> {
  const label = `${spec.modelId}/generate`;
  const out = outputInt64(await spec.graph.run(generateFeeds(spec, rows)), 'tokens', label);
  const T = spec.tokens;
  if (out.data.length !== rows.length * T) {
    throw new Error(`${label}: tokens have ${out.data.length} values, expected ${rows.length} x ${T}`);
  }
  return rows.map((_, i) => Int32Array.from(out.data.subarray(i * T, (i + 1) * T), Number));
}

/** A whole request in one run: image i uses (seed, i), as with ArSampler.generate. */
export function generateWithGraph(spec: GenerateGraphSpec, request: GraphRequest): Promise<Int32Array[]> {
  const rows = request.classIds.map((classId, i) => ({
    seed: request.seed,
    imageIndex: i,
    classId,
    params: request.params,
    ...(request.prefixes === undefined ? {} : { prefix: request.prefixes[i] ?? [] }),
  }));
  return runGenerateGraph(spec, rows);
}

export interface GraphSamplerOptions {
  /**
   * Images per run of generate.onnx (run as 2x rows for guidance). A run cannot be stopped once
   * started, so this also bounds how long a canceled request's rows keep the runtime busy.
   */
  maxRowsPerRun: number;
  maxQueueDelayMs: number;
  /** Images waiting to start; beyond it `generate` fails with `queue_full`. */
  maxQueue: number;
  onRun?: (info: { rows: number; computeUs: number }) => void;
  onQueued?: (info: { queueUs: number }) => void;
}

interface QueuedRow {
  row: GraphRow;
  /** Position of the image in its request's answer. */
  index: number;
  enqueuedAt: number;
  job: GraphJob;
}

interface GraphJob {
  tokens: Int32Array[];
  remaining: number;
  signal: AbortSignal | undefined;
  settled: boolean;
  resolve: (tokens: Int32Array[]) => void;
  reject: (error: unknown) => void;
  onAbort: () => void;
}

/**
 * Serves generate requests through generate.onnx: images of concurrent requests (any seeds and
 * sampling settings: each parameter is fed per row) are queued, merged into runs of at most
 * `maxRowsPerRun` images and sampled in one session.run each; one run at a time per model (the runs
 * share the model's onnxruntime thread anyway).
 *
 * Cancellation is at run boundaries (issue 12, option a): an aborted request is rejected at once and
 * its queued images leave the queue; images already inside a running run finish with it (the graph
 * has no way to stop a Loop midway) and their tokens are discarded, never returned. The extra compute
 * is bounded by one run of `maxRowsPerRun` images, T steps.
 */
export class GraphSampler {
  #pending: QueuedRow[] = [];
  #inRun = 0;
  #running = false;
  #wake: (() => void) | undefined;
  #closed = false;
  /** Moving average of one run, in ms. */
  #avgRunMs = 0;

  constructor(
    readonly spec: GenerateGraphSpec,
    readonly options: GraphSamplerOptions,
  ) {}

  get pendingImages(): number {
    return this.#pending.length;
  }

  get activeImages(): number {
    return this.#inRun;
  }

  /** Seconds until the work queued now has likely finished (at least 1), for Retry-After. */
  retryAfterSeconds(): number {
    const runs = Math.ceil(this.#pending.length / this.options.maxRowsPerRun) + (this.#inRun > 0 ? 1 : 0);
    return Math.max(1, Math.ceil((runs * this.#avgRunMs) / 1000));
  }

  /**
   * Samples `classIds.length` token sequences; image i uses (seed, i) and starts with `prefixes[i]` when
   * given. Rejects with the signal's reason when aborted.
   */
  generate(request: GraphRequest, signal?: AbortSignal): Promise<Int32Array[]> {
    const { spec } = this;
    if (this.#closed)
      return Promise.reject(new ApiError('backend_unavailable', 'the sampler is shutting down'));
    if (signal?.aborted) return Promise.reject(signal.reason);
    const rows: GraphRow[] = request.classIds.map((classId, i) => ({
      seed: request.seed,
      imageIndex: i,
      classId,
      params: request.params,
      ...(request.prefixes === undefined ? {} : { prefix: request.prefixes[i] ?? [] }),
    }));
    try {
      // Checked per request, so a bad request fails alone instead of failing a shared run; rows with
      // other prefix lengths than the first (they run separately) are checked by length group.
      const K = rows[0]?.prefix?.length ?? 0;
      generateFeeds(
        spec,
        rows.filter((r) => (r.prefix?.length ?? 0) === K),
      );
      for (const row of rows) if ((row.prefix?.length ?? 0) !== K) generateFeeds(spec, [row]);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#pending.length + rows.length > this.options.maxQueue) {
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
      const job: GraphJob = {
        tokens: new Array<Int32Array>(rows.length),
        remaining: rows.length,
        signal,
        settled: false,
        resolve,
        reject,
        onAbort: () => this.#settle(job, job.signal?.reason ?? new Error('aborted')),
      };
      signal?.addEventListener('abort', job.onAbort, { once: true });
      for (const [index, row] of rows.entries()) this.#pending.push({ row, index, enqueuedAt: now, job });
      this.#kick();
    });
  }

  /** Stops taking work; a run in progress finishes. Resolves once the loop is idle. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#running) await new Promise((r) => setTimeout(r, 5));
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #kick(): void {
    this.#wakeUp();
    if (this.#running) return;
    this.#running = true;
    void this.#loop()
      .catch((error: unknown) =>
        logger.error('graph sampler loop failed', { model: this.spec.modelId, error: String(error) }),
      )
      .finally(() => {
        this.#running = false;
        if (this.#pending.length > 0) this.#kick();
      });
  }

  #settle(job: GraphJob, error?: unknown): void {
    if (job.settled) return;
    job.settled = true;
    job.signal?.removeEventListener('abort', job.onAbort);
    if (error !== undefined) {
      this.#pending = this.#pending.filter((q) => q.job !== job);
      this.#wakeUp();
      job.reject(error);
    } else job.resolve(job.tokens);
  }

  async #loop(): Promise<void> {
    while (this.#pending.length > 0) {
      if (this.#pending.length < this.options.maxRowsPerRun) await this.#waitForBatch();
      const batch = this.#takeRun();
      if (batch.length === 0) continue;
      const now = performance.now();
      for (const q of batch) this.options.onQueued?.({ queueUs: (now - q.enqueuedAt) * 1000 });
      this.#inRun = batch.length;
      try {
        const started = performance.now();
        const tokens = await runGenerateGraph(
          this.spec,
          batch.map((q) => q.row),
        );
        const ms = performance.now() - started;
        this.#avgRunMs = this.#avgRunMs === 0 ? ms : 0.9 * this.#avgRunMs + 0.1 * ms;
        this.options.onRun?.({ rows: 2 * batch.length, computeUs: ms * 1000 });
        for (const [i, q] of batch.entries()) {
          // A request canceled during the run was already rejected: its rows are dropped here.
          if (q.job.settled) continue;
          q.job.tokens[q.index] = tokens[i]!;
          q.job.remaining -= 1;
          if (q.job.remaining === 0) this.#settle(q.job);
        }
      } catch (error) {
        logger.error('generate graph run failed; failing its requests', {
          model: this.spec.modelId,
          rows: batch.length,
        });
        for (const q of batch) this.#settle(q.job, error);
      } finally {
        this.#inRun = 0;
      }
    }
  }

  /**
   * The next run: the oldest queued image and, in queue order, up to `maxRowsPerRun - 1` others with the
   * same prefix length (generate.onnx takes one `prefix_tokens` [B, K] per run). Images with other
   * lengths keep their place for a later run.
   */
  #takeRun(): QueuedRow[] {
    const head = this.#pending[0];
    if (head === undefined) return [];
    const K = head.row.prefix?.length ?? 0;
    const batch: QueuedRow[] = [];
    const rest: QueuedRow[] = [];
    for (const q of this.#pending) {
      if (batch.length < this.options.maxRowsPerRun && (q.row.prefix?.length ?? 0) === K) batch.push(q);
      else rest.push(q);
    }
    this.#pending = rest;
    return batch;
  }

  /** Waits until the queue holds a full run or the oldest image waited `maxQueueDelayMs`. */
  async #waitForBatch(): Promise<void> {
    const oldest = this.#pending[0];
    if (oldest === undefined) return;
    const deadline = oldest.enqueuedAt + this.options.maxQueueDelayMs;
    while (this.#pending.length > 0 && this.#pending.length < this.options.maxRowsPerRun) {
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
}
