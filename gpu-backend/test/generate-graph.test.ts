// The single-graph sampler (generate.onnx: the whole guided loop in one ONNX Loop, written by the
// model tooling) and the host-driven ArSampler must draw the same tokens from the same uniforms:
// determinism across the two paths needs one sampling definition (sampling.ts).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { uniforms } from '@gigatok/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { float32, Graph, int64, outputInt64 } from '../src/ort.ts';
import { type LoadedModel, loadModel } from '../src/registry.ts';
import { ArSampler } from '../src/sampler.ts';
import type { SamplingParams } from '../src/sampling.ts';
import { FIXTURE_DIR } from './helpers.ts';

const generateFile = path.join(FIXTURE_DIR, 'generate.onnx');

describe.skipIf(!existsSync(generateFile))('generate.onnx agrees with the host sampler', () => {
  let model: LoadedModel;
  let graph: Graph;
  const session = { device: 'cpu' as const, cudaDeviceId: 0, intraOpThreads: 1, interOpThreads: 1 };

  beforeAll(async () => {
    model = await loadModel(FIXTURE_DIR, { ...session, warmup: false });
    graph = await Graph.load(generateFile, 'tiny/generate', session);
  });
  afterAll(async () => {
    await graph?.dispose();
    await model?.encoder.dispose();
    await model?.decoder.dispose();
    await model?.arStep?.dispose();
    await model?.generate?.dispose();
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
      const { tokens_per_image: T, codebook_size: V } = model.manifest.tokenizer;
      const { n_layer, n_head, head_dim, num_classes, null_class_id } = model.manifest.ar;
      const classIds = [0, 1, null, num_classes - 1, 2, 0];
      const seed = 31337;
      const B = classIds.length;
      const sampler = new ArSampler(
        {
          modelId: model.id,
          graph: model.arStep!,
          layers: n_layer,
          heads: n_head,
          headDim: head_dim,
          tokens: T,
          vocab: V,
          numClasses: num_classes,
          nullClass: null_class_id,
        },
        { maxBatch: 16, maxQueueDelayMs: 1, maxQueue: 64, maxActiveCohorts: 1, mode: 'kv' },
      );
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
