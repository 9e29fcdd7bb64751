// One loaded model as a service: encode, decode and embed through dynamic batchers, generate through
// generate.onnx (GraphSampler) when the model has it, else the per-step AR sampler, with metrics.
// Routes call this; it knows nothing about HTTP.
import { ApiError } from '@gigatok/shared';
import { DynamicBatcher } from './batcher.ts';
import { GraphSampler } from './graph-sampler.ts';
import type { Metrics } from './metrics.ts';
import { float32, int64, outputFloat32, outputInt64 } from './ort.ts';
import { encodeImage, type ImageLimits, type OutputFormat, preprocessImage, toPixels } from './preprocess.ts';
import { disposeModel, type GeneratePath, type LoadedModel } from './registry.ts';
import { ArSampler, type SamplerMode } from './sampler.ts';
import type { SamplingParams } from './sampling.ts';

export interface BatchingOptions {
  maxBatch: number;
  maxQueueDelayMs: number;
  maxQueue: number;
  maxActiveBatches: number;
}

export interface EncodedImage {
  format: OutputFormat;
  width: number;
  height: number;
  data: Uint8Array;
}

export class ModelService {
  readonly #encoder: DynamicBatcher<Float32Array, Int32Array>;
  readonly #decoder: DynamicBatcher<Int32Array, Float32Array>;
  /** embed.onnx behind a batcher; undefined when the model directory has no embed graph. */
  readonly #embedder: DynamicBatcher<Int32Array, Float32Array> | undefined;
  /** GraphSampler (generate.onnx, one run per batch) or ArSampler (ar_step.onnx, one run per step). */
  readonly sampler: ArSampler | GraphSampler | undefined;
  /** Which sampler generate uses: `graph` (generate.onnx) or `steps` (ar_step.onnx); undefined: cannot generate. */
  readonly generatePath: 'graph' | 'steps' | undefined;

  constructor(
    readonly model: LoadedModel,
    readonly batching: BatchingOptions,
    readonly limits: ImageLimits,
    readonly metrics: Metrics | undefined,
    samplerMode: SamplerMode = 'kv',
    generatePath: GeneratePath = 'auto',
  ) {
    const id = model.id;
    const { image_size: size, tokens_per_image: T } = model.manifest.tokenizer;
    const plane = 3 * size * size;
    const common = {
      maxBatch: batching.maxBatch,
      maxQueueDelayMs: batching.maxQueueDelayMs,
      maxQueue: batching.maxQueue,
    };
    this.#encoder = new DynamicBatcher<Float32Array, Int32Array>({
      ...common,
      label: `${id}/encoder`,
      run: async (images) => {
        const n = images.length;
        const input = new Float32Array(n * plane);
        for (const [i, img] of images.entries()) input.set(img, i * plane);
        const out = await model.encoder.run({ image: float32(input, [n, 3, size, size]) });
        const tokens = outputInt64(out, 'tokens', `${id}/encoder`).data;
        if (tokens.length !== n * T)
          throw new Error(`${id}/encoder returned ${tokens.length} tokens, expected ${n} x ${T}`);
        return images.map((_, i) => Int32Array.from(tokens.subarray(i * T, (i + 1) * T), Number));
      },
      onBatch: ({ size: s, computeUs }) => metrics?.recordExec(id, 'encoder', s, computeUs),
      onQueued: ({ queueUs }) => metrics?.recordQueue(id, 'encoder', queueUs),
    });
    this.#decoder = new DynamicBatcher<Int32Array, Float32Array>({
      ...common,
      label: `${id}/decoder`,
      run: async (rows) => {
        const n = rows.length;
        const input = new BigInt64Array(n * T);
        for (const [i, row] of rows.entries()) for (let t = 0; t < T; t++) input[i * T + t] = BigInt(row[t]!);
        const out = await model.decoder.run({ tokens: int64(input, [n, T]) });
        const image = outputFloat32(out, 'image', `${id}/decoder`).data;
        if (image.length !== n * plane)
          throw new Error(`${id}/decoder returned ${image.length} values, expected ${n} x ${plane}`);
        return rows.map((_, i) => image.slice(i * plane, (i + 1) * plane));
      },
      onBatch: ({ size: s, computeUs }) => metrics?.recordExec(id, 'decoder', s, computeUs),
      onQueued: ({ queueUs }) => metrics?.recordQueue(id, 'decoder', queueUs),
    });
    const ar = model.manifest.ar;
    const embed = model.embed;
    this.#embedder =
      embed === undefined
        ? undefined
        : new DynamicBatcher<Int32Array, Float32Array>({
            ...common,
            label: `${id}/embed`,
            run: async (rows) => {
              const n = rows.length;
              const tokens = new BigInt64Array(n * T);
              for (const [i, row] of rows.entries())
                for (let t = 0; t < T; t++) tokens[i * T + t] = BigInt(row[t]!);
              // The null class in front: the representation of the image alone (GigaTok's probe).
              const classes = new BigInt64Array(n).fill(BigInt(ar.null_class_id));
              const out = await embed.run({
                token_ids: int64(tokens, [n, T]),
                class_ids: int64(classes, [n]),
              });
              const values = outputFloat32(out, 'embedding', `${id}/embed`).data;
              if (values.length % n !== 0 || values.length === 0)
                throw new Error(`${id}/embed returned ${values.length} values for ${n} rows`);
              const dim = values.length / n;
              return rows.map((_, i) => values.slice(i * dim, (i + 1) * dim));
            },
            onBatch: ({ size: s, computeUs }) => metrics?.recordExec(id, 'embed', s, computeUs),
            onQueued: ({ queueUs }) => metrics?.recordQueue(id, 'embed', queueUs),
          });
    // The no-cache baseline (`recompute`) exists only on the per-step path.
    const useGraph = model.generate !== undefined && generatePath !== 'steps' && samplerMode === 'kv';
    if (generatePath === 'graph' && !useGraph) {
      throw new Error(`model ${id}: generate path 'graph' needs generate.onnx loaded and sampler mode 'kv'`);
    }
    if (useGraph && model.generate !== undefined) {
      this.generatePath = 'graph';
      this.sampler = new GraphSampler(
        {
          modelId: id,
          graph: model.generate,
          tokens: T,
          vocab: model.manifest.tokenizer.codebook_size,
          numClasses: ar.num_classes,
          nullClass: ar.null_class_id,
        },
        {
          maxRowsPerRun: batching.maxBatch,
          maxQueueDelayMs: batching.maxQueueDelayMs,
          maxQueue: batching.maxQueue,
          onRun: ({ rows, computeUs }) => metrics?.recordExec(id, 'generate', rows, computeUs),
          onQueued: ({ queueUs }) => metrics?.recordQueue(id, 'generate', queueUs),
        },
      );
    } else if (model.arStep !== undefined) {
      this.generatePath = 'steps';
      this.sampler = new ArSampler(
        {
          modelId: id,
          graph: model.arStep,
          layers: ar.n_layer,
          heads: ar.n_head,
          headDim: ar.head_dim,
          tokens: T,
          vocab: model.manifest.tokenizer.codebook_size,
          numClasses: ar.num_classes,
          nullClass: ar.null_class_id,
        },
        {
          maxBatch: batching.maxBatch,
          maxQueueDelayMs: batching.maxQueueDelayMs,
          maxQueue: batching.maxQueue,
          maxActiveCohorts: batching.maxActiveBatches,
          mode: samplerMode,
          onStep: ({ rows, computeUs }) => metrics?.recordExec(id, 'ar_step', rows, computeUs),
          onQueued: ({ queueUs }) => metrics?.recordQueue(id, 'ar_step', queueUs),
        },
      );
    } else {
      this.generatePath = undefined;
    }
  }

  get id(): string {
    return this.model.id;
  }

  /** Images in the queues, for the pending gauge. */
  pending(): { encoder: number; decoder: number; ar_step: number; generate: number; embed: number } {
    const generating = this.sampler?.pendingImages ?? 0;
    return {
      encoder: this.#encoder.queued,
      decoder: this.#decoder.queued,
      embed: this.#embedder?.queued ?? 0,
      ar_step: this.generatePath === 'steps' ? generating : 0,
      generate: this.generatePath === 'graph' ? generating : 0,
    };
  }

  /** The metrics label of the graph generate runs: `generate` or `ar_step`. */
  get generateGraph(): 'generate' | 'ar_step' {
    return this.generatePath === 'graph' ? 'generate' : 'ar_step';
  }

  /** Image bytes -> token rows. Preprocessing runs per request before joining the batch queue. */
  async encode(images: readonly Uint8Array[], signal?: AbortSignal): Promise<Int32Array[]> {
    const size = this.model.manifest.tokenizer.image_size;
    const plane = 3 * size * size;
    const tensors = await Promise.all(
      images.map(async (bytes, i) => {
        const out = new Float32Array(plane);
        await preprocessImage(bytes, size, this.limits, `images.${i}`, out, 0);
        return out;
      }),
    );
    return this.#encoder.submit(tensors, signal);
  }

  /** Checks token rows against the model (count per row, id range); field paths name the offender. */
  checkTokens(rows: readonly (readonly number[])[] | readonly Int32Array[], field: string): Int32Array[] {
    const { tokens_per_image: T, codebook_size: V } = this.model.manifest.tokenizer;
    return rows.map((row, i) => {
      if (row.length !== T) {
        throw new ApiError(
          'invalid_tokens',
          `'${field}.${i}' must hold ${T} tokens for ${this.id}, got ${row.length}`,
          {
            field: `${field}.${i}`,
            limit: T,
          },
        );
      }
      const out = new Int32Array(T);
      for (let t = 0; t < T; t++) {
        const v = row[t]!;
        if (!Number.isInteger(v) || v < 0 || v >= V) {
          throw new ApiError('invalid_tokens', `'${field}.${i}.${t}' must be in [0, ${V - 1}], got ${v}`, {
            field: `${field}.${i}.${t}`,
            limit: `[0, ${V - 1}]`,
          });
        }
        out[t] = v;
      }
      return out;
    });
  }

  /** Token rows (already checked) -> images in `format`. */
  async decode(
    rows: readonly Int32Array[],
    format: OutputFormat,
    signal?: AbortSignal,
  ): Promise<EncodedImage[]> {
    const size = this.model.manifest.tokenizer.image_size;
    const images = await this.#decoder.submit(rows, signal);
    return Promise.all(
      images.map(async (image) => ({
        format,
        width: size,
        height: size,
        data: await encodeImage(toPixels(image, 0, size), size, format),
      })),
    );
  }

  /** Whether the model directory has embed.onnx. */
  get canEmbed(): boolean {
    return this.#embedder !== undefined;
  }

  /**
   * Token rows (already checked) -> AR representations: the mean hidden state at layer
   * `ar.embedding_layer` (n_layer / 2) with the null class in front, one float32 vector per row.
   * Rows of concurrent requests share runs; a row's vector does not depend on its batch.
   */
  async embed(rows: readonly Int32Array[], signal?: AbortSignal): Promise<Float32Array[]> {
    if (this.#embedder === undefined) {
      throw new ApiError(
        'invalid_parameter',
        `model ${this.id} has no embed graph (export it again to add embed.onnx)`,
        { field: 'model' },
      );
    }
    return this.#embedder.submit(rows, signal);
  }

  /**
   * Checks variation prefixes: one per image, each of 0 to T-1 tokens in [0, V). Field paths name the
   * offender (`prefixes.i`, `prefixes.i.j`).
   */
  checkPrefixes(prefixes: readonly (readonly number[])[], images: number): void {
    const { tokens_per_image: T, codebook_size: V } = this.model.manifest.tokenizer;
    if (prefixes.length !== images) {
      throw new ApiError(
        'invalid_parameter',
        `'prefixes' must have ${images} entries, got ${prefixes.length}`,
        {
          field: 'prefixes',
          limit: images,
        },
      );
    }
    for (const [i, prefix] of prefixes.entries()) {
      if (prefix.length > T - 1) {
        throw new ApiError(
          'invalid_parameter',
          `'prefixes.${i}' must hold at most ${T - 1} tokens (tokens per image - 1), got ${prefix.length}`,
          { field: `prefixes.${i}`, limit: T - 1 },
        );
      }
      for (const [j, t] of prefix.entries()) {
        if (!Number.isInteger(t) || t < 0 || t >= V) {
          throw new ApiError('invalid_parameter', `'prefixes.${i}.${j}' must be in [0, ${V - 1}], got ${t}`, {
            field: `prefixes.${i}.${j}`,
            limit: `[0, ${V - 1}]`,
          });
        }
      }
    }
  }

  async generate(
    request: {
      seed: number;
      classIds: readonly (number | null)[];
      params: SamplingParams;
      prefixes?: readonly (readonly number[])[];
    },
    signal?: AbortSignal,
  ): Promise<Int32Array[]> {
    if (this.sampler === undefined) {
      throw new ApiError('invalid_parameter', `model ${this.id} has no ar_step graph and cannot generate`, {
        field: 'model',
      });
    }
    const { codebook_size: V } = this.model.manifest.tokenizer;
    if (request.params.topK > V) {
      throw new ApiError('invalid_parameter', `'top_k' must be in [0, ${V}], got ${request.params.topK}`, {
        field: 'top_k',
        limit: V,
      });
    }
    if (request.prefixes !== undefined) this.checkPrefixes(request.prefixes, request.classIds.length);
    return this.sampler.generate(request, signal);
  }

  async close(): Promise<void> {
    await Promise.all([
      this.#encoder.close(),
      this.#decoder.close(),
      this.#embedder?.close(),
      this.sampler?.close(),
    ]);
    await disposeModel(this.model);
  }
}
