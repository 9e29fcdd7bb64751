// generate.onnx (the sampling loop in one graph, graphs/generate.ts) against generation step by step on
// ar_step.onnx, on the real tiny-random fixture: identical tokens for the same seeds, every sampling
// option, any batch composition.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GenerationRow, SamplingParams } from '../src/generation/request.ts';
import { rowsOf } from '../src/generation/request.ts';
import type { ArStepGraph } from '../src/graphs/ar-step.ts';
import type { GenerateGraph } from '../src/graphs/generate.ts';
import { disposeModel, type LoadedModel, loadModel } from '../src/model-dir/loader.ts';
import { FIXTURE_DIR, stepGenerator } from './helpers.ts';

const session = { device: 'cpu' as const, cudaDeviceId: 0, intraOpThreads: 1, interOpThreads: 1 };
let model: LoadedModel;
let arStep: ArStepGraph;
let spec: GenerateGraph;

beforeAll(async () => {
  model = await loadModel(FIXTURE_DIR, { ...session, warmup: false, generatePath: 'graph' });
  arStep = model.arStep!;
  spec = model.generate!;
});

afterAll(async () => {
  await disposeModel(model);
});

const base: SamplingParams = { cfgScale: 4, cfgSchedule: 'constant', temperature: 1, topK: 0, topP: 1 };

/** Every sampling option, alone and combined (V = 64 in the fixture). */
const options: Record<string, SamplingParams> = {
  'constant cfg 4': base,
  'step cfg 1.75': { ...base, cfgScale: 1.75, cfgSchedule: 'step' },
  'cfg 0 (unconditional logits)': { ...base, cfgScale: 0 },
  'temperature 0.4': { ...base, temperature: 0.4 },
  'temperature 2.5': { ...base, temperature: 2.5 },
  'top-k 1 (greedy)': { ...base, topK: 1 },
  'top-k 5': { ...base, topK: 5 },
  'top-k = V': { ...base, topK: 64 },
  'top-p 0.3': { ...base, topP: 0.3 },
  'top-p 0.9': { ...base, topP: 0.9 },
  'all filters': { cfgScale: 2.5, cfgSchedule: 'step', temperature: 1.3, topK: 12, topP: 0.8 },
};

const classIds = [0, 1, 2, 3, null, 2];
const rows = (tokens: Int32Array[]) => tokens.map((t) => Array.from(t));

function arSampler(maxBatch: number, maxActiveBatches = 1) {
  return stepGenerator(arStep, { maxBatch, maxQueue: 1024, maxActiveBatches });
}

const generateWithGraph = (request: Parameters<typeof rowsOf>[0]) => spec.run(rowsOf(request));
const runGenerateGraph = (graph: GenerateGraph, rows: readonly GenerationRow[]) => graph.run(rows);

describe('generate.onnx against step-by-step generation', () => {
  it.each(Object.entries(options))('gives identical tokens for 12 seeds with %s', async (_, params) => {
    const perStep = arSampler(16);
    for (let seed = 0; seed < 12; seed++) {
      const request = { seed: seed * 7919 + 3, classIds, params };
      const graph = rows(await generateWithGraph(request));
      expect(graph).toEqual(rows(await perStep.generate(request)));
    }
  });

  it('gives identical tokens whatever the batch compositions on either side', async () => {
    const params = options['all filters']!;
    const request = { seed: 4242, classIds, params };
    const want = rows(await arSampler(16).generate(request));
    // Step by step: one image per cohort, six cohorts interleaved.
    expect(rows(await arSampler(1, 6).generate(request))).toEqual(want);
    // Graph: one run per image, and the images split over two runs.
    const single = (i: number): GenerationRow => ({
      seed: 4242,
      imageIndex: i,
      classId: classIds[i]!,
      params,
    });
    for (const [i, row] of want.entries())
      expect(rows(await runGenerateGraph(spec, [single(i)]))).toEqual([row]);
    const split = [
      ...(await runGenerateGraph(spec, [4, 0, 5].map(single))),
      ...(await runGenerateGraph(spec, [1, 3, 2].map(single))),
    ];
    expect(rows(split)).toEqual([4, 0, 5, 1, 3, 2].map((i) => want[i]));
  });

  it('mixes requests with different seeds and options in one run, each row as if alone', async () => {
    const entries = Object.values(options);
    const mixed: GenerationRow[] = entries.map((params, i) => ({
      seed: 1000 + i,
      imageIndex: i % 3,
      classId: i % 5 === 4 ? null : i % 4,
      params,
    }));
    const together = rows(await runGenerateGraph(spec, mixed));
    const perStep = arSampler(16);
    for (const [i, row] of mixed.entries()) {
      // Image i of a request uses (seed, i): pad the request so this row lands at imageIndex.
      const padded = Array.from({ length: row.imageIndex + 1 }, () => row.classId);
      const out = await perStep.generate({ seed: row.seed, classIds: padded, params: row.params });
      expect(together[i]).toEqual(Array.from(out[row.imageIndex]!));
    }
  });

  it('forces prefix tokens and continues from them (variations)', async () => {
    const request = { seed: 77, classIds: [1, null], params: base };
    const [a, b] = rows(await generateWithGraph(request));
    // Forcing what a free run drew reproduces it.
    const same = await generateWithGraph({ ...request, prefixes: [a!.slice(0, 3), b!.slice(0, 3)] });
    expect(rows(same)).toEqual([a, b]);
    const forced = [
      [5, 6, 7],
      [60, 61, 62],
    ];
    const varied = rows(await generateWithGraph({ ...request, prefixes: forced }));
    expect(varied.map((r) => r.slice(0, 3))).toEqual(forced);
    const full = Array.from({ length: spec.shapes.tokens }, (_, i) => (i * 13) % spec.shapes.vocab);
    expect(rows(await generateWithGraph({ ...request, classIds: [2], prefixes: [full] }))).toEqual([full]);
  });

  it('refuses what would make the graph fail, naming the field', async () => {
    const run = (row: Partial<GenerationRow>, more: Partial<GenerationRow>[] = []) =>
      runGenerateGraph(
        spec,
        [row, ...more].map((r) => ({ seed: 1, imageIndex: 0, classId: 0, params: base, ...r })),
      );
    await expect(run({ classId: spec.shapes.numClasses })).rejects.toMatchObject({
      code: 'invalid_parameter',
      field: 'class_ids.0',
    });
    await expect(run({ prefix: [1, spec.shapes.vocab] })).rejects.toMatchObject({ field: 'prefix.0.1' });
    await expect(run({ prefix: [1] }, [{ prefix: [] }])).rejects.toMatchObject({ field: 'prefix.1' });
    await expect(run({ prefix: new Array(spec.shapes.tokens + 1).fill(0) })).rejects.toMatchObject({
      field: 'prefix',
    });
    await expect(run({ params: { ...base, topK: 1.5 } })).rejects.toMatchObject({ field: 'top_k' });
    await expect(runGenerateGraph(spec, [])).rejects.toMatchObject({ field: 'class_ids' });
  });
});
