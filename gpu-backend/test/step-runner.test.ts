// Generation step by step (generation/step-runner.ts on the scheduling engine) over the real tiny-random
// ar_step graph (onnxruntime CPU): determinism across batch compositions, KV cache == recompute,
// guidance math against a reference computed here, cancellation. Also the Graph wrapper's checks.
import path from 'node:path';
import { uniform } from '@gigatok/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SamplingParams } from '../src/generation/request.ts';
import type { ArStepGraph } from '../src/graphs/ar-step.ts';
import { disposeModel, type LoadedModel, loadModel } from '../src/model-dir/loader.ts';
import { Graph } from '../src/runtime/graph.ts';
import { int64 } from '../src/runtime/tensors.ts';
import { FIXTURE_DIR, stepGenerator } from './helpers.ts';

let model: LoadedModel;
let spec: ArStepGraph;

beforeAll(async () => {
  model = await loadModel(FIXTURE_DIR, {
    device: 'cpu',
    cudaDeviceId: 0,
    intraOpThreads: 1,
    interOpThreads: 1,
    warmup: false,
  });
  spec = model.arStep!;
});

afterAll(async () => {
  await disposeModel(model);
});

const params: SamplingParams = { cfgScale: 4, cfgSchedule: 'constant', temperature: 1, topK: 0, topP: 1 };

function sampler(options: Parameters<typeof stepGenerator>[1] = {}) {
  return stepGenerator(spec, { maxBatch: 16, maxQueue: 256, maxActiveBatches: 2, mode: 'kv', ...options });
}

const rows = (tokens: Int32Array[]) => tokens.map((t) => Array.from(t));

describe('step-by-step generation on the tiny-random ar_step graph', () => {
  it('samples T tokens per image, each in [0, V)', async () => {
    const out = await sampler().generate({ seed: 1, classIds: [0, 3, null], params });
    expect(out).toHaveLength(3);
    for (const row of out) {
      expect(row).toHaveLength(spec.shapes.tokens);
      for (const t of row) expect(t >= 0 && t < spec.shapes.vocab).toBe(true);
    }
  });

  it('gives the same tokens for the same seed, and different tokens for another seed', async () => {
    const s = sampler();
    const a = rows(await s.generate({ seed: 42, classIds: [1, 2], params }));
    const b = rows(await s.generate({ seed: 42, classIds: [1, 2], params }));
    const c = rows(await s.generate({ seed: 43, classIds: [1, 2], params }));
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
  });

  it('gives image i of a request the same tokens in any batch composition', async () => {
    const request = { seed: 7, classIds: [0, 1, 2, 3, null], params };
    const alone = rows(await sampler({ maxBatch: 16 }).generate(request));
    // One image per batch, five cohorts interleaved.
    const singles = rows(await sampler({ maxBatch: 1, maxActiveBatches: 5 }).generate(request));
    // Batched with other concurrent requests (other seeds, classes and parameters) in one cohort.
    const s = sampler({ maxBatch: 16 });
    const [, mixed] = await Promise.all([
      s.generate({ seed: 99, classIds: [3, 3, 0], params: { ...params, topK: 5, temperature: 0.5 } }),
      s.generate(request),
      s.generate({ seed: 1234, classIds: [null], params: { ...params, cfgScale: 1.5 } }),
    ]);
    expect(singles).toEqual(alone);
    expect(rows(mixed)).toEqual(alone);
  });

  it('produces the same tokens with the KV cache as with full recomputation (no cache)', async () => {
    const request = {
      seed: 2024,
      classIds: [0, 2, null],
      params: { ...params, cfgSchedule: 'step', topK: 20, topP: 0.9 } as SamplingParams,
    };
    const kv = rows(await sampler({ mode: 'kv' }).generate(request));
    const recompute = rows(await sampler({ mode: 'recompute' }).generate(request));
    expect(recompute).toEqual(kv);
  });

  it('draws the first token as a float64 reference of guidance + inverse CDF computed from raw logits', async () => {
    const V = spec.shapes.vocab;
    const classId = 2;
    const cfg = 3;
    const { logits } = await spec.step([{ classId, previousToken: 0 }], spec.emptyCache());
    let checked = 0;
    for (let seed = 0; seed < 40; seed++) {
      const u = uniform(seed, 0, 0);
      const mixed = Array.from({ length: V }, (_, j) => logits[V + j]! + (logits[j]! - logits[V + j]!) * cfg);
      const max = Math.max(...mixed);
      const e = mixed.map((x) => Math.exp(x - max));
      const sum = e.reduce((a, b) => a + b, 0);
      let cdf = 0;
      let want = V - 1;
      let margin = 1;
      for (let j = 0; j < V; j++) {
        const next = cdf + e[j]! / sum;
        margin = Math.min(margin, Math.abs(next - u));
        if (next > u) {
          want = j;
          break;
        }
        cdf = next;
      }
      if (margin < 1e-5) continue; // too close to a bin edge for a float64 reference to arbitrate
      const [row] = await sampler().generate({
        seed,
        classIds: [classId],
        params: { ...params, cfgScale: cfg },
      });
      expect(row![0]).toBe(want);
      checked++;
    }
    expect(checked).toBeGreaterThan(30);
  });

  it('stops an aborted request between steps and keeps serving the others in its batch', async () => {
    const s = sampler({ maxBatch: 16 });
    const controller = new AbortController();
    let steps = 0;
    const stepping = sampler({
      onRun: () => {
        steps += 1;
        if (steps === 2) controller.abort(new Error('stop'));
      },
    });
    const doomed = stepping.generate({ seed: 5, classIds: [0, 1], params }, controller.signal);
    const survivor = stepping.generate({ seed: 6, classIds: [2], params });
    await expect(doomed).rejects.toThrow('stop');
    // The survivor shared the cohort with the aborted rows; its tokens must match a run alone.
    expect(rows(await survivor)).toEqual(rows(await s.generate({ seed: 6, classIds: [2], params })));
  });

  it('refuses class ids outside the model and a full queue', async () => {
    await expect(
      sampler().generate({ seed: 1, classIds: [spec.shapes.numClasses], params }),
    ).rejects.toMatchObject({
      code: 'invalid_parameter',
      field: 'class_ids.0',
    });
    // The second request arrives before the first has left the queue (both in one task).
    const s = sampler({ maxQueue: 3, maxBatch: 16 });
    const first = s.generate({ seed: 1, classIds: [0, 1], params });
    await expect(s.generate({ seed: 2, classIds: [0, 1], params })).rejects.toMatchObject({
      code: 'queue_full',
    });
    await first;
  });
});

describe('Graph (onnxruntime wrapper)', () => {
  it('reports every missing input at once', async () => {
    const g = await Graph.load(path.join(FIXTURE_DIR, 'ar_step.onnx'), 'tiny/ar_step', {
      device: 'cpu',
      cudaDeviceId: 0,
      intraOpThreads: 1,
      interOpThreads: 1,
    });
    await expect(g.run({ position: int64(BigInt64Array.of(0n), [1]) })).rejects.toThrow(
      /missing inputs \[token_ids, class_ids, past_keys, past_values\]/,
    );
    await g.dispose();
    await expect(g.run({})).rejects.toThrow(/disposed/);
  });

  it('never silently replaces a requested CUDA device with the CPU', async () => {
    const file = path.join(FIXTURE_DIR, 'decoder.onnx');
    const loaded = await Graph.load(file, 'tiny/decoder', {
      device: 'cuda',
      cudaDeviceId: 0,
      intraOpThreads: 1,
      interOpThreads: 1,
    }).then(
      (g) => g,
      (e: Error) => e,
    );
    if (loaded instanceof Graph) {
      // A host with a working CUDA provider.
      expect(loaded.providers).toBe('cuda:0');
      await loaded.dispose();
    } else {
      expect(loaded.message).toMatch(/cannot create a cuda session for tiny\/decoder/);
    }
  });

  it('falls back to the CPU only for device auto, as onnxruntime reports CUDA', async () => {
    const file = path.join(FIXTURE_DIR, 'decoder.onnx');
    const session = { cudaDeviceId: 0, intraOpThreads: 1, interOpThreads: 1 };
    // Ask onnxruntime itself whether a CUDA session can be created on this host.
    const cuda = await Graph.load(file, 'tiny/decoder', { ...session, device: 'cuda' }).then(
      (g) => g,
      () => undefined,
    );
    await cuda?.dispose();
    const auto = await Graph.load(file, 'tiny/decoder', { ...session, device: 'auto' });
    expect(auto.providers).toBe(cuda === undefined ? 'cpu' : 'cuda:0');
    await auto.dispose();
  });
});
