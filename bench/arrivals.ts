// Open-loop arrivals (Poisson) at a share of the measured capacity, through the scheduling engine as
// the model service builds it, for each generate path: (a) generate.onnx, the whole loop in one run per
// batch; (b) the per-step cohorts on ar_step.onnx; (c) generate_chunk.onnx at each chunk size, rows
// joining and leaving between chunks. Every path replays the same arrival times, seeds and classes;
// time to result is counted from the scheduled arrival to the tokens (no decoder).
import { chunkRunner, chunkStepsFor } from '../gpu-backend/src/generation/chunk-runner.ts';
import { byPrefixLength, graphRunner } from '../gpu-backend/src/generation/graph-runner.ts';
import { type GenerationRow, rowsOf, type SamplingParams } from '../gpu-backend/src/generation/request.ts';
import { stepRunner } from '../gpu-backend/src/generation/step-runner.ts';
import { disposeModel, type LoadedModel, loadModel } from '../gpu-backend/src/model-dir/loader.ts';
import type { Device } from '../gpu-backend/src/runtime/device.ts';
import { Engine, type Runner } from '../gpu-backend/src/scheduling/engine.ts';
import type { Headline, Section } from './report.ts';
import { ARRIVALS_SEED, bytes, fmt, percentile, poissonArrivalsMs, ratio } from './stats.ts';

export interface ArrivalsOptions {
  modelDir: string;
  device: Device;
  threads: number;
  /** Chunk sizes of path (c); 0 = the backend's default (chunkStepsFor, from the warm-up timing). */
  chunkSteps: number[];
  /** Offered load as shares of the capacity, e.g. 0.5 and 0.8. */
  loads: number[];
  /** Which paths to run: any of a, b, c (capacity is always measured on a). */
  paths: string[];
  /** Requests per cell (one image each). */
  requests: number;
  maxBatch: number;
  log: (line: string) => void;
}

interface Cell {
  path: string;
  load: number;
  ratePerSecond: number;
  requests: number;
  p50Ms: number;
  p99Ms: number;
  imagesPerSecond: number;
}

type GenerateEngine = Engine<GenerationRow, Int32Array, unknown>;

const params: SamplingParams = { cfgScale: 1.5, cfgSchedule: 'constant', temperature: 1, topK: 0, topP: 1 };

/** Replays `times` on `engine`: request i (one image, seed i) is submitted at times[i]. */
async function replay(engine: GenerateEngine, times: readonly number[], numClasses: number) {
  const start = performance.now();
  const latencies: number[] = new Array(times.length);
  let lastDone = start;
  await Promise.all(
    times.map(
      (at, i) =>
        new Promise<void>((resolve, reject) => {
          setTimeout(
            () => {
              engine.submit(rowsOf({ seed: 1 + i, classIds: [i % numClasses], params })).then(() => {
                const now = performance.now();
                latencies[i] = now - (start + at);
                lastDone = Math.max(lastDone, now);
                resolve();
              }, reject);
            },
            Math.max(0, start + at - performance.now()),
          );
        }),
    ),
  );
  return { latencies, seconds: (lastDone - start) / 1000 };
}

export async function runArrivals(o: ArrivalsOptions): Promise<Section | undefined> {
  const session = { device: o.device, cudaDeviceId: 0, intraOpThreads: o.threads, interOpThreads: 1 };
  const load = (generatePath: 'graph' | 'chunked') =>
    loadModel(o.modelDir, { ...session, warmup: true, worker: true, logLevel: 'warn', generatePath });
  let whole: LoadedModel | undefined;
  let chunked: LoadedModel | undefined;
  try {
    whole = await load('graph');
    chunked = await load('chunked');
  } catch (error) {
    o.log(`arrivals skipped: ${(error as Error).message.split('\n')[0]}`);
    if (whole !== undefined) await disposeModel(whole);
    return undefined;
  }
  const shapes = chunked.generateChunk!.shapes;
  const timing = chunked.generateChunk!.timing;
  const chunkSizes = o.chunkSteps.map((s) => ({ s, steps: s || chunkStepsFor(shapes.tokens, timing) }));
  if (timing !== undefined) {
    o.log(
      `arrivals: chunk timing at ${timing.images} images: ${fmt(timing.stepMs)} ms per step, ` +
        `${fmt(timing.runMs)} ms per run; default S = ${chunkStepsFor(shapes.tokens, timing)}`,
    );
  }
  const engine = <B>(runner: Runner<GenerationRow, Int32Array, B>, extra = {}) =>
    new Engine(runner, {
      label: 'bench/arrivals',
      maxBatch: o.maxBatch,
      maxQueue: 1_000_000,
      ...extra,
    }) as unknown as GenerateEngine;
  const all: { name: string; make: () => GenerateEngine }[] = [
    {
      name: '(a) generate.onnx',
      make: () => engine(graphRunner(whole!.generate!), { picker: byPrefixLength }),
    },
    { name: '(b) per-step cohorts', make: () => engine(stepRunner(whole!.arStep!), { maxActiveBatches: 2 }) },
    ...chunkSizes.map(({ s, steps }) => ({
      name: s === 0 ? `(c) chunked S=${steps} (default)` : `(c) chunked S=${steps}`,
      make: () => engine(chunkRunner(chunked!.generateChunk!, steps)),
    })),
  ];
  const paths = all.filter((p) => o.paths.includes(p.name[1]!));

  // Capacity: path (a) saturated, 3 full batches queued at once.
  const saturate = all[0]!.make();
  const n = 3 * o.maxBatch;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: n }, (_, i) =>
      saturate.submit(rowsOf({ seed: 1 + i, classIds: [i % shapes.numClasses], params })),
    ),
  );
  const capacity = n / ((performance.now() - t0) / 1000);
  await saturate.close();
  o.log(`arrivals: capacity of (a) at batch ${o.maxBatch}: ${fmt(capacity)} images/s`);

  const cells: Cell[] = [];
  for (const share of o.loads) {
    const rate = share * capacity;
    const times = poissonArrivalsMs(o.requests, rate, ARRIVALS_SEED);
    for (const p of paths) {
      const e = p.make();
      const { latencies, seconds } = await replay(e, times, shapes.numClasses);
      await e.close();
      const cell: Cell = {
        path: p.name,
        load: share,
        ratePerSecond: rate,
        requests: o.requests,
        p50Ms: percentile(latencies, 50),
        p99Ms: percentile(latencies, 99),
        imagesPerSecond: o.requests / seconds,
      };
      cells.push(cell);
      o.log(
        `arrivals ${Math.round(share * 100)}% ${p.name}: p50 ${fmt(cell.p50Ms)} ms, p99 ${fmt(cell.p99Ms)} ms, ` +
          `${fmt(cell.imagesPerSecond)} images/s`,
      );
    }
  }
  await disposeModel(whole);
  await disposeModel(chunked);

  const rowStateBytes = 2 * chunked.generateChunk!.rowStateFloats * 4;
  const headlines: Headline[] = [];
  for (const share of o.loads) {
    const a = cells.find((c) => c.load === share && c.path.startsWith('(a)'));
    if (a === undefined) continue;
    for (const c of cells.filter((x) => x.load === share && x.path.startsWith('(c)'))) {
      headlines.push({
        figure: `${c.path} vs generate.onnx at ${Math.round(share * 100)}% load: p99 cut`,
        value: ratio(a.p99Ms / c.p99Ms),
        detail:
          `p99 ${fmt(a.p99Ms)} -> ${fmt(c.p99Ms)} ms; throughput ${fmt(a.imagesPerSecond)} -> ` +
          `${fmt(c.imagesPerSecond)} images/s`,
      });
    }
  }
  return {
    id: 'arrivals',
    title: 'Open-loop arrivals: whole-run graph vs per-step vs chunked generation',
    tables: [
      {
        title:
          `Poisson arrivals, ${o.requests} one-image requests per cell, batch limit ${o.maxBatch}, ` +
          `capacity of (a) ${fmt(capacity)} images/s`,
        columns: ['load', 'path', 'arrivals/s', 'p50 ms', 'p99 ms', 'images/s'],
        rows: cells.map((c) => [
          `${Math.round(c.load * 100)}%`,
          c.path,
          fmt(c.ratePerSecond),
          fmt(c.p50Ms),
          fmt(c.p99Ms),
          fmt(c.imagesPerSecond),
        ]),
      },
    ],
    notes: [
      'Time to result: from the scheduled arrival to the tokens of the request (the engine queue included, ' +
        'the decoder not). Throughput: requests / (last result - first arrival).',
      `generate_chunk.onnx state per image (keys + values, 2 x [L, 2, H, T, D] float32): ${bytes(rowStateBytes)}; ` +
        'onnxruntime-node copies it out of the runtime once per chunk for every row in the batch.',
    ],
    headlines,
    data: { capacity, cells, rowStateBytes, chunkTiming: timing },
  };
}
