// Backend figures without HTTP, through the ModelService the server uses: encode / decode / generate
// throughput and per-call latency by batch size, the KV cache against full recompute, and where the
// time of one generated image goes (graph runs, host sampling, decode, PNG, and the KV bytes copied).
import {
  benchInputs,
  benchParams,
  benchService,
  measureRate,
  type RateFigure,
} from '../gpu-backend/scripts/quick-bench.ts';
import { type GenerateRequest, rowsOf } from '../gpu-backend/src/generation/request.ts';
import { stepRunner } from '../gpu-backend/src/generation/step-runner.ts';
import type { ArStepGraph } from '../gpu-backend/src/graphs/ar-step.ts';
import { encodeImage, toPixels } from '../gpu-backend/src/images/preprocess.ts';
import { disposeModel, type LoadedModel, loadModel } from '../gpu-backend/src/model-dir/loader.ts';
import type { Device } from '../gpu-backend/src/runtime/device.ts';
import { Engine } from '../gpu-backend/src/scheduling/engine.ts';
import type { Headline, Section, Table } from './report.ts';
import { bytes, fmt, median, percentile, ratio, replayOutputCopies, sum } from './stats.ts';

export interface BackendOptions {
  modelDir: string;
  device: Device;
  threads: number;
  /** Batch sizes for encode and decode. */
  batches: number[];
  /** Batch sizes for generate (smaller on big AR models). */
  generateBatches: number[];
  /** Batch sizes for the KV-cache vs recompute comparison (empty: skip). */
  recomputeBatches: number[];
  /** Timed seconds per figure (at least `minCalls` calls). */
  seconds: number;
  minCalls: number;
  log: (line: string) => void;
}

export interface OpFigure {
  op: 'encode' | 'decode' | 'generate';
  batch: number;
  imagesPerSecond: number;
  tokensPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  calls: number;
  /** Process CPU time (user + system, every thread) per image: the cost, steadier than wall time when the machine is shared. */
  cpuMsPerImage: number;
}

type Rated = RateFigure & { cpuMsPerImage: number };

/** measureRate (quick-bench.ts) plus the process CPU time per image of the timed calls. */
async function rated(
  batch: number,
  work: (b: number) => Promise<unknown>,
  options: { seconds: number; minCalls?: number },
): Promise<Rated> {
  await work(batch); // warm this batch size, outside the CPU count
  const cpu = process.cpuUsage();
  const r = await measureRate(batch, work, { ...options, skipWarm: true });
  const used = process.cpuUsage(cpu);
  return { ...r, cpuMsPerImage: (used.user + used.system) / 1000 / (r.callMs.length * batch) };
}

/** The model's ar_step graph (its shapes come from the manifest); throws when it has none. */
export function arStepOf(model: LoadedModel): ArStepGraph {
  if (model.arStep === undefined) throw new Error(`${model.id} has no ar_step graph`);
  return model.arStep;
}

/**
 * Step-by-step generation on the scheduling engine, batches up to `maxBatch`, one cohort at a time:
 * the per-step loop the server runs with GIGATOK_GENERATE_PATH=steps, without the HTTP around it.
 */
export function stepGenerator(
  model: LoadedModel,
  maxBatch: number,
  onRun?: (info: { rows: number; computeUs: number }) => void,
): { generate: (request: GenerateRequest) => Promise<Int32Array[]>; close: () => Promise<void> } {
  const engine = new Engine(stepRunner(arStepOf(model), 'kv'), {
    label: `${model.id}/ar_step`,
    maxBatch,
    maxQueue: 1 << 20,
    ...(onRun === undefined ? {} : { onRun }),
  });
  return { generate: (request) => engine.submit(rowsOf(request)), close: () => engine.close() };
}

/**
 * Bytes crossing session.run in one AR step at position p for N rows (N = 2 x images: guidance
 * doubling): in = past_keys + past_values [L,N,H,p,D]; out = present_* [L,N,H,p+1,D] + logits [N,V].
 */
export function stepBytes(
  spec: ArStepGraph,
  rows: number,
  p: number,
): { in: number; out: number; outputs: [number, number, number] } {
  const perPosition = spec.shapes.layers * rows * spec.shapes.heads * spec.shapes.headDim * 4;
  const present = perPosition * (p + 1);
  const logits = rows * spec.shapes.vocab * 4;
  return { in: 2 * perPosition * p, out: 2 * present + logits, outputs: [present, present, logits] };
}

export async function runBackend(o: BackendOptions): Promise<Section> {
  const model = await loadModel(o.modelDir, {
    device: o.device,
    cudaDeviceId: 0,
    intraOpThreads: o.threads,
    interOpThreads: 1,
    warmup: true,
    // In this thread, so Graph.run times session.run itself (the server adds a worker-thread hop; the
    // HTTP section measures that path).
    worker: false,
    logLevel: 'warn',
  });
  try {
    return await measureBackend(model, o);
  } finally {
    await disposeModel(model);
  }
}

async function measureBackend(model: LoadedModel, o: BackendOptions): Promise<Section> {
  const { tokens_per_image: T } = model.manifest.tokenizer;
  const classes = model.manifest.ar.num_classes;
  const { png, tokens } = await benchInputs(model);
  const timing = { seconds: o.seconds, minCalls: o.minCalls };
  const figures: OpFigure[] = [];
  const record = (op: OpFigure['op'], batch: number, r: Rated) => {
    const f: OpFigure = {
      op,
      batch,
      imagesPerSecond: r.imagesPerSecond,
      tokensPerSecond: r.imagesPerSecond * T,
      p50Ms: median(r.callMs),
      p99Ms: percentile(r.callMs, 99),
      calls: r.callMs.length,
      cpuMsPerImage: r.cpuMsPerImage,
    };
    figures.push(f);
    o.log(
      `${op} batch ${batch}: ${fmt(f.imagesPerSecond)} images/s, p50 ${fmt(f.p50Ms)} ms, p99 ${fmt(f.p99Ms)} ms`,
    );
    return f;
  };
  const classIds = (n: number) => Array.from({ length: n }, (_, i) => i % classes);

  for (const b of o.batches) {
    const s = benchService(model, b);
    record('encode', b, await rated(b, (n) => s.encode(Array.from({ length: n }, () => png)), timing));
    const rows = s.checkTokens(
      Array.from({ length: b }, () => tokens),
      'tokens',
    );
    record('decode', b, await rated(b, (n) => s.decode(rows.slice(0, n), 'png'), timing));
  }
  if (model.arStep !== undefined) {
    for (const b of o.generateBatches) {
      const s = benchService(model, b);
      record(
        'generate',
        b,
        await rated(b, (n) => s.generate({ seed: 1, classIds: classIds(n), params: benchParams }), timing),
      );
    }
  }

  // KV cache vs recomputing positions 0..p at every step (the no-cache baseline of sampler.ts).
  const recompute: { batch: number; kv: Rated; recompute: Rated; ratio: number; cpuRatio: number }[] = [];
  if (model.arStep !== undefined) {
    for (const b of o.recomputeBatches) {
      const kvService = benchService(model, b);
      const kv = await rated(
        b,
        (n) => kvService.generate({ seed: 1, classIds: classIds(n), params: benchParams }),
        timing,
      );
      const s = benchService(model, b, 'recompute');
      const r = await rated(b, (n) => s.generate({ seed: 1, classIds: classIds(n), params: benchParams }), {
        seconds: o.seconds,
        minCalls: 1,
      });
      const entry = {
        batch: b,
        kv,
        recompute: r,
        ratio: kv.imagesPerSecond / r.imagesPerSecond,
        cpuRatio: r.cpuMsPerImage / kv.cpuMsPerImage,
      };
      recompute.push(entry);
      o.log(
        `recompute batch ${b}: ${fmt(r.imagesPerSecond)} images/s; KV cache ${ratio(entry.ratio)} ` +
          `(CPU time ${ratio(entry.cpuRatio)})`,
      );
    }
  }

  const split = model.arStep === undefined ? undefined : await timeSplit(model, o);
  const copies = model.arStep === undefined ? [] : copiesByBatch(arStepOf(model), figures);

  const tables: Table[] = [
    {
      title: `Throughput and latency per call, in process (ModelService, no HTTP; ${model.providers})`,
      columns: ['op', 'batch', 'images/s', 'tokens/s', 'p50 ms/call', 'p99 ms/call', 'CPU ms/image', 'calls'],
      rows: figures.map((f) => [
        f.op,
        String(f.batch),
        fmt(f.imagesPerSecond),
        fmt(f.tokensPerSecond),
        fmt(f.p50Ms),
        fmt(f.p99Ms),
        fmt(f.cpuMsPerImage),
        String(f.calls),
      ]),
    },
  ];
  if (recompute.length > 0) {
    tables.push({
      title: 'AR sampling: KV cache vs full recompute at every step',
      columns: [
        'batch',
        'KV cache images/s',
        'recompute images/s',
        'ratio (wall)',
        'KV cache CPU ms/image',
        'recompute CPU ms/image',
        'ratio (CPU)',
        'graph runs per image',
      ],
      rows: recompute.map((r) => [
        String(r.batch),
        fmt(r.kv.imagesPerSecond),
        fmt(r.recompute.imagesPerSecond),
        ratio(r.ratio),
        fmt(r.kv.cpuMsPerImage),
        fmt(r.recompute.cpuMsPerImage),
        ratio(r.cpuRatio),
        `${T} vs ${(T * (T + 1)) / 2}`,
      ]),
    });
  }
  if (split !== undefined) tables.push(...split.tables);
  if (copies.length > 0) {
    tables.push({
      title:
        'Output copies per generate call (present_keys/values + logits of every step), by batch; ' +
        'replayed in JavaScript up to 512 MiB per call',
      columns: [
        'batch',
        'rows',
        'bytes copied out per call',
        'memcpy ms (reused buffers)',
        'alloc + memcpy ms (fresh buffers)',
        'p50 ms per call',
      ],
      rows: copies.map((c) => [
        String(c.batch),
        String(2 * c.batch),
        bytes(c.outBytes),
        fmt(c.reusedMs),
        fmt(c.freshMs),
        fmt(c.p50Ms),
      ]),
    });
  }

  const headlines: Headline[] = [];
  for (const op of ['encode', 'decode', 'generate'] as const) {
    const best = figures.filter((f) => f.op === op).sort((a, b) => b.imagesPerSecond - a.imagesPerSecond)[0];
    const one = figures.find((f) => f.op === op && f.batch === 1);
    if (best !== undefined) {
      headlines.push({
        figure: op === 'generate' ? 'generate (per-step loop), best' : `${op}, best`,
        value: `${fmt(best.imagesPerSecond)} images/s`,
        detail:
          `batch ${best.batch} (${fmt(best.tokensPerSecond)} tokens/s); batch 1: ` +
          `${fmt(one?.imagesPerSecond)} images/s, p50 ${fmt(one?.p50Ms)} ms`,
      });
    }
  }
  const r1 = recompute[0];
  if (r1 !== undefined) {
    headlines.push({
      figure: 'KV cache vs recompute',
      value: ratio(r1.ratio),
      detail: `generate images/s at batch ${r1.batch}, ${T} tokens (CPU time per image: ${ratio(r1.cpuRatio)})`,
    });
  }
  if (split !== undefined) headlines.push(...split.headlines);
  if (copies.length > 0) {
    const big = copies[copies.length - 1]!;
    headlines.push({
      figure: `generate: output copies at batch ${big.batch}`,
      value: bytes(big.outBytes),
      detail:
        `per call of p50 ${fmt(big.p50Ms)} ms; replayed: memcpy ${fmt(big.reusedMs)} ms, ` +
        `with fresh buffers (as the binding allocates) ${fmt(big.freshMs)} ms`,
    });
  }
  return {
    id: 'backend',
    title: 'Backend in process: encode, decode, generate',
    tables,
    notes: [
      `Each figure: one untimed warm-up call, then calls for about ${o.seconds} s (at least ${o.minCalls}); ` +
        'p50/p99 are per call (one batch), nearest rank, so with few calls p99 is the slowest call.',
      'CPU ms/image: process CPU time (user + system, all threads, spin-waiting pool threads included) per ' +
        'image; unlike wall time it does not grow when other work takes the cores.',
      'encode includes sharp preprocessing of a PNG; decode includes PNG encoding of every image; ' +
        `generate samples with cfg ${benchParams.cfgScale} (${benchParams.cfgSchedule}), guidance doubles the rows.`,
      'generate here is the per-step loop (ar_step.onnx, step by step, GIGATOK_GENERATE_PATH=steps), the path this ' +
        'section takes apart; the server serves generate.onnx when the model has it (graph and HTTP sections).',
    ],
    headlines,
    data: { figures, recompute, split: split?.data, copies },
  };
}

/** Replays above this many bytes per call would take minutes (GPT-B: 4.5 GiB per image); they are left out. */
const REPLAY_LIMIT_BYTES = 512 * 2 ** 20;

function replayIfSmall(outputs: number[][], outBytes: number): { freshMs: number; reusedMs: number } {
  if (outBytes > REPLAY_LIMIT_BYTES) return { freshMs: Number.NaN, reusedMs: Number.NaN };
  return replayOutputCopies(outputs, 5);
}

/**
 * The output copies of one generate call at each measured batch size: every step's outputs replayed as
 * fresh allocations + memcpy (what onnxruntime-node does), against the measured p50 of that call.
 */
function copiesByBatch(
  spec: ArStepGraph,
  figures: readonly OpFigure[],
): { batch: number; outBytes: number; freshMs: number; reusedMs: number; p50Ms: number }[] {
  return figures
    .filter((f) => f.op === 'generate')
    .map((f) => {
      const outputs: number[][] = [];
      let outBytes = 0;
      for (let p = 0; p < spec.shapes.tokens; p++) {
        const b = stepBytes(spec, 2 * f.batch, p);
        outputs.push(b.outputs);
        outBytes += b.out;
      }
      return { batch: f.batch, outBytes, ...replayIfSmall(outputs, outBytes), p50Ms: f.p50Ms };
    });
}

/** Where the time of one generated image (batch 1) goes, averaged over repeated images. */
async function timeSplit(
  model: LoadedModel,
  o: BackendOptions,
): Promise<{ tables: Table[]; headlines: Headline[]; data: unknown }> {
  const spec = arStepOf(model);
  const T = spec.shapes.tokens;
  const size = model.manifest.tokenizer.image_size;
  let stepMs: number[] = [];
  const sampler = stepGenerator(model, 1, ({ computeUs }) => stepMs.push(computeUs / 1000));
  const samples: {
    totalMs: number;
    arMs: number;
    runMs: number;
    firstStepMs: number;
    lastStepMs: number;
    decodeRunMs: number;
    pngMs: number;
  }[] = [];
  const started = performance.now();
  let seed = 0;
  while (performance.now() - started < o.seconds * 1000 || samples.length < Math.max(3, o.minCalls)) {
    stepMs = [];
    const t0 = performance.now();
    const [row] = await sampler.generate({
      seed: seed++,
      classIds: [seed % spec.shapes.numClasses],
      params: benchParams,
    });
    const t1 = performance.now();
    const [image] = await model.decoder.run([row!]);
    const t2 = performance.now();
    await encodeImage(toPixels(image!, 0, size), size, 'png');
    const t3 = performance.now();
    if (seed === 1) continue; // the first image warms the path
    samples.push({
      totalMs: t3 - t0,
      arMs: t1 - t0,
      runMs: sum(stepMs),
      firstStepMs: stepMs[0] ?? Number.NaN,
      lastStepMs: stepMs[stepMs.length - 1] ?? Number.NaN,
      decodeRunMs: t2 - t1,
      pngMs: t3 - t2,
    });
  }
  await sampler.close();
  // Means, so that the parts add up to the total (medians of parts need not).
  const m = (key: keyof (typeof samples)[number]) => sum(samples.map((s) => s[key])) / samples.length;
  const total = m('totalMs');
  const run = m('runMs');
  const ar = m('arMs');
  const decode = m('decodeRunMs');
  const pngMs = m('pngMs');
  const rows = 2; // one image, doubled for guidance
  let inBytes = 0;
  let outBytes = 0;
  const outputs: number[][] = [];
  for (let p = 0; p < T; p++) {
    const b = stepBytes(spec, rows, p);
    inBytes += b.in;
    outBytes += b.out;
    outputs.push(b.outputs);
  }
  const last = stepBytes(spec, rows, T - 1);
  // Not measurable inside session.run from JavaScript: replay the same allocations and copies here.
  const replay = replayIfSmall(outputs, outBytes);
  const copyMs = replay.freshMs;
  const share = (x: number) => (Number.isFinite(x) ? `${((100 * x) / total).toFixed(1)}%` : '-');
  const table: Table = {
    title: `Time split of one generated image (batch 1 = 2 rows with guidance, ${T} steps), mean of ${samples.length}`,
    columns: ['part', 'ms', 'share'],
    rows: [
      [`AR: ${T} ar_step session.run calls`, fmt(run), share(run)],
      [
        `  of which output copies to JS memory (${bytes(outBytes)}; replayed, fresh buffers, fastest of 5)`,
        fmt(copyMs),
        share(copyMs),
      ],
      ['AR: host sampling, feeds, loop (outside session.run)', fmt(ar - run), share(ar - run)],
      ['decode: decoder session.run', fmt(decode), share(decode)],
      ['decode: clamp + PNG encode (sharp)', fmt(pngMs), share(pngMs)],
      ['total', fmt(total), '100%'],
    ],
  };
  const kv: Table = {
    title: 'Bytes crossing session.run per AR step (float32; inputs are wrapped, outputs are copied)',
    columns: ['', 'first step', 'last step', 'mean per step', 'per image', 'at batch 64 (last step)'],
    rows: [
      [
        'in: past_keys + past_values',
        bytes(stepBytes(spec, rows, 0).in),
        bytes(last.in),
        bytes(inBytes / T),
        bytes(inBytes),
        bytes(stepBytes(spec, 128, T - 1).in),
      ],
      [
        'out: present_keys + present_values + logits',
        bytes(stepBytes(spec, rows, 0).out),
        bytes(last.out),
        bytes(outBytes / T),
        bytes(outBytes),
        bytes(stepBytes(spec, 128, T - 1).out),
      ],
    ],
  };
  return {
    tables: [table, kv],
    headlines: [
      {
        figure: 'one image: AR session.run share',
        value: share(run),
        detail:
          `${fmt(total)} ms per image: AR ${fmt(ar)} ms (session.run ${fmt(run)}), decode ${fmt(decode)} ms, ` +
          `PNG ${fmt(pngMs)} ms; step ${fmt(m('firstStepMs'))} -> ${fmt(m('lastStepMs'))} ms`,
      },
      {
        figure: 'one image: KV bytes copied out',
        value: bytes(outBytes),
        detail: `~${fmt(copyMs)} ms to allocate and copy them in JavaScript (replayed), ${share(copyMs)} of the image`,
      },
    ],
    data: {
      samples,
      medianMs: { total, ar, run, decode, png: pngMs },
      kvBytes: { inPerImage: inBytes, outPerImage: outBytes, lastStep: last },
      replayedCopyMs: replay,
    },
  };
}
