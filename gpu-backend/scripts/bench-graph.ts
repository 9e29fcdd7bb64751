// Single-graph sampling (generate.onnx) against the per-step KV-cached loop (ar_step.onnx, step-runner.ts):
// images/s per batch size, process CPU time per image (steadier than wall time on a shared machine), and
// how long an image spends outside Graph.run (runtime/graph.ts's wrapper of session.run).
// Usage: npx tsx scripts/bench-graph.ts [--model-dir DIR]... [--batches 1,8,32] [--threads 1] [--seconds 3]
//        [--generate-file FILE]   (another build of generate.onnx for the first model, e.g. --kv scatter)
// Defaults: the tiny-random fixture, plus models/gigatok-nano when it exists.
// `compareGraph` is exported for bench/ (`npm run bench`); the CLI runs only when this file is the entry point.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { defaultModelDir } from '../src/config.ts';
import { type GenerationRow, rowsOf, type SamplingParams } from '../src/generation/request.ts';
import { stepRunner } from '../src/generation/step-runner.ts';
import { GenerateGraph } from '../src/graphs/generate.ts';
import { setLogLevel } from '../src/log.ts';
import { disposeModel, type LoadedModel, loadModel } from '../src/model-dir/loader.ts';
import { readManifest } from '../src/model-dir/manifest.ts';
import type { SessionConfig } from '../src/runtime/device.ts';
import { Graph } from '../src/runtime/graph.ts';
import { Engine } from '../src/scheduling/engine.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixture = path.join(here, '..', 'test', 'fixtures', 'tiny-random');
const params: SamplingParams = { cfgScale: 4, cfgSchedule: 'constant', temperature: 1, topK: 0, topP: 1 };

export interface Figure {
  imagesPerSecond: number;
  /** Process CPU time (all threads, user + system) per image, in ms. */
  cpuMsPerImage: number;
  /** Wall time minus time inside Graph.run, per image, in ms. */
  outsideMsPerImage: number;
  /** Graph.run calls per image. */
  runsPerImage: number;
}

/** Repeats `work` (one batch of `batch` images; returns ms spent inside Graph.run) for about `seconds`. */
async function measure(
  batch: number,
  seconds: number,
  work: () => Promise<{ runMs: number; runs: number }>,
): Promise<Figure> {
  await work(); // warm-up: allocation and kernel choice for this batch size
  let images = 0;
  let runMs = 0;
  let runs = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  do {
    const r = await work();
    runMs += r.runMs;
    runs += r.runs;
    images += batch;
  } while (performance.now() - started < seconds * 1000 || images < 2 * batch);
  const wall = performance.now() - started;
  const used = process.cpuUsage(cpu);
  return {
    imagesPerSecond: images / (wall / 1000),
    cpuMsPerImage: (used.user + used.system) / 1000 / images,
    outsideMsPerImage: (wall - runMs) / images,
    runsPerImage: runs / images,
  };
}

function perStep(model: LoadedModel, batch: number): () => Promise<{ runMs: number; runs: number }> {
  let runMs = 0;
  let runs = 0;
  const engine = new Engine(stepRunner(model.arStep!, 'kv'), {
    label: `${model.id}/ar_step`,
    maxBatch: batch,
    maxQueue: 1 << 20,
    onRun: ({ computeUs }) => {
      runMs += computeUs / 1000;
      runs += 1;
    },
  });
  const classIds = Array.from({ length: batch }, (_, i) => i % model.manifest.ar.num_classes);
  let seed = 0;
  return async () => {
    runMs = 0;
    runs = 0;
    await engine.submit(rowsOf({ seed: seed++, classIds, params }));
    return { runMs, runs };
  };
}

function singleGraph(generate: GenerateGraph, batch: number): () => Promise<{ runMs: number; runs: number }> {
  let runMs = 0;
  // Time Graph.run itself, so feeds (uniforms) and output conversion count as outside.
  const graph = generate.graph;
  const run = graph.run.bind(graph);
  graph.run = async (feeds) => {
    const t0 = performance.now();
    try {
      return await run(feeds);
    } finally {
      runMs += performance.now() - t0;
    }
  };
  let seed = 0;
  return async () => {
    runMs = 0;
    const s = seed++;
    const rows: GenerationRow[] = Array.from({ length: batch }, (_, i) => ({
      seed: s,
      imageIndex: i,
      classId: i % generate.shapes.numClasses,
      params,
    }));
    await generate.run(rows);
    return { runMs, runs: 1 };
  };
}

export interface GraphComparison {
  modelId: string;
  /** The generate graph's file name. */
  file: string;
  rows: { batch: number; perStep: Figure; graph: Figure }[];
}

/** generate.onnx (or `generateFile`) against the per-step loop on one model directory; undefined when it has no generate graph. */
export async function compareGraph(
  dir: string,
  options: { batches: readonly number[]; seconds: number; session: SessionConfig; generateFile?: string },
): Promise<GraphComparison | undefined> {
  const { session, seconds } = options;
  // The per-step path only: generate.onnx (or `generateFile`) is opened below.
  const model = await loadModel(dir, { ...session, warmup: true, generatePath: 'steps' });
  const file = options.generateFile ?? model.manifest.graphs.generate?.file;
  try {
    if (file === undefined || model.arStep === undefined) return undefined;
    const graph = await Graph.load(path.resolve(dir, file), `${model.id}/generate`, session);
    const generate = new GenerateGraph(graph, model.arStep.shapes);
    const rows: GraphComparison['rows'] = [];
    try {
      for (const b of options.batches) {
        const perStepFigure = await measure(b, seconds, perStep(model, b));
        const graphFigure = await measure(b, seconds, singleGraph(generate, b));
        rows.push({ batch: b, perStep: perStepFigure, graph: graphFigure });
      }
    } finally {
      await graph.dispose();
    }
    return { modelId: model.id, file: path.basename(file), rows };
  } finally {
    await disposeModel(model);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'model-dir': { type: 'string', multiple: true },
      batches: { type: 'string', default: '1,8,32' },
      threads: { type: 'string', default: '1' },
      seconds: { type: 'string', default: '3' },
      'generate-file': { type: 'string' },
    },
  });
  setLogLevel('warn');
  const dirs = values['model-dir'] ?? [fixture, ...(existsSync(defaultModelDir) ? [defaultModelDir] : [])];
  const batches = values.batches.split(',').map(Number);
  const seconds = Number(values.seconds);
  const session: SessionConfig = {
    device: 'cpu',
    cudaDeviceId: 0,
    intraOpThreads: Number(values.threads),
    interOpThreads: 1,
  };
  const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toPrecision(2));
  const lines: string[] = [];
  for (const [n, dir] of dirs.entries()) {
    const generateFile = n === 0 ? values['generate-file'] : undefined;
    const result = await compareGraph(dir, {
      batches,
      seconds,
      session,
      ...(generateFile === undefined ? {} : { generateFile }),
    });
    if (result === undefined) {
      console.error(`${dir}: no generate or ar_step graph, skipped`);
      continue;
    }
    const { tokenizer, ar } = await readManifest(dir);
    lines.push(
      '',
      `${result.modelId}: ${tokenizer.tokens_per_image} tokens, vocabulary ${tokenizer.codebook_size}, ` +
        `${ar.n_layer} layers x ${ar.n_head} heads x ${ar.head_dim}; ${result.file}`,
      '| batch | images/s per-step | images/s graph | speed-up | CPU ms/image per-step | CPU ms/image graph | ' +
        'ms/image outside run, per-step | ms/image outside run, graph | runs/image per-step |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    );
    for (const { batch: b, perStep: step, graph: whole } of result.rows) {
      const row =
        `| ${b} | ${fmt(step.imagesPerSecond)} | ${fmt(whole.imagesPerSecond)} | ` +
        `${(whole.imagesPerSecond / step.imagesPerSecond).toFixed(2)}x | ${fmt(step.cpuMsPerImage)} | ` +
        `${fmt(whole.cpuMsPerImage)} | ${step.outsideMsPerImage.toFixed(3)} | ` +
        `${whole.outsideMsPerImage.toFixed(3)} | ${fmt(step.runsPerImage)} |`;
      console.error(`${result.modelId} ${row}`);
      lines.push(row);
    }
  }
  console.log(`CPU, intra-op threads ${session.intraOpThreads}, node ${process.version}`);
  console.log(lines.join('\n'));
}

const entry = process.argv[1];
if (entry !== undefined && path.resolve(entry) === fileURLToPath(import.meta.url)) await main();
