// Which path serves /v1/generate for a model: generate_chunk.onnx (the loop in chunks, rows joining
// and leaving between them), generate.onnx (the whole loop in one run) or the per-step loop over
// ar_step.onnx. Decided here and only here; the loader asks it which graphs to load, the model
// service which runner to use.
import type { StepMode } from '../generation/step-runner.ts';

/**
 * GIGATOK_GENERATE_PATH: `auto` takes generate_chunk.onnx, else generate.onnx, when the model has
 * them (requests join a running batch between chunks, and a chunk step costs less than
 * generate.onnx's at GPT-B: docs/performance.md, "Chunked generation"), and settles on generate.onnx
 * once S is known to cover the whole sequence (settleAutoPath); `chunked` and `graph` require
 * theirs; `steps` never uses either.
 */
export type GeneratePathSetting = 'auto' | 'chunked' | 'graph' | 'steps';

export type GeneratePath = 'chunked' | 'graph' | 'steps';

/**
 * The path for a model with (or without) these graphs, or undefined when it cannot generate (no
 * ar_step). generate.onnx and generate_chunk.onnx need ar_step.onnx next to them (they read its
 * weights from there, and the per-step loop stays the reference path); the no-cache baseline
 * (`recompute`) exists only step by step. Throws when `chunked` or `graph` is asked for and cannot
 * be served.
 */
export function decideGeneratePath(
  graphs: { arStep: boolean; generate: boolean; chunk?: boolean },
  setting: GeneratePathSetting,
  mode: StepMode = 'kv',
): GeneratePath | undefined {
  const kv = graphs.arStep && mode === 'kv';
  const possible = { graph: kv && graphs.generate, chunked: kv && (graphs.chunk ?? false) };
  if (setting === 'graph' || setting === 'chunked') {
    if (!possible[setting]) {
      const file = setting === 'graph' ? 'generate.onnx' : 'generate_chunk.onnx';
      const has = setting === 'graph' ? graphs.generate : (graphs.chunk ?? false);
      throw new Error(
        `GIGATOK_GENERATE_PATH=${setting} needs ${file} and ar_step.onnx (and the KV-cache mode); ` +
          `this model has ${has ? '' : 'no '}${file} and ${graphs.arStep ? '' : 'no '}ar_step graph`,
      );
    }
    return setting;
  }
  if (!graphs.arStep) return undefined;
  if (setting === 'steps') return 'steps';
  if (possible.chunked) return 'chunked';
  return possible.graph ? 'graph' : 'steps';
}

/**
 * A whole generation (at the warm-up batch) shorter than this does not serve the chunked path under
 * `auto`: joining saves a newcomer at most one generation of waiting, and on such short sequences
 * that is less than the chunk graph's dearer run costs (gigatok-nano: about 40 ms per generation on
 * this CPU, 4.4 against 2.4 ms per step, and a 5x higher p99 at 80% load; docs/performance.md).
 * GPT-B lasts seconds per generation on a CPU and on a GPU alike.
 */
export const MIN_JOINABLE_GENERATION_MS = 500;

/**
 * For `auto` on a model with both graphs, once S is known (GIGATOK_CHUNK_STEPS, or chosen from the
 * chunk graph's warm-up timing): `chunked` when a chunk is shorter than the sequence and, where the
 * warm-up timed the graph, a whole generation lasts at least MIN_JOINABLE_GENERATION_MS; else
 * `graph`. A chunk of T steps is a whole generation, so requests could join only at generation
 * boundaries, as with generate.onnx, whose run costs less.
 */
export function settleAutoPath(
  tokens: number,
  chunkSteps: number,
  timing?: { stepMs: number; runMs: number },
): 'chunked' | 'graph' {
  if (chunkSteps >= tokens) return 'graph';
  if (timing !== undefined && tokens * timing.stepMs + timing.runMs < MIN_JOINABLE_GENERATION_MS)
    return 'graph';
  return 'chunked';
}
