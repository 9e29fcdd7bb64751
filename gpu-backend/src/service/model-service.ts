// One loaded model as a service: encode, decode, embed and generate, each a runner on the scheduling
// engine (scheduling/engine.ts) over its graph (graphs/), with metrics. Routes call this; it knows
// nothing about HTTP.
import {
  ApiError,
  AUGMENTATION_VIEWS,
  type Augmentation,
  DEFAULT_PREPROCESSING,
  type EncodePriority,
  type PreprocessingMode,
} from '@gigatok/shared';
import { chunkRunner, chunkStepsFor } from '../generation/chunk-runner.ts';
import { byPrefixLength, graphRunner } from '../generation/graph-runner.ts';
import { type GenerateRequest, type GenerationRow, rowsOf } from '../generation/request.ts';
import { type StepMode, stepRunner } from '../generation/step-runner.ts';
import { augmentationViews, sourceSize } from '../images/augment.ts';
import {
  cropPixels,
  encodeImage,
  type ImageLimits,
  normalizeInto,
  type OutputFormat,
  toPixels,
} from '../images/preprocess.ts';
import type { GraphName, Metrics } from '../metrics.ts';
import {
  decideGeneratePath,
  type GeneratePath,
  type GeneratePathSetting,
} from '../model-dir/generate-path.ts';
import { disposeModel, type LoadedModel } from '../model-dir/loader.ts';
import { Engine, type EngineOptions, type Runner } from '../scheduling/engine.ts';
import { GenerateSpeed } from './generate-speed.ts';

export interface BatchingOptions {
  maxBatch: number;
  /** Views per encoder run (config.ts, encodeBatch); default maxBatch. */
  encodeMaxBatch?: number;
  /** Opt-in wait for company when a graph is idle (0: run at once). */
  maxQueueDelayMs: number;
  maxQueue: number;
  /** Cohorts of the per-step loop in flight at once. */
  maxActiveBatches: number;
  /** Steps per run of generate_chunk.onnx; 0 or absent = chunkStepsFor (from the warm-up timing). */
  chunkSteps?: number;
}

export interface ServiceOptions {
  batching: BatchingOptions;
  limits: ImageLimits;
  metrics?: Metrics | undefined;
  /** GIGATOK_GENERATE_PATH; default `auto` (generate_chunk.onnx, else generate.onnx, when loaded). */
  generatePath?: GeneratePathSetting;
  stepMode?: StepMode;
}

export interface EncodeOptions {
  /** How the file is read; default DEFAULT_PREPROCESSING. */
  preprocessing?: PreprocessingMode | undefined;
  /** Views per image (augment.ts); default `none`. */
  augment?: Augmentation | undefined;
  /** `background` work waits while interactive work is queued (scheduling/engine.ts). */
  priority?: EncodePriority | undefined;
}

export interface EncodedImage {
  format: OutputFormat;
  width: number;
  height: number;
  data: Uint8Array;
}

/** A runner that does its batch in one run of `run`. */
function singleRun<I, O>(run: (items: readonly I[]) => Promise<O[]>): Runner<I, O> {
  return { runsPerBatch: 1, start: () => undefined, run: (_, items) => run(items) };
}

export class ModelService {
  readonly #encoder: Engine<Float32Array, Int32Array>;
  readonly #decoder: Engine<Int32Array, Float32Array>;
  /** Undefined when the model directory has no embed graph. */
  readonly #embedder: Engine<Int32Array, Float32Array> | undefined;
  /** Undefined when the model cannot generate (no ar_step graph). */
  readonly #generator:
    | Pick<Engine<GenerationRow, Int32Array>, 'submit' | 'queued' | 'active' | 'close'>
    | undefined;
  /** How generate is served: `graph` (generate.onnx) or `steps` (ar_step.onnx); undefined: cannot generate. */
  readonly generatePath: GeneratePath | undefined;
  readonly limits: ImageLimits;
  /** Measured seconds per image of the /v1/generate calls served (GET /v1/models reports it). */
  readonly generateSpeed = new GenerateSpeed();

  constructor(
    readonly model: LoadedModel,
    options: ServiceOptions,
  ) {
    const { id } = model;
    const { batching, metrics } = options;
    this.limits = options.limits;
    const engine = <I>(graph: GraphName, more: Partial<EngineOptions<I>> = {}): EngineOptions<I> => ({
      label: `${id}/${graph}`,
      maxBatch: batching.maxBatch,
      maxQueue: batching.maxQueue,
      maxQueueDelayMs: batching.maxQueueDelayMs,
      onRun: ({ rows, computeUs }) => metrics?.recordExec(id, graph, rows, computeUs),
      onQueued: ({ queueUs }) => metrics?.recordQueue(id, graph, queueUs),
      onJoin: ({ items }) => metrics?.recordJoin(id, graph, items),
      ...more,
    });
    // A request of many views runs as several encoder runs of encodeMaxBatch, so interactive work can
    // start between the runs of a background request.
    this.#encoder = new Engine(
      singleRun((images: readonly Float32Array[]) => model.encoder.run(images)),
      engine('encoder', { maxBatch: batching.encodeMaxBatch ?? batching.maxBatch }),
    );
    this.#decoder = new Engine(
      singleRun((rows: readonly Int32Array[]) => model.decoder.run(rows)),
      engine('decoder'),
    );
    const embed = model.embed;
    this.#embedder =
      embed === undefined
        ? undefined
        : new Engine(
            singleRun((rows: readonly Int32Array[]) => embed.run(rows)),
            engine('embed'),
          );
    this.generatePath = decideGeneratePath(
      {
        arStep: model.arStep !== undefined,
        generate: model.generate !== undefined,
        chunk: model.generateChunk !== undefined,
      },
      options.generatePath ?? 'auto',
      options.stepMode,
    );
    if (this.generatePath === 'chunked' && model.generateChunk !== undefined) {
      const chunk = model.generateChunk;
      const steps = chunkStepsFor(chunk.shapes.tokens, chunk.timing, batching.chunkSteps);
      this.#generator = new Engine(chunkRunner(chunk, steps), engine<GenerationRow>('generate'));
    } else if (this.generatePath === 'graph' && model.generate !== undefined) {
      this.#generator = new Engine(
        graphRunner(model.generate),
        engine<GenerationRow>('generate', { picker: byPrefixLength }),
      );
    } else if (this.generatePath === 'steps' && model.arStep !== undefined) {
      this.#generator = new Engine(
        stepRunner(model.arStep, options.stepMode),
        engine<GenerationRow>('ar_step', { maxActiveBatches: batching.maxActiveBatches }),
      );
    }
  }

  get id(): string {
    return this.model.id;
  }

  /** Images waiting in the queues, for the pending gauge. */
  pending(): Record<GraphName, number> {
    const generating = this.#generator?.queued ?? 0;
    return {
      encoder: this.#encoder.queued,
      decoder: this.#decoder.queued,
      embed: this.#embedder?.queued ?? 0,
      ar_step: this.generatePath === 'steps' ? generating : 0,
      generate: this.generatePath === 'steps' ? 0 : generating,
    };
  }

  /** Images of generate requests in runs now. */
  get generating(): number {
    return this.#generator?.active ?? 0;
  }

  /** The metrics label of the graph generate runs: `generate` (generate.onnx or generate_chunk.onnx) or `ar_step`. */
  get generateGraph(): 'generate' | 'ar_step' {
    return this.generatePath === 'steps' ? 'ar_step' : 'generate';
  }

  /**
   * Image bytes -> token rows: one per image, or with an augmentation one per view, image-major
   * (row i * A + a). Preprocessing runs per request before joining the queue.
   */
  async encode(
    images: readonly Uint8Array[],
    signal?: AbortSignal,
    options: EncodeOptions = {},
  ): Promise<Int32Array[]> {
    const { encoder } = this.model;
    const { imageSize } = encoder.shapes;
    const mode = options.preprocessing ?? DEFAULT_PREPROCESSING;
    const augment = options.augment ?? 'none';
    const views = AUGMENTATION_VIEWS[augment];
    // A request whose views alone exceed the queue would be refused as queue_full forever (429 invites a
    // retry); it is a request too large for this backend, said once.
    const { maxQueue } = this.#encoder.options;
    if (images.length * views > maxQueue) {
      const most = Math.floor(maxQueue / views);
      throw new ApiError(
        'invalid_parameter',
        `'images' with augment '${augment}' (${views} views each) must have at most ${most} entries on this ` +
          `backend (GIGATOK_MAX_QUEUE ${maxQueue}), got ${images.length}`,
        { field: 'images', limit: most },
      );
    }
    const side = sourceSize(augment, imageSize);
    const perImage = await Promise.all(
      images.map(async (bytes, i) => {
        const pixels = await cropPixels(bytes, side, this.limits, `images.${i}`, mode);
        return augmentationViews(pixels, side, augment, imageSize).map((view) => {
          const out = new Float32Array(encoder.imageValues);
          normalizeInto(view, imageSize, out, 0);
          return out;
        });
      }),
    );
    return this.#encoder.submit(perImage.flat(), signal, options.priority ?? 'interactive');
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
    const size = this.model.decoder.shapes.imageSize;
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

  /** Samples one token row per class id; image i uses uniforms (seed, i) on either path. */
  async generate(request: GenerateRequest, signal?: AbortSignal): Promise<Int32Array[]> {
    if (this.#generator === undefined) {
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
    return this.#generator.submit(rowsOf(request), signal);
  }

  async close(): Promise<void> {
    await Promise.all([
      this.#encoder.close(),
      this.#decoder.close(),
      this.#embedder?.close(),
      this.#generator?.close(),
    ]);
    await disposeModel(this.model);
  }
}
