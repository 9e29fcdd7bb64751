// generate_chunk.onnx served by the scheduling engine (generation/chunk-runner.ts) against generate.onnx
// on the embedded gigatok-nano: requests that join a running batch at different chunk boundaries,
// next to rows with other sampling options, get the tokens generate.onnx gives them alone; a
// canceled request leaves at the next chunk boundary; the batch limit holds with joins; the default
// chunk size follows the warm-up timing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultModelDir } from '../src/config.ts';
import { chunkRunner, chunkStepsFor } from '../src/generation/chunk-runner.ts';
import {
  type GenerateRequest,
  type GenerationRow,
  rowsOf,
  type SamplingParams,
} from '../src/generation/request.ts';
import type { GenerateGraph } from '../src/graphs/generate.ts';
import type { GenerateChunkGraph } from '../src/graphs/generate-chunk.ts';
import { settleAutoPath } from '../src/model-dir/generate-path.ts';
import { disposeModel, type LoadedModel, loadModel } from '../src/model-dir/loader.ts';
import { Engine } from '../src/scheduling/engine.ts';

const session = { device: 'cpu' as const, cudaDeviceId: 0, intraOpThreads: 1, interOpThreads: 1 };
let whole: LoadedModel;
let chunked: LoadedModel;
let graph: GenerateGraph;
let chunk: GenerateChunkGraph;

beforeAll(async () => {
  whole = await loadModel(defaultModelDir, { ...session, warmup: false, generatePath: 'graph' });
  chunked = await loadModel(defaultModelDir, { ...session, warmup: false, generatePath: 'chunked' });
  graph = whole.generate!;
  chunk = chunked.generateChunk!;
});

afterAll(async () => {
  await disposeModel(whole);
  await disposeModel(chunked);
});

const base: SamplingParams = { cfgScale: 1.5, cfgSchedule: 'constant', temperature: 1.1, topK: 0, topP: 1 };
const options: SamplingParams[] = [
  base,
  { ...base, cfgScale: 1.75, cfgSchedule: 'step' },
  { ...base, temperature: 0.7, topK: 5 },
  { ...base, topP: 0.6 },
  { cfgScale: 2.5, cfgSchedule: 'step', temperature: 1.3, topK: 256, topP: 0.9 },
  { ...base, topK: 1 },
];

/** Requests of 1-2 images, one per option set, plus one with a prefix (variations). */
function requests(): GenerateRequest[] {
  const list: GenerateRequest[] = options.map((params, i) => ({
    seed: 1000 + 17 * i,
    classIds: i % 2 === 0 ? [i % 10, null] : [(3 * i) % 10],
    params,
  }));
  list.push({ seed: 77, classIds: [4], params: base, prefixes: [[5, 900, 31, 2, 8, 64, 100, 12]] });
  return list;
}

/**
 * Serves `list` on the chunk engine: request i is submitted after run `joinAfter[i]` (0 = at once),
 * so it joins the running batch at that chunk boundary. Returns each request's tokens and the rows
 * of every run.
 */
async function serveChunked(list: GenerateRequest[], steps: number, maxBatch: number, joinAfter: number[]) {
  const runs: number[] = [];
  const joinedNextTo: number[] = [];
  let joinedRows = 0;
  let joinedItems = 0;
  const pending: Promise<Int32Array[]>[] = new Array(list.length);
  const runner = chunkRunner(chunk, steps);
  const join = runner.join!;
  runner.join = (batch, rows) => {
    joinedNextTo.push(batch.rows.length);
    joinedRows += rows.length;
    join(batch, rows);
  };
  const engine: Engine<GenerationRow, Int32Array, unknown> = new Engine(runner, {
    label: 'test/generate_chunk',
    maxBatch,
    maxQueue: 256,
    onJoin: ({ items }) => {
      joinedItems += items;
    },
    onRun: ({ rows }) => {
      runs.push(rows / 2);
      for (const [i, r] of list.entries())
        if (joinAfter[i] === runs.length) pending[i] = engine.submit(rowsOf(r));
    },
  });
  for (const [i, r] of list.entries()) if (joinAfter[i] === 0) pending[i] = engine.submit(rowsOf(r));
  const out: number[][][] = [];
  for (let i = 0; i < list.length; i++) {
    while (pending[i] === undefined) await new Promise((resolve) => setImmediate(resolve));
    out.push((await pending[i]!).map((t) => Array.from(t)));
  }
  await engine.close();
  return { tokens: out, runs, joinedNextTo, joinedRows, joinedItems };
}

describe('generate_chunk.onnx on gigatok-nano', () => {
  it('serves the chunked path when asked, without loading generate.onnx', () => {
    expect(chunked.generatePath).toBe('chunked');
    expect(chunked.generate).toBeUndefined();
  });

  it.each([
    [1, 4],
    [5, 4],
    [8, 16],
    [32, 2],
  ])(
    'rows joining a running batch (S = %i, batch limit %i) draw generate.onnx tokens',
    async (steps, maxBatch) => {
      const list = requests();
      const want = await Promise.all(
        list.map(async (r) => (await graph.run(rowsOf(r))).map((t) => Array.from(t))),
      );
      const joinAfter = list.map((_, i) => (i * 3 + steps) % 5);
      joinAfter[0] = 0;
      const { tokens, runs, joinedNextTo, joinedRows, joinedItems } = await serveChunked(
        list,
        steps,
        maxBatch,
        joinAfter,
      );
      expect(tokens).toEqual(want);
      expect(Math.max(...runs)).toBeLessThanOrEqual(maxBatch);
      // Rows joined a batch with rows in flight (so they ran next to rows at other positions).
      if (steps < 32) expect(Math.max(...joinedNextTo)).toBeGreaterThan(0);
      // The engine reports every row that joined (the backend's gigatok_inference_joined_count).
      expect(joinedItems).toBe(joinedRows);
      if (steps < 32) expect(joinedItems).toBeGreaterThan(0);
    },
  );

  it('a different seed draws different tokens (the comparison above can fail)', async () => {
    const [a] = requests();
    const { tokens } = await serveChunked([a!, { ...a!, seed: a!.seed + 1 }], 8, 4, [0, 1]);
    expect(tokens[0]).not.toEqual(tokens[1]);
  });

  it('a full batch with a request waiting ends its run when its first row finishes', async () => {
    // Batch limit 2, S = 5, T = 32: A starts alone, B joins after run 1 (5 steps behind A), C is
    // queued after run 2 and waits for a row. Run 7 takes A from 30 to T: 2 steps instead of 5, so
    // C joins 3 steps sooner; then nobody waits and the runs are S steps again.
    const stepsOfRuns: number[] = [];
    const counted = Object.create(chunk) as GenerateChunkGraph;
    counted.run = (rows, state, steps) => {
      stepsOfRuns.push(steps);
      return chunk.run(rows, state, steps);
    };
    const list = [0, 1, 2].map((i) => ({ seed: 40 + i, classIds: [i], params: options[i]! }));
    const pending: Promise<Int32Array[]>[] = [];
    const engine: Engine<GenerationRow, Int32Array, unknown> = new Engine(chunkRunner(counted, 5), {
      label: 'test/generate_chunk',
      maxBatch: 2,
      maxQueue: 8,
      onRun: () => {
        if (stepsOfRuns.length <= 2) pending.push(engine.submit(rowsOf(list[stepsOfRuns.length]!)));
      },
    });
    pending.push(engine.submit(rowsOf(list[0]!)));
    while (pending.length < 3) await new Promise((resolve) => setImmediate(resolve));
    const got = await Promise.all(pending);
    await engine.close();
    expect(stepsOfRuns.slice(0, 8)).toEqual([5, 5, 5, 5, 5, 5, 2, 5]);
    for (const [i, r] of list.entries()) {
      expect(got[i]!.map((t) => Array.from(t))).toEqual(
        (await graph.run(rowsOf(r))).map((t) => Array.from(t)),
      );
    }
  });

  it('a canceled request leaves the batch at the next chunk boundary', async () => {
    const runs: number[] = [];
    const abort = new AbortController();
    const engine = new Engine(chunkRunner(chunk, 4), {
      label: 'test/generate_chunk',
      maxBatch: 8,
      maxQueue: 64,
      onRun: ({ rows }) => {
        runs.push(rows / 2);
        if (runs.length === 2) abort.abort(new Error('canceled by the test'));
      },
    });
    const stay = engine.submit(rowsOf({ seed: 1, classIds: [1, 2], params: base }));
    const gone = engine.submit(rowsOf({ seed: 2, classIds: [3, 4, 5], params: base }), abort.signal);
    await expect(gone).rejects.toThrow('canceled by the test');
    const kept = await stay;
    await engine.close();
    // Two chunks with all 5 rows, then only the 2 that stayed until they finish (32 / 4 = 8 chunks).
    expect(runs).toEqual([5, 5, 2, 2, 2, 2, 2, 2]);
    expect(kept.map((t) => Array.from(t))).toEqual(
      (await graph.run(rowsOf({ seed: 1, classIds: [1, 2], params: base }))).map((t) => Array.from(t)),
    );
  });
});

describe('the default chunk size (GIGATOK_CHUNK_STEPS=0)', () => {
  it('takes the fewest steps that keep the fixed cost of a run at most 10% of it, within [1, T]', () => {
    // 9 x runMs / stepMs: 9 x 10 / 5 = 18 steps; fixed cost 10 ms of 18 x 5 + 10 = 100 ms.
    expect(chunkStepsFor(256, { stepMs: 5, runMs: 10, images: 4 })).toBe(18);
    expect(chunkStepsFor(256, { stepMs: 5, runMs: 10.1, images: 4 })).toBe(19);
    expect(chunkStepsFor(32, { stepMs: 0.05, runMs: 2, images: 4 })).toBe(32);
    expect(chunkStepsFor(256, { stepMs: 50, runMs: 0, images: 4 })).toBe(1);
    expect(chunkStepsFor(256, { stepMs: 0, runMs: 1, images: 4 })).toBe(256);
    // No timing (the backend started without warm-up): a quarter of T.
    expect(chunkStepsFor(256, undefined)).toBe(64);
    expect(chunkStepsFor(2, undefined)).toBe(1);
    // A configured S wins over the timing, at most T.
    expect(chunkStepsFor(256, { stepMs: 5, runMs: 10, images: 4 }, 40)).toBe(40);
    expect(chunkStepsFor(32, undefined, 100)).toBe(32);
  });

  it('auto serves the chunked path only where chunks are shorter than T and a generation lasts', () => {
    // GPT-B on this CPU: 32.5 ms per step, 143 ms per run, S = 40.
    expect(settleAutoPath(256, 40, { stepMs: 32.5, runMs: 143 })).toBe('chunked');
    // gigatok-nano: 1.25 ms per step, 1.5 ms per run: S = 11, but a generation lasts about 40 ms.
    expect(settleAutoPath(32, 11, { stepMs: 1.25, runMs: 1.5 })).toBe('graph');
    expect(settleAutoPath(32, 11, { stepMs: 15, runMs: 20 })).toBe('chunked');
    // A chunk of the whole sequence is a whole generation.
    expect(settleAutoPath(256, 256, { stepMs: 32.5, runMs: 143 })).toBe('graph');
    // Without a timing (no warm-up) S alone decides.
    expect(settleAutoPath(32, 8)).toBe('chunked');
  });

  it('warm-up measures a step and the fixed cost of a run of the chunk graph', async () => {
    const warmed = await loadModel(defaultModelDir, { ...session, warmup: true, generatePath: 'chunked' });
    try {
      expect(warmed.generatePath).toBe('chunked');
      const timing = warmed.generateChunk!.timing!;
      expect(timing.images).toBe(4);
      expect(timing.stepMs).toBeGreaterThan(0);
      expect(timing.runMs).toBeGreaterThan(0);
      const steps = chunkStepsFor(32, timing);
      expect(steps).toBeGreaterThanOrEqual(1);
      expect(steps).toBeLessThanOrEqual(32);
    } finally {
      await disposeModel(warmed);
    }
  });
});
