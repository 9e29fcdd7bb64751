// The nano models through onnxruntime-node against the same models in PyTorch eager (bench/reference.py),
// same device and thread count: encode, decode and generation, as a ratio of per-call times. The same
// input images go to both sides; when the PyTorch side has the trained weights, the tokens must agree.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { benchParams } from '../gpu-backend/scripts/quick-bench.ts';
import { disposeModel, type LoadedModel, loadModel } from '../gpu-backend/src/model-dir/loader.ts';
import { readManifest } from '../gpu-backend/src/model-dir/manifest.ts';
import type { Device } from '../gpu-backend/src/runtime/device.ts';
import { repoRoot } from '../scripts/local-stack.ts';
import { stepGenerator } from './backend.ts';
import type { Headline, Section, Table } from './report.ts';
import { fmt, median, ratio } from './stats.ts';

export interface ReferenceOptions {
  modelDir: string;
  device: Device;
  /** Thread counts, each used on both sides (onnxruntime intra-op, torch.set_num_threads). */
  threads: number[];
  batches: number[];
  seconds: number;
  python: string;
  log: (line: string) => void;
}

type Op = 'encode' | 'decode' | 'generate';

interface PythonResult {
  torch: string;
  device: string;
  threads: number;
  weights: string;
  figures: Record<Op, Record<string, { median_ms: number; cpu_ms: number; calls: number }>>;
  encode_tokens: number[];
  generated_tokens: number[];
}

/** Deterministic images in [-1, 1] (a 32-bit LCG), so both sides see the same pixels. */
function images(count: number, size: number): Float32Array {
  const out = new Float32Array(count * 3 * size * size);
  let state = 12345;
  for (let i = 0; i < out.length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = (state / 2 ** 32) * 2 - 1;
  }
  return out;
}

/**
 * Runs a Python script of bench/ with the model tooling on its path and reads the JSON object it prints
 * last on stdout.
 */
export function runBenchPython<T>(python: string, script: string, args: string[]): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, [path.join(repoRoot, 'bench', script), ...args], {
      cwd: repoRoot,
      env: { ...process.env, PYTHONPATH: path.join(repoRoot, 'gpu-backend', 'model') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString('utf8');
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr = (stderr + c.toString('utf8')).slice(-4000);
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`bench/${script} exited ${code}:\n${stderr}`));
      try {
        resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '') as T);
      } catch (error) {
        reject(new Error(`bench/${script} printed no JSON: ${String(error)}\n${stdout}\n${stderr}`));
      }
    });
  });
}

async function hasTorch(python: string, device: Device): Promise<boolean> {
  if (!existsSync(python)) return false;
  const probe = device === 'cpu' ? 'import torch' : 'import torch; assert torch.cuda.is_available()';
  return new Promise((resolve) => {
    const child = spawn(python, ['-c', probe], { stdio: 'ignore' });
    child.on('error', () => resolve(false));
    child.on('exit', (code) => resolve(code === 0));
  });
}

type OrtResult = Awaited<ReturnType<typeof ortFigures>>;

interface Timing {
  medianMs: number;
  /** Process CPU time (user + system, all threads) per call. */
  cpuMs: number;
  calls: number;
}

/** Median wall time and mean process CPU time per call of `work`, after one untimed warm-up call. */
async function timed(work: () => Promise<unknown>, seconds: number, minCalls: number): Promise<Timing> {
  await work();
  const ms: number[] = [];
  const cpu = process.cpuUsage();
  const started = performance.now();
  while (performance.now() - started < seconds * 1000 || ms.length < minCalls) {
    const t0 = performance.now();
    await work();
    ms.push(performance.now() - t0);
  }
  const used = process.cpuUsage(cpu);
  return { medianMs: median(ms), cpuMs: (used.user + used.system) / 1000 / ms.length, calls: ms.length };
}

/** onnxruntime-node side: median ms per call of each op and batch, plus the tokens to compare. */
async function ortFigures(model: LoadedModel, input: Float32Array, o: ReferenceOptions, threads: number) {
  const size = model.manifest.tokenizer.image_size;
  const plane = 3 * size * size;
  const maxBatch = Math.max(...o.batches);
  const images = Array.from({ length: maxBatch }, (_, i) => input.subarray(i * plane, (i + 1) * plane));
  const encoded = await model.encoder.run(images);
  const figures: Record<Op, Record<number, Timing>> = { encode: {}, decode: {}, generate: {} };
  const timing = (work: () => Promise<unknown>) => timed(work, o.seconds, 3);
  const classes = model.manifest.ar.num_classes;
  let generated: number[] = [];
  for (const b of o.batches) {
    figures.encode[b] = await timing(() => model.encoder.run(images.slice(0, b)));
    figures.decode[b] = await timing(() => model.decoder.run(encoded.slice(0, b)));
    const sampler = stepGenerator(model, b);
    const classIds = Array.from({ length: b }, (_, i) => i % classes);
    figures.generate[b] = await timing(() => sampler.generate({ seed: 1, classIds, params: benchParams }));
    if (b === o.batches[0]) {
      const [row] = await sampler.generate({ seed: 1, classIds: [0], params: benchParams });
      generated = Array.from(row!);
    }
    await sampler.close();
    o.log(
      `onnxruntime batch ${b}, ${threads} threads: encode ${fmt(figures.encode[b].medianMs)} ms, ` +
        `decode ${fmt(figures.decode[b].medianMs)} ms, generate ${fmt(figures.generate[b].medianMs)} ms`,
    );
  }
  return { figures, encodeTokens: Array.from(encoded[0]!), generated };
}

export async function runReference(o: ReferenceOptions): Promise<Section> {
  const title = 'Reference: onnxruntime-node vs PyTorch eager, same models';
  if (!(await hasTorch(o.python, o.device))) {
    const note =
      o.device === 'cpu'
        ? `skipped: no Python with torch at ${path.relative(repoRoot, o.python)}; ` +
          'run `bash gpu-backend/model/scripts/setup-python.sh` (about 3.5 minutes) and run again.'
        : `skipped: the torch at ${path.relative(repoRoot, o.python)} cannot use CUDA (torch.cuda.is_available() ` +
          'is false); install a CUDA build of torch there, or pass --python.';
    o.log(note);
    return { id: 'reference', title, tables: [], notes: [note], headlines: [], data: { skipped: note } };
  }
  const manifest = await readManifest(o.modelDir);
  const input = images(Math.max(...o.batches), manifest.tokenizer.image_size);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'gigatok-bench-'));
  const file = path.join(tmp, 'images.f32');
  writeFileSync(file, new Uint8Array(input.buffer, input.byteOffset, input.byteLength));
  const runs: { threads: number; ort: OrtResult; py: PythonResult }[] = [];
  try {
    for (const threads of o.threads) {
      const model = await loadModel(o.modelDir, {
        device: o.device,
        cudaDeviceId: 0,
        intraOpThreads: threads,
        interOpThreads: 1,
        warmup: true,
        worker: false,
        logLevel: 'warn',
      });
      let ort: OrtResult;
      try {
        ort = await ortFigures(model, input, o, threads);
      } finally {
        await disposeModel(model);
      }
      const py = await runBenchPython<PythonResult>(o.python, 'reference.py', [
        '--model-dir',
        o.modelDir,
        '--input',
        file,
        '--batches',
        o.batches.join(','),
        '--threads',
        String(threads),
        '--seconds',
        String(o.seconds),
        '--device',
        o.device === 'cuda' ? 'cuda' : 'cpu',
      ]);
      runs.push({ threads, ort, py });
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const ops = ['encode', 'decode', 'generate'] as const;
  const rows: string[][] = [];
  const torchOf = (run: (typeof runs)[number], op: Op, b: number) => run.py.figures[op][String(b)];
  const wallRatio = (run: (typeof runs)[number], op: Op, b: number) =>
    (torchOf(run, op, b)?.median_ms ?? Number.NaN) / run.ort.figures[op][b]!.medianMs;
  const cpuRatio = (run: (typeof runs)[number], op: Op, b: number) =>
    (torchOf(run, op, b)?.cpu_ms ?? Number.NaN) / run.ort.figures[op][b]!.cpuMs;
  for (const run of runs) {
    for (const op of ops) {
      for (const b of o.batches) {
        const ort = run.ort.figures[op][b]!;
        const torch = torchOf(run, op, b);
        o.log(
          `PyTorch ${op} batch ${b}, ${run.threads} threads: ${fmt(torch?.median_ms)} ms ` +
            `(onnxruntime ${fmt(ort.medianMs)} ms)`,
        );
        rows.push([
          op,
          String(b),
          String(run.threads),
          fmt(ort.medianMs),
          fmt(torch?.median_ms),
          ratio(wallRatio(run, op, b)),
          fmt(ort.cpuMs),
          fmt(torch?.cpu_ms),
          ratio(cpuRatio(run, op, b)),
        ]);
      }
    }
  }
  const first = runs[0]!;
  const trained = first.py.weights.startsWith('checkpoints');
  const same = (a: number[], b: number[]) => a.filter((x, i) => x === b[i]).length;
  const encodeAgree = same(first.ort.encodeTokens, first.py.encode_tokens);
  const genAgree = same(first.ort.generated, first.py.generated_tokens);
  const T = first.ort.encodeTokens.length;
  const table: Table = {
    title:
      `Per call on ${o.device}, the same thread count on both sides (generate: whole guided images): ` +
      'median wall ms, and mean process CPU ms (all threads)',
    columns: [
      'op',
      'batch',
      'threads',
      'ORT wall ms',
      'PyTorch wall ms',
      'PyTorch / ORT (wall)',
      'ORT CPU ms',
      'PyTorch CPU ms',
      'PyTorch / ORT (CPU)',
    ],
    rows,
  };
  const b1 = o.batches[0]!;
  // The headline is the 1-thread (first) run: its CPU time is the work done, whatever else the machine runs.
  const headlines: Headline[] = ops.map((op) => ({
    figure: `PyTorch eager / onnxruntime-node, ${op}`,
    value: ratio(cpuRatio(first, op, b1)),
    detail:
      `CPU time, ${first.threads} thread(s), batch ${b1} (${fmt(torchOf(first, op, b1)?.cpu_ms)} vs ` +
      `${fmt(first.ort.figures[op][b1]!.cpuMs)} ms); wall: ` +
      runs
        .flatMap((run) => o.batches.map((b) => `${run.threads} thr b${b} ${ratio(wallRatio(run, op, b))}`))
        .join(', '),
  }));
  return {
    id: 'reference',
    title,
    tables: [table],
    notes: [
      `PyTorch ${first.py.torch} on ${first.py.device}; weights: ${first.py.weights}.`,
      trained
        ? `Same model check: encoder tokens of image 0 agree ${encodeAgree}/${T}; generated tokens (seed 1, class 0) ` +
          `agree ${genAgree}/${T} (a near-tie flipped by float rounding changes the rest of a sequence).`
        : "Token agreement not checked: the PyTorch side has random weights, not the ONNX model's.",
      'onnxruntime side: encoder/decoder session.run on the same float32 images and tokens (no PNG, no ' +
        "preprocessing), generation through the server's per-step loop (host KV cache, JavaScript sampling); " +
        'PyTorch side: GigaTok.encode/decode and a KV-cached GPT.step loop with the same sampling, under ' +
        'torch.inference_mode.',
      ...(o.device === 'cpu' && o.threads.some((t) => t > 1)
        ? [
            'With more than one thread, both runtimes wait for every worker thread at each operator; on a machine ' +
              "whose cores are busy with other work (see the load average) that wait dominates, PyTorch's " +
              'OpenMP pool worst. The 1-thread rows are the like-for-like comparison here.',
          ]
        : []),
    ],
    headlines,
    data: { runs, encodeAgree, genAgree },
  };
}
