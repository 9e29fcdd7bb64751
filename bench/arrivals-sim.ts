// The arrivals section on paper: the same Poisson schedule (bench/arrivals.ts) replayed through an event
// model of the two engines, (a) generate.onnx (a batch of up to B requests runs all T steps, then the
// next batch takes what queued meanwhile) and (c) generate_chunk.onnx (one batch in flight, chunks of
// up to S steps, finished rows leave and queued requests join between chunks), from measured step costs
// by batch size. It answers what the p99 cut of (c) can be on a machine whose step cost grows with the
// batch, set against one whose step costs the same at any batch up to B (a GPU at these sizes).
//
//   node --import tsx bench/arrivals-sim.ts --step-ms 1:31.6,2:52.1,4:72.5 \
//     [--chunk-step-ms 1:25.2,2:43.2,4:51] [--chunk-run-ms 143] [--batch 4] [--tokens 256] [--steps 32] \
//     [--loads 0.5,0.8] [--requests 12,48,20000] [--capacity IMAGES_PER_S]
//
// --step-ms: generate.onnx's mean step (whole run / T) at b guided images (bench/chunk_step_cost.py
// --batch b); --chunk-step-ms: the chunk graph's step at b (the same script), default = --step-ms;
// --chunk-run-ms: the fixed cost of one chunk run at B images (the backend's warm-up timing), scaled
// by b / B for smaller batches (it is mostly the state copy). Between measured batch sizes the cost is
// interpolated linearly. Capacity is the bench's, B / (T x step(B)), or --capacity (the figure a bench
// run printed, to replay its exact schedule). Prints one JSON object.
import { parseArgs } from 'node:util';
import { ARRIVALS_SEED, percentile, poissonArrivalsMs } from './stats.ts';

export interface Costs {
  /** generate.onnx: ms per step at `b` images. */
  stepMs(b: number): number;
  /** generate_chunk.onnx: ms per step at `b` images. */
  chunkStepMs(b: number): number;
  /** generate_chunk.onnx: fixed ms of one run at `b` images. */
  chunkRunMs(b: number): number;
}

export interface Shape {
  /** T, steps of one generation. */
  tokens: number;
  /** B, images per batch. */
  batch: number;
  /** S, most steps of one chunk. */
  steps: number;
}

/** `b:ms` points, linear between them and flat beyond the ends. */
export function curve(points: readonly (readonly [number, number])[]): (b: number) => number {
  const sorted = [...points].sort((x, y) => x[0] - y[0]);
  if (sorted.length === 0) throw new RangeError('a cost curve needs at least one b:ms point');
  return (b) => {
    const hi = sorted.findIndex(([x]) => x >= b);
    if (hi === -1) return sorted[sorted.length - 1]![1];
    if (hi === 0 || sorted[hi]![0] === b) return sorted[hi]![1];
    const [x0, y0] = sorted[hi - 1]!;
    const [x1, y1] = sorted[hi]!;
    return y0 + ((y1 - y0) * (b - x0)) / (x1 - x0);
  };
}

/** (a): whole-run batches, first come first served; a batch starts as soon as the engine is idle. */
export function wholeRunLatencies(arrivals: readonly number[], shape: Shape, costs: Costs): number[] {
  const latencies: number[] = [];
  let next = 0;
  let t = 0;
  while (next < arrivals.length) {
    t = Math.max(t, arrivals[next]!);
    let queued = 0;
    while (next + queued < arrivals.length && arrivals[next + queued]! <= t) queued++;
    const b = Math.min(shape.batch, queued);
    t += shape.tokens * costs.stepMs(b);
    for (let i = next; i < next + b; i++) latencies.push(t - arrivals[i]!);
    next += b;
  }
  return latencies;
}

/**
 * (c): one batch in flight. Each run advances every row by min(S, T - the furthest-behind row's
 * position) steps, or only until the furthest-ahead row is done when the batch is full and requests
 * wait; rows at T leave after the run, then requests that arrived join, oldest first.
 */
export function chunkedLatencies(arrivals: readonly number[], shape: Shape, costs: Costs): number[] {
  const latencies: number[] = [];
  let rows: { arrival: number; position: number }[] = [];
  let next = 0;
  let t = 0;
  while (next < arrivals.length || rows.length > 0) {
    if (rows.length === 0) t = Math.max(t, arrivals[next]!);
    while (rows.length < shape.batch && next < arrivals.length && arrivals[next]! <= t) {
      rows.push({ arrival: arrivals[next]!, position: 0 });
      next++;
    }
    const b = rows.length;
    const positions = rows.map((r) => r.position);
    let s = Math.min(shape.steps, shape.tokens - Math.min(...positions));
    // As the engine does: a full batch with requests queued ends its run when its first row finishes.
    const waiting = b === shape.batch && next < arrivals.length && arrivals[next]! <= t;
    if (waiting) s = Math.min(s, shape.tokens - Math.max(...positions));
    t += s * costs.chunkStepMs(b) + costs.chunkRunMs(b);
    for (const r of rows) r.position = Math.min(shape.tokens, r.position + s);
    for (const r of rows) if (r.position === shape.tokens) latencies.push(t - r.arrival);
    rows = rows.filter((r) => r.position < shape.tokens);
  }
  return latencies;
}

export interface SimCell {
  load: number;
  requests: number;
  p50: { a: number; c: number };
  p99: { a: number; c: number };
  p99Cut: number;
}

/** Both paths on the bench's schedule at each load and request count. */
export function simulate(
  shape: Shape,
  costs: Costs,
  loads: number[],
  counts: number[],
  capacity = shape.batch / ((shape.tokens * costs.stepMs(shape.batch)) / 1000),
): SimCell[] {
  const cells: SimCell[] = [];
  for (const load of loads) {
    for (const requests of counts) {
      const times = poissonArrivalsMs(requests, load * capacity, ARRIVALS_SEED);
      const a = wholeRunLatencies(times, shape, costs);
      const c = chunkedLatencies(times, shape, costs);
      const p99 = { a: percentile(a, 99), c: percentile(c, 99) };
      cells.push({
        load,
        requests,
        p50: { a: percentile(a, 50), c: percentile(c, 50) },
        p99,
        p99Cut: p99.a / p99.c,
      });
    }
  }
  return cells;
}

function points(text: string): [number, number][] {
  return text.split(',').map((pair) => {
    const [b, ms] = pair.split(':').map(Number);
    if (!Number.isInteger(b) || b! < 1 || !(ms! > 0))
      throw new RangeError(`expected b:ms pairs, got '${pair}'`);
    return [b!, ms!];
  });
}

function main(): void {
  const { values } = parseArgs({
    options: {
      'step-ms': { type: 'string' },
      'chunk-step-ms': { type: 'string' },
      'chunk-run-ms': { type: 'string', default: '0' },
      batch: { type: 'string', default: '4' },
      tokens: { type: 'string', default: '256' },
      steps: { type: 'string', default: '32' },
      loads: { type: 'string', default: '0.5,0.8' },
      requests: { type: 'string', default: '12,48,20000' },
      capacity: { type: 'string' },
    },
  });
  if (values['step-ms'] === undefined) throw new RangeError('--step-ms b:ms[,b:ms...] is required');
  const shape: Shape = {
    tokens: Number(values.tokens),
    batch: Number(values.batch),
    steps: Number(values.steps),
  };
  const step = points(values['step-ms']);
  const chunkStep = values['chunk-step-ms'] === undefined ? step : points(values['chunk-step-ms']);
  const runAtBatch = Number(values['chunk-run-ms']);
  const loads = values.loads.split(',').map(Number);
  // The bench's measured capacity of (a), to replay a run's exact schedule; else from --step-ms.
  const capacity = values.capacity === undefined ? undefined : Number(values.capacity);
  const counts = values.requests.split(',').map(Number);
  const measured: Costs = {
    stepMs: curve(step),
    chunkStepMs: curve(chunkStep),
    chunkRunMs: (b) => (runAtBatch * b) / shape.batch,
  };
  // The same machine with a step that costs what one image's does, at any batch up to B.
  const flat: Costs = {
    stepMs: () => measured.stepMs(1),
    chunkStepMs: () => measured.chunkStepMs(1),
    chunkRunMs: measured.chunkRunMs,
  };
  const round = (cells: SimCell[]) =>
    cells.map((c) => ({
      load: c.load,
      requests: c.requests,
      p50_s: { a: +(c.p50.a / 1000).toFixed(2), c: +(c.p50.c / 1000).toFixed(2) },
      p99_s: { a: +(c.p99.a / 1000).toFixed(2), c: +(c.p99.c / 1000).toFixed(2) },
      p99_cut: +c.p99Cut.toFixed(2),
    }));
  const growth = (costs: Costs) =>
    +((costs.stepMs(shape.batch) / costs.stepMs(1) - 1) / (shape.batch - 1)).toFixed(2);
  console.log(
    JSON.stringify(
      {
        shape,
        measured: {
          extra_image_share: growth(measured),
          cells: round(simulate(shape, measured, loads, counts, capacity)),
        },
        // Loads are shares of the flat device's own capacity.
        batch_flat: { extra_image_share: growth(flat), cells: round(simulate(shape, flat, loads, counts)) },
      },
      null,
      1,
    ),
  );
}

if (import.meta.url === `file://${process.argv[1]}`) main();
