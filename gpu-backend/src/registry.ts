// Loads model directories (docs/model-contract.md): validates manifest.json, checks every listed
// file's size and sha256 (streamed), creates the graph sessions and warms them up.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { type ModelManifest, ModelManifestSchema } from '@gigatok/shared';
import { runGenerateGraph } from './graph-sampler.ts';
import { type LogLevel, logger } from './log.ts';
import { float32, Graph, int64, type SessionConfig } from './ort.ts';
import { OrtHost } from './ort-host.ts';

export interface LoadedModel {
  id: string;
  dir: string;
  manifest: ModelManifest;
  encoder: Graph;
  decoder: Graph;
  /** Absent when the manifest has no ar_step graph (tokenizer-only model): generate is refused. */
  arStep: Graph | undefined;
  /**
   * generate.onnx (the whole sampling loop in one graph), when the manifest lists it and the
   * generate path is not `steps`.
   */
  generate: Graph | undefined;
  /** embed.onnx (the AR representation), when the manifest lists it. */
  embed: Graph | undefined;
  /** The worker thread holding the sessions, when they run off the main thread. */
  host: OrtHost | undefined;
}

export interface LoadOptions extends SessionConfig {
  warmup: boolean;
  /** Run the sessions in a worker thread (one per model), keeping the event loop free. */
  worker?: boolean;
  /** Log level inside the worker thread. */
  logLevel?: LogLevel;
  /**
   * Which sampler generate uses (GIGATOK_GENERATE_PATH): `auto` loads generate.onnx when the manifest
   * lists it, `graph` requires it, `steps` does not load it. Default `auto`.
   */
  generatePath?: GeneratePath;
}

export type GeneratePath = 'auto' | 'graph' | 'steps';

export class ModelLoadError extends Error {
  override readonly name = 'ModelLoadError';
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Resolves a manifest path inside `dir`. The manifest schema already refuses absolute paths and "..";
 * this re-checks the resolved path, so no later schema change can open the rest of the disk.
 */
function inside(dir: string, relative: string): string {
  const full = path.resolve(dir, relative);
  if (path.isAbsolute(relative) || !full.startsWith(dir + path.sep)) {
    throw new ModelLoadError(`${dir}/manifest.json: file '${relative}' is outside the model directory`);
  }
  return full;
}

export async function readManifest(dir: string): Promise<ModelManifest> {
  const file = path.join(dir, 'manifest.json');
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new ModelLoadError(`${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const parsed = ModelManifestSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ModelLoadError(`${file} is not a valid manifest:\n  ${lines.join('\n  ')}`);
  }
  return parsed.data;
}

/** Checks that every file the manifest lists exists with the listed size and sha256. */
export async function verifyFiles(dir: string, manifest: ModelManifest): Promise<void> {
  const problems: string[] = [];
  for (const entry of manifest.files) {
    const full = inside(dir, entry.path);
    try {
      const info = await stat(full);
      if (info.size !== entry.bytes) {
        problems.push(`${entry.path}: ${info.size} bytes, manifest says ${entry.bytes}`);
        continue;
      }
      const digest = await sha256File(full);
      if (digest !== entry.sha256.toLowerCase()) {
        problems.push(`${entry.path}: sha256 ${digest}, manifest says ${entry.sha256}`);
      }
    } catch (error) {
      problems.push(`${entry.path}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  if (problems.length > 0) {
    throw new ModelLoadError(`${dir}: model files do not match manifest.json:\n  ${problems.join('\n  ')}`);
  }
}

/** One run of each graph at batch 1, so the first request does not pay for allocation and kernel choice. */
async function warmUp(model: LoadedModel): Promise<void> {
  const { image_size: size, tokens_per_image: T } = model.manifest.tokenizer;
  await model.encoder.run({ image: float32(new Float32Array(3 * size * size), [1, 3, size, size]) });
  await model.decoder.run({ tokens: int64(new BigInt64Array(T), [1, T]) });
  if (model.arStep !== undefined) {
    const { n_layer: L, n_head: H, head_dim: D, null_class_id: nullClass } = model.manifest.ar;
    await model.arStep.run({
      token_ids: int64(new BigInt64Array(2), [2, 1]),
      class_ids: int64(BigInt64Array.of(0n, BigInt(nullClass)), [2]),
      position: int64(BigInt64Array.of(0n), [1]),
      past_keys: float32(new Float32Array(0), [L, 2, H, 0, D]),
      past_values: float32(new Float32Array(0), [L, 2, H, 0, D]),
    });
  }
  if (model.generate !== undefined) {
    const { tokens_per_image: tokens, codebook_size: vocab } = model.manifest.tokenizer;
    const { num_classes: numClasses, null_class_id: nullClass } = model.manifest.ar;
    const spec = { modelId: model.id, graph: model.generate, tokens, vocab, numClasses, nullClass };
    const params = { cfgScale: 1, cfgSchedule: 'constant' as const, temperature: 1, topK: 0, topP: 1 };
    await runGenerateGraph(spec, [{ seed: 0, imageIndex: 0, classId: 0, params }]);
  }
  if (model.embed !== undefined) {
    await model.embed.run({
      token_ids: int64(new BigInt64Array(T), [1, T]),
      class_ids: int64(BigInt64Array.of(BigInt(model.manifest.ar.null_class_id)), [1]),
    });
  }
}

export async function loadModel(dir: string, config: LoadOptions): Promise<LoadedModel> {
  const started = performance.now();
  const absolute = path.resolve(dir);
  const manifest = await readManifest(absolute);
  await verifyFiles(absolute, manifest);
  const id = manifest.model_id;
  const session: SessionConfig = {
    device: config.device,
    cudaDeviceId: config.cudaDeviceId,
    intraOpThreads: config.intraOpThreads,
    interOpThreads: config.interOpThreads,
  };
  const host = config.worker ? new OrtHost(id, config.logLevel ?? 'info') : undefined;
  const generatePath = config.generatePath ?? 'auto';
  if (
    generatePath === 'graph' &&
    (manifest.graphs.generate === undefined || manifest.graphs.ar_step === undefined)
  ) {
    throw new ModelLoadError(
      `${absolute}: GIGATOK_GENERATE_PATH=graph but manifest.json lists no graphs.generate (or no ar_step)`,
    );
  }
  const load = (name: 'encoder' | 'decoder' | 'ar_step' | 'generate' | 'embed', file: string) =>
    Graph.load(inside(absolute, file), `${id}/${name}`, session, host);
  let model: LoadedModel | undefined;
  try {
    const encoder = await load('encoder', manifest.graphs.encoder.file);
    const decoder = await load('decoder', manifest.graphs.decoder.file);
    const arStep =
      manifest.graphs.ar_step === undefined ? undefined : await load('ar_step', manifest.graphs.ar_step.file);
    // generate.onnx is only useful next to ar_step.onnx (it reads its weights from there, and the
    // per-step sampler stays the reference path).
    const generateFile = manifest.graphs.generate?.file;
    const generate =
      generateFile === undefined || arStep === undefined || generatePath === 'steps'
        ? undefined
        : await load('generate', generateFile);
    // embed.onnx may read its weights from ar_step.onnx (external data), so it is loaded from its path.
    const embedFile = manifest.graphs.embed?.file;
    const embed = embedFile === undefined ? undefined : await load('embed', embedFile);
    model = { id, dir: absolute, manifest, encoder, decoder, arStep, generate, embed, host };
    if (config.warmup) await warmUp(model);
  } catch (error) {
    await host?.close();
    throw error;
  }
  logger.info('model loaded', {
    model: id,
    dir: absolute,
    providers: model.encoder.providers,
    thread: host === undefined ? 'main' : 'worker',
    graphs: Object.keys(manifest.graphs),
    generate: model.generate === undefined ? 'steps' : 'graph',
    ms: Math.round(performance.now() - started),
  });
  return model;
}

export async function disposeModel(model: LoadedModel): Promise<void> {
  await model.encoder.dispose();
  await model.decoder.dispose();
  await model.arStep?.dispose();
  await model.generate?.dispose();
  await model.embed?.dispose();
  await model.host?.close();
}
