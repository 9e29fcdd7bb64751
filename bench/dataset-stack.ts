// Dataset tokenization through the whole stack (the Worker under wrangler dev, the real backend on CPU,
// a model directory: gigatok-nano by default), images/s with the flip augmentation, side by side in one
// run on the same files:
//   (a) one POST /v1/tokenize per view through the API, one after another, as a client looping over a
//       folder would: the image, then its mirror (made by the client), 2 requests per image;
//   (b) the datasets API: create (augmentation flip), upload one ImageFolder tar, run, wait, download
//       the GTOK codes (timed from the upload to the downloaded codes), with the time of each phase and
//       the Worker's own account of its batches (the `dataset batch` log lines of lib/datasets/run.ts);
//   (c) PyTorch eager running the same tokenizer in the official extractor's loop on the same files
//       (bench/dataset_reference.py), at one thread and at every core; the faster one is compared.
// Each API path runs under its own tenants, so (b) cannot reuse tokens (a) made. (a) changes API key
// every 250 images: the local rate limiter allows 600 requests a minute per key.
//
//   node --import tsx bench/dataset-stack.ts [--images 200] [--runs 1] [--model-dir models/gigatok-nano]
//     [--skip-per-image] [--skip-torch] [--torch-threads 1,2] [--log stack.log] [--python gpu-backend/model/.venv/bin/python]
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { GigaTokClient } from '@gigatok/client';
import { decodeTokens, writeTar } from '@gigatok/shared';
import sharp from 'sharp';
import { DEFAULT_MODEL_DIR, repoRoot, startStack } from '../scripts/local-stack.ts';
import { datasetImages } from './dataset.ts';
import { runBenchPython } from './reference.ts';

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '200' },
    runs: { type: 'string', default: '1' },
    'model-dir': { type: 'string', default: DEFAULT_MODEL_DIR },
    'skip-per-image': { type: 'boolean', default: false },
    'skip-torch': { type: 'boolean', default: false },
    'torch-threads': { type: 'string' },
    log: { type: 'string' },
    python: {
      type: 'string',
      default: path.join(repoRoot, 'gpu-backend', 'model', '.venv', 'bin', 'python'),
    },
  },
});
const count = Number(values.images);
const runs = Number(values.runs);
const modelDir = path.resolve(values['model-dir']);
if (!Number.isInteger(count) || count < 10 || count > 2000) throw new Error('--images must be 10..2000');
const manifest = JSON.parse(readFileSync(path.join(modelDir, 'manifest.json'), 'utf8')) as {
  model_id: string;
  tokenizer: { image_size: number };
};
const PER_KEY_IMAGES = 250;

interface BatchLog {
  images: number;
  sent: number;
  prepare_ms: number;
  encode_ms: number;
  store_ms: number;
}

/** The Worker's `dataset batch` log lines for `datasetId` in the stack's log file. */
function batchLogs(logFile: string, datasetId: string): BatchLog[] {
  if (!existsSync(logFile)) return [];
  const out: BatchLog[] = [];
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    const at = line.indexOf('{"message":"dataset batch"');
    if (at < 0) continue;
    try {
      const entry = JSON.parse(line.slice(at)) as BatchLog & { dataset: string };
      if (entry.dataset === datasetId) out.push(entry);
    } catch {
      // a line cut by the terminal: not ours to count
    }
  }
  return out;
}

/** The backend's encoder counters (Triton-style metrics): summed ORT compute and request time, in ms. */
async function encoderCounters(
  backendUrl: string,
): Promise<{ computeMs: number; requestMs: number; runs: number }> {
  const text = await (await fetch(`${backendUrl}/metrics`)).text();
  const read = (name: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes('graph="encoder"'));
    return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
  };
  return {
    computeMs: read('nv_inference_compute_infer_duration_us') / 1000,
    requestMs: read('nv_inference_request_duration_us') / 1000,
    runs: read('nv_inference_exec_count'),
  };
}

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

const dir = mkdtempSync(path.join(os.tmpdir(), 'gigatok-dataset-stack-'));
const logFile = values.log ? path.resolve(values.log) : path.join(dir, 'stack.log');
const stateDir = path.join(repoRoot, '.local', `bench-dataset-${process.pid}`);
const stack = await startStack({
  stateDir,
  modelDirs: [modelDir],
  logFile,
  readyTimeoutMs: 900_000,
});
try {
  const imageDir = path.join(dir, 'images');
  mkdirSync(imageDir);
  const images = await datasetImages(imageDir, count, manifest.tokenizer.image_size);
  const mirrored = await Promise.all(
    images.map(async (png) => new Uint8Array(await sharp(png).flop().png().toBuffer())),
  );
  const tar = writeTar(
    images.map((bytes, i) => ({ name: `${i % 10}/${String(i).padStart(5, '0')}.png`, bytes })),
  );
  console.log(
    `${count} images (${Math.round(manifest.tokenizer.image_size * 1.25)}x${Math.round(manifest.tokenizer.image_size * 1.5)} PNG), ` +
      `flip (2 views each), ${manifest.model_id}, whole stack on ${os.cpus().length} cores; load average ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
  );

  for (let run = 1; run <= runs; run++) {
    // (a) one request per view.
    let a: number | undefined;
    if (!values['skip-per-image']) {
      let key = '';
      const started = performance.now();
      for (let i = 0; i < count; i++) {
        if (i % PER_KEY_IMAGES === 0) key = (await stack.createKey(`bench-per-image-${run}-${i}`)).key;
        for (const bytes of [images[i]!, mirrored[i]!]) {
          const res = await fetch(`${stack.apiUrl}/v1/tokenize`, {
            method: 'POST',
            headers: { authorization: `Bearer ${key}`, 'content-type': 'image/png' },
            body: bytes.slice(),
          });
          if (res.status !== 200) throw new Error(`tokenize answered ${res.status}: ${await res.text()}`);
          await res.arrayBuffer();
        }
      }
      const perImageS = (performance.now() - started) / 1000;
      a = count / perImageS;
      console.log(
        `  (a) one POST /v1/tokenize per view: ${perImageS.toFixed(2)} s, ${a.toFixed(1)} images/s`,
      );
    }

    // (b) the datasets API, phase by phase.
    const owner = await stack.createKey(`bench-dataset-${run}`);
    const client = new GigaTokClient({ baseUrl: stack.apiUrl, apiKey: owner.key });
    const before = await encoderCounters(stack.backendUrl);
    const t0 = performance.now();
    const dataset = await client.datasets.create({ name: `bench${run}`, augmentation: 'flip' });
    const t1 = performance.now();
    await client.datasets.addImages(dataset.id, { tar });
    const t2 = performance.now();
    await client.datasets.run(dataset.id);
    const t3 = performance.now();
    // Polled at a twentieth of the time waited so far (at least 50 ms): close to the end without
    // spending the key's 600 requests a minute on a run of minutes.
    let done = await client.datasets.get(dataset.id);
    while (done.status === 'queued' || done.status === 'running') {
      await new Promise((r) => setTimeout(r, Math.max(50, (performance.now() - t3) / 20)));
      done = await client.datasets.get(dataset.id);
    }
    const t4 = performance.now();
    if (done.status !== 'completed') throw new Error(`dataset ${done.status}: ${JSON.stringify(done)}`);
    const codes = decodeTokens((await client.datasets.download(dataset.id, 'codes')).bytes);
    const t5 = performance.now();
    if (codes.count !== 2 * count) throw new Error(`codes hold ${codes.count} rows, expected ${2 * count}`);
    const datasetS = (t5 - t1) / 1000;
    const b = count / datasetS;
    const batches = batchLogs(logFile, dataset.id);
    const after = await encoderCounters(stack.backendUrl);
    console.log(
      `  (b) datasets API (upload, run, wait, download): ${datasetS.toFixed(2)} s, ${b.toFixed(1)} images/s\n` +
        `      phases: create ${s(t1 - t0)} (untimed), upload ${s(t2 - t1)}, run call ${s(t3 - t2)}, ` +
        `run to completion ${s(t4 - t3)}, download ${s(t5 - t4)}\n` +
        `      Worker batches: ${batches.length}, images sent to the backend ${sum(batches.map((x) => x.sent))}; ` +
        `summed over batches: R2/D1 reads ${s(sum(batches.map((x) => x.prepare_ms)))}, ` +
        `backend encode ${s(sum(batches.map((x) => x.encode_ms)))}, ` +
        `R2/D1 writes ${s(sum(batches.map((x) => x.store_ms)))} (two batches in flight: the sums overlap)\n` +
        `      backend: ${after.runs - before.runs} encoder runs, ORT compute ${s(after.computeMs - before.computeMs)}, ` +
        `encode requests (preprocessing, queue, compute) ${s(after.requestMs - before.requestMs)}`,
    );
    if (a !== undefined) console.log(`  (b)/(a) = ${(b / a).toFixed(2)}x`);

    // (c) PyTorch eager, the official extractor's loop, on the same files.
    if (!values['skip-torch']) {
      let best: number | undefined;
      const threadCounts = values['torch-threads']
        ? values['torch-threads'].split(',').map(Number)
        : [...new Set([1, os.cpus().length])];
      for (const threads of threadCounts) {
        const info = await runBenchPython<{ seconds: number }>(values.python, 'dataset_reference.py', [
          '--model-dir',
          modelDir,
          '--images',
          imageDir,
          '--threads',
          String(threads),
        ]);
        const c = count / info.seconds;
        best = Math.max(best ?? 0, c);
        console.log(
          `  (c) PyTorch eager, extractor loop, ${threads} thread(s): ${info.seconds.toFixed(2)} s, ${c.toFixed(1)} images/s`,
        );
      }
      if (best !== undefined) console.log(`  (b)/(c) = ${(b / best).toFixed(2)}x (against the faster (c))`);
    }
    console.log(
      `  load average after run ${run}: ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
  }
} finally {
  await stack.stop();
  rmSync(dir, { recursive: true, force: true });
  rmSync(stateDir, { recursive: true, force: true });
}
