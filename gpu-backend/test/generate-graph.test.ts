// The contract of generate.onnx as the model tooling writes it (the whole guided loop in one ONNX Loop),
// fed by hand with scalar ([1]) sampling parameters, as another client of the file would feed it: it
// must draw the same tokens from the same uniforms as step-by-step generation on the host
// (generation/token-draw.ts). The backend's own feeds (per-row parameters) are graphs/generate.ts,
// tested in graph-vs-steps.test.ts.
import path from 'node:path';
import { uniforms } from '@gigatok/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SamplingParams } from '../src/generation/request.ts';
import { disposeModel, type LoadedModel, loadModel } from '../src/model-dir/loader.ts';
import { Graph } from '../src/runtime/graph.ts';
import { float32, int64, outputInt64 } from '../src/runtime/tensors.ts';
import { FIXTURE_DIR, stepGenerator } from './helpers.ts';

const generateFile = path.join(FIXTURE_DIR, 'generate.onnx');

describe('generate.onnx fed by hand agrees with step-by-step generation', () => {
  let model: LoadedModel;
  let graph: Graph;
  const session = { device: 'cpu' as const, cudaDeviceId: 0, intraOpThreads: 1, interOpThreads: 1 };

  beforeAll(async () => {
    model = await loadModel(FIXTURE_DIR, { ...session, warmup: false, generatePath: 'steps' });
    graph = await Graph.load(generateFile, 'tiny/generate', session);
  });
  afterAll(async () => {
    await graph?.dispose();
    if (model !== undefined) await disposeModel(model);
  });

  const cases: [string, SamplingParams][] = [
    ['cfg 4 constant', { cfgScale: 4, cfgSchedule: 'constant', temperature: 1, topK: 0, topP: 1 }],
    ['cfg 1.75 step', { cfgScale: 1.75, cfgSchedule: 'step', temperature: 1, topK: 0, topP: 1 }],
    [
      'top-k 5, temperature 0.7',
      { cfgScale: 3, cfgSchedule: 'constant', temperature: 0.7, topK: 5, topP: 1 },
    ],
    [
      'top-k 20 + top-p 0.8, temperature 1.3',
      { cfgScale: 2, cfgSchedule: 'step', temperature: 1.3, topK: 20, topP: 0.8 },
    ],
  ];

  for (const [name, params] of cases) {
    it(`draws the same tokens: ${name}`, async () => {
      const T = model.manifest.tokenizer.tokens_per_image;
      const { num_classes, null_class_id } = model.manifest.ar;
      const classIds = [0, 1, null, num_classes - 1, 2, 0];
      const seed = 31337;
      const B = classIds.length;
      const sampler = stepGenerator(model.arStep!, { maxBatch: 16, maxQueue: 64, maxActiveBatches: 1 });
      const host = (await sampler.generate({ seed, classIds, params })).map((r) => Array.from(r));
      const out = await graph.run({
        class_ids: int64(
          BigInt64Array.from(classIds, (c) => BigInt(c ?? null_class_id)),
          [B],
        ),
        uniforms: float32(uniforms(seed, 0, B, T), [B, T]),
        cfg_scale: float32(Float32Array.of(params.cfgScale), [1]),
        cfg_schedule: int64(BigInt64Array.of(params.cfgSchedule === 'step' ? 1n : 0n), [1]),
        temperature: float32(Float32Array.of(params.temperature), [1]),
        top_k: int64(BigInt64Array.of(BigInt(params.topK)), [1]),
        top_p: float32(Float32Array.of(params.topP), [1]),
        prefix_tokens: int64(new BigInt64Array(0), [B, 0]),
      });
      const flat = outputInt64(out, 'tokens', 'generate').data;
      const single = classIds.map((_, i) => Array.from(flat.subarray(i * T, (i + 1) * T), Number));
      expect(single).toEqual(host);
    });
  }
});
