// Serving generate through generate.onnx against the per-step path (ar_step.onnx), on the real server
// over loopback with the tiny-random fixture: the same tokens for the same seeds on either path, tokens
// independent of how requests were merged into runs, and cancellation on the graph path.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SamplingParams } from '../src/generation/request.ts';
import { GenerateGraph } from '../src/graphs/generate.ts';
import { modelShapes } from '../src/graphs/shapes.ts';
import { readManifest } from '../src/model-dir/manifest.ts';
import { Graph } from '../src/runtime/graph.ts';
import { type RunningServer, startServer } from '../src/server.ts';
import { expectProblem, FIXTURE_DIR, graphGenerator, postJson, signedFetch, testConfig } from './helpers.ts';

const MODEL = 'tiny-random';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Body {
  seed: number;
  class_ids: (number | null)[];
  cfg_scale: number;
  cfg_schedule: 'constant' | 'step';
  temperature: number;
  top_k: number;
  top_p: number;
  request_id?: string;
}

const base: Body = {
  seed: 0,
  class_ids: [0, 1, null, 3, 2],
  cfg_scale: 4,
  cfg_schedule: 'constant',
  temperature: 1,
  top_k: 0,
  top_p: 1,
};

/** Every sampling option alone and combined (the fixture has V = 64, 4 classes). */
const options: Record<string, Partial<Body>> = {
  'constant cfg 4': {},
  'step cfg 1.75': { cfg_scale: 1.75, cfg_schedule: 'step' },
  'cfg 0': { cfg_scale: 0 },
  'temperature 0.4': { temperature: 0.4 },
  'temperature 2.5': { temperature: 2.5 },
  'top-k 1': { top_k: 1 },
  'top-k 7': { top_k: 7 },
  'top-p 0.5': { top_p: 0.5 },
  'top-p just below 1': { top_p: 1 - 2 ** -30 },
  'all filters': { cfg_scale: 2.5, cfg_schedule: 'step', temperature: 1.3, top_k: 12, top_p: 0.8 },
};
const seeds = [7, 40_503];

/** [name, body] for every option and seed. */
const cases: [string, Body][] = Object.entries(options).flatMap(([name, over]) =>
  seeds.map((seed): [string, Body] => [`${name}, seed ${seed}`, { ...base, ...over, seed }]),
);

async function generate(url: string, body: Body): Promise<number[][]> {
  const res = await postJson(url, '/v1/generate', { model: MODEL, ...body });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`generate answered ${res.status}: ${text}`);
  return (JSON.parse(text) as { tokens: number[][] }).tokens;
}

const toParams = (b: Body): SamplingParams => ({
  cfgScale: b.cfg_scale,
  cfgSchedule: b.cfg_schedule,
  temperature: b.temperature,
  topK: b.top_k,
  topP: b.top_p,
});
const rows = (tokens: Int32Array[]) => tokens.map((t) => Array.from(t));

let graphServer: RunningServer;
let stepsServer: RunningServer;
/** Tokens of each case on the per-step path, one request at a time: the reference. */
const reference = new Map<string, number[][]>();

beforeAll(async () => {
  [graphServer, stepsServer] = await Promise.all([
    startServer(testConfig({ generatePath: 'graph' })),
    startServer(testConfig({ generatePath: 'steps' })),
  ]);
  await Promise.all([graphServer.loaded, stepsServer.loaded]);
  for (const [name, body] of cases) reference.set(name, await generate(stepsServer.url, body));
});

afterAll(async () => {
  await Promise.all([graphServer?.close(), stepsServer?.close()]);
});

describe('POST /v1/generate on the graph path (generate.onnx) and the steps path (ar_step.onnx)', () => {
  it('serves each path as configured', () => {
    expect(graphServer.state.models.get(MODEL)!.generatePath).toBe('graph');
    expect(stepsServer.state.models.get(MODEL)!.generatePath).toBe('steps');
  });

  it.each(cases)('gives the same tokens on both paths: %s', async (name, body) => {
    const tokens = await generate(graphServer.url, body);
    expect(tokens).toHaveLength(body.class_ids.length);
    expect(tokens).toEqual(reference.get(name));
  });

  it('gives the same tokens when all requests arrive together (mixed seeds and options in shared runs)', async () => {
    const together = await Promise.all(cases.map(([, body]) => generate(graphServer.url, body)));
    for (const [i, [name]] of cases.entries()) expect(together[i], name).toEqual(reference.get(name));
    const metrics = await (await fetch(`${graphServer.url}/metrics`)).text();
    expect(metrics).toMatch(/nv_inference_exec_count\{model="tiny-random",graph="generate"\} [1-9]/);
  });
});

describe('generate.onnx on the scheduling engine: batching and cancellation (in process)', () => {
  let spec: GenerateGraph;
  /** Called at the start of every run of the graph, before it runs. */
  let onRunStart: () => void = () => {};

  beforeAll(async () => {
    const session = { device: 'cpu' as const, cudaDeviceId: 0, intraOpThreads: 1, interOpThreads: 1 };
    const graph = await Graph.load(path.join(FIXTURE_DIR, 'generate.onnx'), `${MODEL}/generate`, session);
    const run = graph.run.bind(graph);
    graph.run = (feeds) => {
      onRunStart();
      return run(feeds);
    };
    spec = new GenerateGraph(graph, modelShapes(await readManifest(FIXTURE_DIR)));
  });
  afterAll(async () => {
    await spec?.graph.dispose();
  });

  function sampler(maxBatch: number, runs: number[] = []) {
    return graphGenerator(spec, { maxBatch, maxQueue: 256, onRun: ({ rows: n }) => runs.push(n) });
  }

  it('merges requests submitted together into one run, splits runs at the max batch, and the tokens never change', async () => {
    const picked = cases.slice(0, 6);
    const runs: number[] = [];
    const merged = sampler(64, runs);
    const together = await Promise.all(
      picked.map(([, b]) => merged.generate({ seed: b.seed, classIds: b.class_ids, params: toParams(b) })),
    );
    expect(runs).toEqual([2 * 6 * 5]); // one run, guidance rows counted
    const small: number[] = [];
    const oneByOne = sampler(2, small);
    for (const [i, [name, b]] of picked.entries()) {
      expect(rows(together[i]!), name).toEqual(reference.get(name));
      const alone = await oneByOne.generate({ seed: b.seed, classIds: b.class_ids, params: toParams(b) });
      expect(rows(alone), name).toEqual(reference.get(name));
    }
    expect(small).toEqual(new Array(picked.length * 3).fill(0).map((_, i) => (i % 3 === 2 ? 2 : 4)));
  });

  it('rejects a request canceled during a run at once, returns none of its rows, and serves the rest of the run', async () => {
    const runs: number[] = [];
    const s = sampler(16, runs);
    const controller = new AbortController();
    onRunStart = () => controller.abort(new Error('stop'));
    try {
      const [, doomedBody] = cases[0]!;
      const [survivorName, survivorBody] = cases[5]!;
      const doomed = s.generate(
        { seed: doomedBody.seed, classIds: doomedBody.class_ids, params: toParams(doomedBody) },
        controller.signal,
      );
      const survivor = s.generate({
        seed: survivorBody.seed,
        classIds: survivorBody.class_ids,
        params: toParams(survivorBody),
      });
      await expect(doomed).rejects.toThrow('stop');
      onRunStart = () => {};
      expect(rows(await survivor)).toEqual(reference.get(survivorName));
      // Both requests were in the one run: the canceled rows were computed, then dropped.
      expect(runs).toEqual([2 * 10]);
      expect(s.engine.queued).toBe(0);
      expect(s.engine.active).toBe(0);
    } finally {
      onRunStart = () => {};
    }
  });

  it('drops the queued images of a request aborted before its run', async () => {
    const runs: number[] = [];
    const s = sampler(16, runs);
    const controller = new AbortController();
    const doomed = s.generate({ seed: 1, classIds: [0, 1, 2], params: toParams(base) }, controller.signal);
    const kept = s.generate({ seed: 2, classIds: [3], params: toParams(base) });
    // Both are still queued: the engine starts its next batch after the current task.
    expect(s.engine.queued).toBe(4);
    controller.abort(new Error('client went away'));
    expect(s.engine.queued).toBe(1);
    await expect(doomed).rejects.toThrow('client went away');
    expect(await kept).toHaveLength(1);
    expect(runs).toEqual([2]);
  });
});

describe('cancel by request_id on the graph path (HTTP)', () => {
  it('answers 409 for the canceled request, frees its queue places and serves the others', async () => {
    const server = await startServer(
      testConfig({ generatePath: 'graph', maxBatch: 64, maxQueueDelayMs: 800 }),
    );
    try {
      await server.loaded;
      const service = server.state.models.get(MODEL)!;
      const [name, body] = cases[1]!;
      const first = postJson(server.url, '/v1/generate', {
        model: MODEL,
        ...base,
        class_ids: [0, 1, 2, 3],
        request_id: 'graph-1',
      });
      const other = generate(server.url, body);
      for (let i = 0; i < 50 && service.pending().generate < 9; i++) await sleep(10);
      expect(service.pending().generate).toBe(9);
      const cancel = await signedFetch(server.url, '/v1/generate/graph-1/cancel', { method: 'POST' });
      expect(await cancel.json()).toEqual({ request_id: 'graph-1', status: 'canceled' });
      const canceled = await expectProblem(await first, 409, 'conflict');
      expect(canceled.detail).toContain('canceled');
      expect(service.pending().generate).toBe(5);
      expect(await other).toEqual(reference.get(name));
    } finally {
      await server.close();
    }
  });
});
