// Loads a model directory: checks the manifest and files (manifest.ts), decides the generate path
// (generate-path.ts), opens each graph the model serves through its catalogue module (graphs/) in this
// thread or in the model's ORT worker thread, and warms them up.
import path from 'node:path';
import type { ModelManifest } from '@gigatok/shared';
import { chunkStepsFor } from '../generation/chunk-runner.ts';
import type { StepMode } from '../generation/step-runner.ts';
import { ArStepGraph } from '../graphs/ar-step.ts';
import { DecoderGraph } from '../graphs/decoder.ts';
import { EmbedGraph } from '../graphs/embed.ts';
import { EncoderGraph } from '../graphs/encoder.ts';
import { GenerateGraph } from '../graphs/generate.ts';
import { GenerateChunkGraph } from '../graphs/generate-chunk.ts';
import { modelShapes } from '../graphs/shapes.ts';
import { type LogLevel, logger } from '../log.ts';
import type { SessionConfig } from '../runtime/device.ts';
import { Graph } from '../runtime/graph.ts';
import { OrtHost } from '../runtime/worker-host.ts';
import {
  decideGeneratePath,
  type GeneratePath,
  type GeneratePathSetting,
  settleAutoPath,
} from './generate-path.ts';
import { inside, ModelLoadError, readManifest, verifyFiles } from './manifest.ts';

export interface LoadedModel {
  id: string;
  dir: string;
  manifest: ModelManifest;
  encoder: EncoderGraph;
  decoder: DecoderGraph;
  /** Absent when the manifest has no ar_step graph (tokenizer-only model): generate is refused. */
  arStep: ArStepGraph | undefined;
  /** generate.onnx, loaded only when the generate path is `graph`. */
  generate: GenerateGraph | undefined;
  /** generate_chunk.onnx, loaded only when the generate path is `chunked`. */
  generateChunk: GenerateChunkGraph | undefined;
  /** embed.onnx (the AR representation), when the manifest lists it. */
  embed: EmbedGraph | undefined;
  /** How /v1/generate is served; undefined: the model cannot generate. */
  generatePath: GeneratePath | undefined;
  /** Where the sessions run, as onnxruntime placed them (`cpu`, `cuda:0`). */
  providers: string;
  /** The worker thread holding the sessions, when they run off the main thread. */
  host: OrtHost | undefined;
}

export interface LoadOptions extends SessionConfig {
  warmup: boolean;
  /** Run the sessions in a worker thread (one per model), keeping the event loop free. */
  worker?: boolean;
  /** Log level inside the worker thread. */
  logLevel?: LogLevel;
  /** GIGATOK_GENERATE_PATH; default `auto`. */
  generatePath?: GeneratePathSetting;
  /** GIGATOK_CHUNK_STEPS (0 or absent: from the warm-up timing); `auto` settles on it (settleAutoPath). */
  chunkSteps?: number;
  /** The per-step loop's mode; `recompute` (the no-cache baseline) serves generate step by step. */
  stepMode?: StepMode;
}

export async function loadModel(dir: string, options: LoadOptions): Promise<LoadedModel> {
  const started = performance.now();
  const absolute = path.resolve(dir);
  const manifest = await readManifest(absolute);
  await verifyFiles(absolute, manifest);
  const id = manifest.model_id;
  const { graphs } = manifest;
  let generatePath: GeneratePath | undefined;
  try {
    generatePath = decideGeneratePath(
      {
        arStep: graphs.ar_step !== undefined,
        generate: graphs.generate !== undefined,
        chunk: graphs.generate_chunk !== undefined,
      },
      options.generatePath ?? 'auto',
      options.stepMode,
    );
  } catch (error) {
    throw new ModelLoadError(`${absolute}: ${(error as Error).message}`);
  }
  const session: SessionConfig = {
    device: options.device,
    cudaDeviceId: options.cudaDeviceId,
    intraOpThreads: options.intraOpThreads,
    interOpThreads: options.interOpThreads,
  };
  const host = options.worker ? new OrtHost(id, options.logLevel ?? 'info') : undefined;
  const open = (name: string, file: string) =>
    Graph.load(inside(absolute, file), `${id}/${name}`, session, host);
  const shapes = modelShapes(manifest);
  let model: LoadedModel | undefined;
  try {
    const encoder = new EncoderGraph(await open('encoder', graphs.encoder.file), shapes);
    const decoder = new DecoderGraph(await open('decoder', graphs.decoder.file), shapes);
    const arStep =
      graphs.ar_step === undefined
        ? undefined
        : new ArStepGraph(await open('ar_step', graphs.ar_step.file), shapes);
    // `auto` with both graphs: S decides between them (settleAutoPath). Set, or without warm-up
    // (S = T / 4), it is known now; from the timing, both graphs load and the other one goes after
    // warm-up.
    const T = shapes.tokens;
    const chunkSteps = options.chunkSteps ?? 0;
    const both =
      (options.generatePath ?? 'auto') === 'auto' &&
      generatePath === 'chunked' &&
      graphs.generate !== undefined;
    if (both && (chunkSteps > 0 || !options.warmup)) {
      generatePath = settleAutoPath(T, chunkStepsFor(T, undefined, chunkSteps));
    }
    const settleLater = both && generatePath === 'chunked' && chunkSteps === 0 && options.warmup;
    const generate =
      (generatePath !== 'graph' && !settleLater) || graphs.generate === undefined
        ? undefined
        : new GenerateGraph(await open('generate', graphs.generate.file), shapes);
    const generateChunk =
      generatePath !== 'chunked' || graphs.generate_chunk === undefined
        ? undefined
        : new GenerateChunkGraph(await open('generate_chunk', graphs.generate_chunk.file), shapes);
    // embed.onnx may read its weights from ar_step.onnx (external data), so it is loaded from its path.
    const embed =
      graphs.embed === undefined ? undefined : new EmbedGraph(await open('embed', graphs.embed.file), shapes);
    model = {
      id,
      dir: absolute,
      manifest,
      encoder,
      decoder,
      arStep,
      generate,
      generateChunk,
      embed,
      generatePath,
      providers: encoder.graph.providers,
      host,
    };
    if (options.warmup) {
      for (const graph of [encoder, decoder, arStep, generate, generateChunk, embed]) await graph?.warmUp();
    }
    if (settleLater && generateChunk !== undefined) {
      const timing = generateChunk.timing;
      model.generatePath = settleAutoPath(T, chunkStepsFor(T, timing), timing);
      const unused = model.generatePath === 'chunked' ? 'generate' : 'generateChunk';
      await model[unused]?.graph.dispose();
      model[unused] = undefined;
    }
  } catch (error) {
    if (model !== undefined) await disposeModel(model);
    else await host?.close();
    throw error;
  }
  logger.info('model loaded', {
    model: id,
    dir: absolute,
    providers: model.providers,
    thread: host === undefined ? 'main' : 'worker',
    graphs: Object.keys(graphs),
    generate: model.generatePath ?? 'none',
    // Which checkpoint and state dict the weights were exported from (absent: random weights).
    source: manifest.source ?? 'none',
    ms: Math.round(performance.now() - started),
  });
  return model;
}

export async function disposeModel(model: LoadedModel): Promise<void> {
  for (const g of [
    model.encoder,
    model.decoder,
    model.arStep,
    model.generate,
    model.generateChunk,
    model.embed,
  ]) {
    await g?.graph.dispose();
  }
  await model.host?.close();
}
