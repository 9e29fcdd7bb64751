// Quick CPU/GPU throughput figures (images/s) for encode, decode and generate at several batch sizes,
// through the same ModelService the server uses (no HTTP). The full benchmark suite is separate.
// Usage: npm run bench:quick -w gpu-backend [-- --model-dir DIR] [--device cpu|cuda] [--threads N] [--seconds S]
//        [--batches 1,2,4] [--ops encode,decode,generate] [--recompute] [--skip-warm] [--worker]
// Each figure is printed as soon as it is measured, then the table. The helpers are exported for bench/
// (the full suite, `npm run bench`); the CLI runs only when this file is the entry point.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { defaultModelDir } from '../src/config.ts';
import type { SamplingParams } from '../src/generation/request.ts';
import type { StepMode } from '../src/generation/step-runner.ts';
import { setLogLevel } from '../src/log.ts';
import { disposeModel, type LoadedModel, loadModel } from '../src/model-dir/loader.ts';
import { parseDevice } from '../src/runtime/device.ts';
import { ModelService } from '../src/service/model-service.ts';

/**
 * A ModelService over a loaded model with one active cohort, batches up to `maxBatch`. Generation goes
 * step by step unless `graph` is asked for (bench/ takes the per-step loop apart).
 */
export function benchService(
  model: LoadedModel,
  maxBatch: number,
  mode: StepMode = 'kv',
  generatePath: 'graph' | 'steps' = 'steps',
): ModelService {
  return new ModelService(model, {
    batching: { maxBatch, maxQueueDelayMs: 0, maxQueue: 1 << 20, maxActiveBatches: 1 },
    limits: { maxImageBytes: 1 << 26, maxImagePixels: 1 << 26 },
    generatePath,
    stepMode: mode,
  });
}

export interface RateFigure {
  imagesPerSecond: number;
  /** Wall time of each timed call (one batch), in ms. */
  callMs: number[];
}

/**
 * Images per second of `work(batch)` (which processes `batch` images), timed for about `seconds` and
 * at least `minCalls` calls; unless `skipWarm`, one untimed call first warms this batch size.
 */
export async function measureRate(
  batch: number,
  work: (b: number) => Promise<unknown>,
  options: { seconds: number; skipWarm?: boolean; minCalls?: number },
): Promise<RateFigure> {
  if (!options.skipWarm) await work(batch);
  const callMs: number[] = [];
  const started = performance.now();
  while (performance.now() - started < options.seconds * 1000 || callMs.length < (options.minCalls ?? 1)) {
    const t0 = performance.now();
    await work(batch);
    callMs.push(performance.now() - t0);
  }
  return { imagesPerSecond: (callMs.length * batch) / ((performance.now() - started) / 1000), callMs };
}

/** Inputs for the benchmarks: a flat-colour PNG twice the model's size, and one row of tokens. */
export async function benchInputs(model: LoadedModel): Promise<{ png: Uint8Array; tokens: number[] }> {
  const { image_size: size, tokens_per_image: T, codebook_size: V } = model.manifest.tokenizer;
  const png = new Uint8Array(
    await sharp({ create: { width: size * 2, height: size * 2, channels: 3, background: '#3a7bd5' } })
      .png()
      .toBuffer(),
  );
  return { png, tokens: Array.from({ length: T }, (_, t) => (t * 7919) % V) };
}

/** The sampling settings every generate benchmark uses (the visual-demo setting, GIGATOK.md). */
export const benchParams: SamplingParams = {
  cfgScale: 4,
  cfgSchedule: 'constant',
  temperature: 1,
  topK: 0,
  topP: 1,
};

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'model-dir': { type: 'string', default: defaultModelDir },
      device: { type: 'string', default: 'cpu' },
      threads: { type: 'string', default: '0' },
      seconds: { type: 'string', default: '2' },
      batches: { type: 'string', default: '1,2,4,8,16,32' },
      recompute: { type: 'boolean', default: false },
      /** Sessions in a worker thread, as the server runs them (default: in this thread). */
      worker: { type: 'boolean', default: false },
      ops: { type: 'string', default: 'encode,decode,generate' },
      /** Skip the untimed first call per batch size (for models where one call takes minutes). */
      'skip-warm': { type: 'boolean', default: false },
    },
  });
  setLogLevel('warn');
  const seconds = Number(values.seconds);
  const batches = values.batches.split(',').map(Number);
  const model = await loadModel(values['model-dir'], {
    device: parseDevice(values.device),
    cudaDeviceId: 0,
    intraOpThreads: Number(values.threads),
    interOpThreads: 1,
    warmup: true,
    worker: values.worker,
    logLevel: 'warn',
  });
  const { image_size: size, tokens_per_image: T, codebook_size: V } = model.manifest.tokenizer;
  const service = (maxBatch: number, mode: StepMode = 'kv') => benchService(model, maxBatch, mode);
  const rate = async (batch: number, work: (b: number) => Promise<unknown>) =>
    (await measureRate(batch, work, { seconds, skipWarm: values['skip-warm'] })).imagesPerSecond;
  const { png, tokens } = await benchInputs(model);

  const ops = new Set(values.ops.split(','));
  const results: Record<string, Record<number, number>> = {};
  const record = (op: string, batch: number, value: number) => {
    results[op] ??= {};
    results[op][batch] = value;
    console.error(
      `${op} batch ${batch}: ${value.toPrecision(3)} images/s (${(1 / value).toPrecision(3)} s/image)`,
    );
  };
  const params = benchParams;
  for (const b of batches) {
    const s = service(b);
    if (ops.has('encode'))
      record('encode', b, await rate(b, (n) => s.encode(Array.from({ length: n }, () => png))));
    if (ops.has('decode')) {
      const rows = s.checkTokens(
        Array.from({ length: b }, () => tokens),
        'tokens',
      );
      record('decode', b, await rate(b, (n) => s.decode(rows.slice(0, n), 'png')));
    }
    if (ops.has('generate') && s.generatePath !== undefined) {
      const classes = model.manifest.ar.num_classes;
      record(
        'generate',
        b,
        await rate(b, (n) =>
          s.generate({ seed: 1, classIds: Array.from({ length: n }, (_, i) => i % classes), params }),
        ),
      );
    }
    if (ops.has('generate') && model.generate !== undefined) {
      const g = benchService(model, b, 'kv', 'graph');
      const classes = model.manifest.ar.num_classes;
      record(
        'generate, generate.onnx',
        b,
        await rate(b, (n) =>
          g.generate({ seed: 1, classIds: Array.from({ length: n }, (_, i) => i % classes), params }),
        ),
      );
    }
  }
  if (values.recompute && model.arStep !== undefined) {
    const s = service(1, 'recompute');
    record(
      'generate (no KV cache)',
      1,
      await rate(1, (n) => s.generate({ seed: 1, classIds: Array.from({ length: n }, () => 0), params })),
    );
  }

  const fmt = (x: number | undefined) =>
    x === undefined ? '-' : x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(1) : x.toPrecision(2);
  console.log(
    `model ${model.id} (${size}x${size}, ${T} tokens, codebook ${V}), device ${model.providers}, ` +
      `intra-op threads ${values.threads === '0' ? 'default' : values.threads}, node ${process.version}`,
  );
  console.log(`| images/s | ${batches.map((b) => `batch ${b}`).join(' | ')} | best |`);
  console.log(`| --- | ${batches.map(() => '---').join(' | ')} | --- |`);
  for (const [name, byBatch] of Object.entries(results)) {
    const entries = Object.entries(byBatch);
    if (entries.length === 0) continue;
    const best = entries.reduce((a, b) => (b[1] > a[1] ? b : a));
    console.log(
      `| ${name} | ${batches.map((b) => fmt(byBatch[b])).join(' | ')} | ${fmt(best[1])} (batch ${best[0]}) |`,
    );
  }
  await disposeModel(model);
}

const entry = process.argv[1];
if (entry !== undefined && path.resolve(entry) === fileURLToPath(import.meta.url)) await main();
