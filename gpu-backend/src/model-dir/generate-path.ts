// Which path serves /v1/generate for a model: generate.onnx (the whole loop in one run) or the
// per-step loop over ar_step.onnx. Decided here and only here; the loader asks it which graphs to
// load, the model service which runner to use.
import type { StepMode } from '../generation/step-runner.ts';

/** GIGATOK_GENERATE_PATH: `auto` takes generate.onnx when there is one, `graph` requires it, `steps` never uses it. */
export type GeneratePathSetting = 'auto' | 'graph' | 'steps';

export type GeneratePath = 'graph' | 'steps';

/**
 * The path for a model with (or without) these graphs, or undefined when it cannot generate (no
 * ar_step). generate.onnx needs ar_step.onnx next to it (it reads its weights from there, and the
 * per-step loop stays the reference path); the no-cache baseline (`recompute`) exists only step by
 * step. Throws when `graph` is asked for and cannot be served.
 */
export function decideGeneratePath(
  graphs: { arStep: boolean; generate: boolean },
  setting: GeneratePathSetting,
  mode: StepMode = 'kv',
): GeneratePath | undefined {
  const graphPossible = graphs.arStep && graphs.generate && mode === 'kv';
  if (setting === 'graph') {
    if (!graphPossible) {
      throw new Error(
        `GIGATOK_GENERATE_PATH=graph needs generate.onnx and ar_step.onnx (and the KV-cache mode); ` +
          `this model has ${graphs.generate ? '' : 'no '}generate graph and ${graphs.arStep ? '' : 'no '}ar_step graph`,
      );
    }
    return 'graph';
  }
  if (!graphs.arStep) return undefined;
  return setting === 'auto' && graphPossible ? 'graph' : 'steps';
}
