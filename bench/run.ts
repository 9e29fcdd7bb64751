// `npm run bench`: what the stack costs and how it scales. Runs the sections one after another
// (never two loads at once), prints each figure as it is measured, then the report, and writes
// JSON + markdown to bench/results/. Options: `tsx bench/run.ts --help`.
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { setLogLevel } from '../gpu-backend/src/log.ts';
import { disposeModel, loadModel } from '../gpu-backend/src/model-dir/loader.ts';
import { readManifest } from '../gpu-backend/src/model-dir/manifest.ts';
import { type Device, parseDevice } from '../gpu-backend/src/runtime/device.ts';
import { repoRoot } from '../scripts/local-stack.ts';
import { runArrivals } from './arrivals.ts';
import { runBackend } from './backend.ts';
import { runDataset } from './dataset.ts';
import { runEdge } from './edge.ts';
import { runGraph } from './graph.ts';
import { type HttpOp, runHttp } from './http.ts';
import { runReference } from './reference.ts';
import {
  headlineTable,
  markdownTable,
  type Report,
  renderMarkdown,
  type Section,
  writeReport,
} from './report.ts';
import { machine } from './stats.ts';

const SECTIONS = ['backend', 'http', 'graph', 'arrivals', 'reference', 'edge', 'dataset'] as const;
type SectionId = (typeof SECTIONS)[number];

const HELP = `usage: tsx bench/run.ts [options]   (npm run bench -- [options])
  --model-dir DIR         model directory (default models/gigatok-nano, else the tiny-random test fixture)
  --device cpu|cuda       onnxruntime device (default cpu)
  --threads N             onnxruntime intra-op threads (default 0: onnxruntime's choice); the PyTorch
                          comparison uses N, or every logical core when 0
  --sections a,b          any of ${SECTIONS.join(',')} (default all)
  --batches 1,4,16,64     encode/decode batch sizes      --generate-batches  (default: --batches)
  --recompute-batches 1   KV cache vs recompute ('' skips)  --graph-batches 1,16  --ref-batches 1,16
  --ref-threads 1,N       thread counts of the PyTorch comparison (default 1 and --threads, or every core)
  --concurrency 1,4,16,64 HTTP concurrency               --http-ops encode,decode,generate
  --seconds 1.5           timed seconds per in-process figure
  --http-seconds 3        seconds per HTTP cell           --edge-seconds 5  seconds per edge run
  --edge-connections 16   autocannon connections at the edge
  --arrival-requests 48   one-image requests per arrivals cell   --chunk-steps 0  chunk sizes (0 = default)
  --arrival-loads 0.5,0.8 offered load as shares of generate.onnx's capacity   --arrival-batch 16
  --arrival-paths a,b,c   (a) generate.onnx, (b) per-step cohorts, (c) chunked
  --dataset-images 512    images of the dataset section   --dataset-batch 64  its GIGATOK_MAX_BATCH
  --python PATH           Python with torch (default gpu-backend/model/.venv/bin/python)
  --out DIR               results folder (default bench/results)
  --label NAME            file name stem (default <date>-<model>-<device>)
  --quick                 tiny durations and sizes (smoke run of every code path)
  --check                 only load the model on --device and report the execution provider (exit 1 if it fails)
`;

const { values } = parseArgs({
  options: {
    'model-dir': { type: 'string' },
    device: { type: 'string', default: 'cpu' },
    threads: { type: 'string', default: '0' },
    sections: { type: 'string', default: SECTIONS.join(',') },
    batches: { type: 'string' },
    'generate-batches': { type: 'string' },
    'recompute-batches': { type: 'string' },
    'graph-batches': { type: 'string' },
    'ref-batches': { type: 'string' },
    'ref-threads': { type: 'string' },
    concurrency: { type: 'string' },
    'http-ops': { type: 'string', default: 'encode,decode,generate' },
    seconds: { type: 'string' },
    'http-seconds': { type: 'string' },
    'edge-seconds': { type: 'string' },
    'edge-connections': { type: 'string', default: '16' },
    'arrival-requests': { type: 'string' },
    'chunk-steps': { type: 'string' },
    'arrival-loads': { type: 'string', default: '0.5,0.8' },
    'arrival-batch': { type: 'string', default: '16' },
    'arrival-paths': { type: 'string', default: 'a,b,c' },
    'dataset-images': { type: 'string' },
    'dataset-batch': { type: 'string', default: '64' },
    python: {
      type: 'string',
      default: path.join(repoRoot, 'gpu-backend', 'model', '.venv', 'bin', 'python'),
    },
    out: { type: 'string', default: path.join(repoRoot, 'bench', 'results') },
    label: { type: 'string' },
    quick: { type: 'boolean', default: false },
    check: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  process.stdout.write(HELP);
  process.exit(0);
}

const numbers = (text: string | undefined, fallback: string, least = 1): number[] =>
  (text ?? fallback)
    .split(',')
    .filter((x) => x.trim() !== '')
    .map((x) => {
      const n = Number(x);
      if (!Number.isInteger(n) || n < least)
        throw new Error(`expected a list of integers >= ${least}, got '${text}'`);
      return n;
    });
const number = (text: string | undefined, fallback: number, name: string): number => {
  const n = text === undefined ? fallback : Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`'--${name}' must be a positive number, got '${text}'`);
  return n;
};

const quick = values.quick;
const nano = path.join(repoRoot, 'models', 'gigatok-nano');
const fixture = path.join(repoRoot, 'gpu-backend', 'test', 'fixtures', 'tiny-random');
const notes: string[] = [];
let modelDir: string;
if (values['model-dir'] !== undefined)
  modelDir = path.resolve(process.env.INIT_CWD ?? process.cwd(), values['model-dir']);
else if (existsSync(path.join(nano, 'manifest.json'))) modelDir = nano;
else {
  modelDir = fixture;
  notes.push('models/gigatok-nano does not exist: this run used the tiny-random test fixture.');
}
const device: Device = parseDevice(values.device);
const intraOp = Number(values.threads);
if (!Number.isInteger(intraOp) || intraOp < 0) {
  throw new Error(`'--threads' must be an integer >= 0, got '${values.threads}'`);
}
const sections = values.sections.split(',').filter((s) => s !== '') as SectionId[];
for (const s of sections) {
  if (!(SECTIONS as readonly string[]).includes(s)) {
    throw new Error(`'--sections' must name some of ${SECTIONS.join(', ')}, got '${s}'`);
  }
}
const batches = numbers(values.batches, quick ? '1,4' : '1,4,16,64');
const opts = {
  batches,
  generateBatches: numbers(values['generate-batches'], batches.join(',')),
  recomputeBatches: numbers(values['recompute-batches'], '1'),
  graphBatches: numbers(values['graph-batches'], quick ? '1,4' : '1,16'),
  refBatches: numbers(values['ref-batches'], quick ? '1,4' : '1,16'),
  // One thread (like for like on a busy machine), and every core (or --threads) as served.
  refThreads: [...new Set(numbers(values['ref-threads'], `1,${intraOp === 0 ? os.cpus().length : intraOp}`))],
  concurrency: numbers(values.concurrency, quick ? '1,4' : '1,4,16,64'),
  httpOps: values['http-ops'].split(',').filter((x) => x !== '') as HttpOp[],
  seconds: number(values.seconds, quick ? 0.2 : 1.5, 'seconds'),
  httpSeconds: number(values['http-seconds'], quick ? 0.5 : 3, 'http-seconds'),
  edgeSeconds: number(values['edge-seconds'], quick ? 0.5 : 5, 'edge-seconds'),
  edgeConnections: number(values['edge-connections'], 16, 'edge-connections'),
  datasetImages: number(values['dataset-images'], quick ? 32 : 512, 'dataset-images'),
  datasetBatch: number(values['dataset-batch'], 64, 'dataset-batch'),
};

setLogLevel('warn');
if (values.check) {
  // bench/gpu.sh asks this before a GPU run: a CUDA provider that cannot load fails here, loudly.
  const model = await loadModel(modelDir, {
    device,
    cudaDeviceId: 0,
    intraOpThreads: intraOp,
    interOpThreads: 1,
    warmup: true,
    worker: false,
    logLevel: 'warn',
  });
  process.stdout.write(`${model.id}: encoder on ${model.providers}\n`);
  await disposeModel(model);
  process.exit(0);
}
const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);
const started = performance.now();
const startMachine = machine();
const manifest = await readManifest(modelDir);
const t = manifest.tokenizer;
const a = manifest.ar;
const summary =
  `${manifest.model_id}: ${t.config} tokenizer ${t.image_size}x${t.image_size}, ${t.tokens_per_image} tokens, ` +
  `codebook ${t.codebook_size}; ${a.config} AR ${a.n_layer} layers x ${a.n_head} heads x ${a.head_dim}`;
log(`model ${summary} (${path.relative(repoRoot, modelDir) || modelDir}), device ${device}`);

const done: Section[] = [];
for (const id of sections) {
  const t0 = performance.now();
  log(`--- ${id} ---`);
  try {
    const section = await runSection(id);
    if (section !== undefined) done.push(section);
  } catch (error) {
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
    log(`${id} failed: ${message}`);
    notes.push(`section ${id} failed: ${message.split('\n')[0]}`);
    process.exitCode = 1;
  }
  log(`${id} took ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

async function runSection(id: SectionId): Promise<Section | undefined> {
  switch (id) {
    case 'backend':
      return runBackend({
        modelDir,
        device,
        threads: intraOp,
        batches: opts.batches,
        generateBatches: opts.generateBatches,
        recomputeBatches: opts.recomputeBatches,
        seconds: opts.seconds,
        minCalls: quick ? 1 : 3,
        log,
      });
    case 'http':
      return runHttp({
        modelDir,
        device,
        threads: intraOp,
        ops: opts.httpOps,
        concurrency: opts.concurrency,
        seconds: opts.httpSeconds,
        log,
      });
    case 'graph':
      return runGraph({
        modelDir,
        device,
        threads: intraOp,
        batches: opts.graphBatches,
        seconds: opts.seconds,
        log,
      });
    case 'arrivals':
      return runArrivals({
        modelDir,
        device,
        threads: intraOp,
        chunkSteps: numbers(values['chunk-steps'], '0', 0),
        loads: values['arrival-loads'].split(',').map((x) => number(x, 0.5, 'arrival-loads')),
        requests: number(values['arrival-requests'], quick ? 8 : 48, 'arrival-requests'),
        maxBatch: number(values['arrival-batch'], 16, 'arrival-batch'),
        paths: values['arrival-paths'].split(','),
        log,
      });
    case 'reference':
      return runReference({
        modelDir,
        device,
        threads: opts.refThreads,
        batches: opts.refBatches,
        seconds: opts.seconds,
        python: values.python,
        log,
      });
    case 'edge':
      return runEdge({
        modelDir,
        seconds: opts.edgeSeconds,
        connections: opts.edgeConnections,
        tokenizeSamples: quick ? 4 : 20,
        log,
      });
    case 'dataset':
      return runDataset({
        modelDir,
        device,
        threads: intraOp,
        images: opts.datasetImages,
        maxBatch: opts.datasetBatch,
        python: values.python,
        log,
      });
  }
}

const date = new Date();
const command = `tsx bench/run.ts ${process.argv.slice(2).join(' ')}`.trim();
const report: Report = {
  date: date.toISOString(),
  command,
  machine: startMachine,
  model: { dir: path.relative(repoRoot, modelDir) || modelDir, id: manifest.model_id, summary },
  device,
  threads: intraOp === 0 ? "0 (onnxruntime's default: one per physical core)" : String(intraOp),
  wallSeconds: (performance.now() - started) / 1000,
  notes: [...notes, `load average at the end ${machine().loadAverage.join(' / ')}`],
  sections: done,
};
const stem =
  values.label ?? `${date.toISOString().slice(0, 16).replace(/[:T]/g, '-')}-${manifest.model_id}-${device}`;
const file = writeReport(report, path.resolve(process.env.INIT_CWD ?? process.cwd(), values.out), stem);
process.stdout.write(`${renderMarkdown(report)}\n`);
process.stdout.write(
  `${markdownTable(headlineTable(done))}\n\nwritten: ${path.relative(process.cwd(), file)} (+ .json)\n`,
);
