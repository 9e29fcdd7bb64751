// The backend through its real HTTP server (a child process, signed requests, the worker-thread
// sessions): requests/s and latency at concurrency 1..64, dynamic batching on (default
// GIGATOK_MAX_BATCH) against off (GIGATOK_MAX_BATCH=1). Every request carries one image, so any
// batching comes from the server merging concurrent requests.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { signBackendRequest } from '@gigatok/shared';
import sharp from 'sharp';
import { readManifest } from '../gpu-backend/src/model-dir/manifest.ts';
import type { Device } from '../gpu-backend/src/runtime/device.ts';
import { freePort, repoRoot } from '../scripts/local-stack.ts';
import { type LoadFigure, load } from './load.ts';
import type { Headline, Section, Table } from './report.ts';
import { fmt, ratio } from './stats.ts';

export type HttpOp = 'encode' | 'decode' | 'generate';

export interface HttpOptions {
  modelDir: string;
  device: Device;
  threads: number;
  ops: HttpOp[];
  concurrency: number[];
  seconds: number;
  log: (line: string) => void;
}

interface Server {
  url: string;
  secret: string;
  stop: () => Promise<void>;
}

/** Starts `gpu-backend/src/main.ts` with `env` and waits for /readyz. */
export async function startBackend(
  o: { modelDir: string; device: Device; threads: number },
  env: Record<string, string>,
): Promise<Server> {
  const port = await freePort();
  const secret = randomBytes(24).toString('base64url');
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'gpu-backend/src/main.ts'], {
    cwd: repoRoot,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      GIGATOK_MODEL_DIRS: o.modelDir,
      GIGATOK_DEVICE: o.device,
      GIGATOK_INTRA_OP_THREADS: String(o.threads),
      GIGATOK_BACKEND_SECRET: secret,
      GIGATOK_LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4000);
  });
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + 180_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the backend exited with ${child.exitCode}:\n${stderr}`);
    try {
      const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) });
      await res.body?.cancel();
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the backend did not become ready within 180 s:\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url, secret, stop };
}

/** One-image request bodies for each op. */
async function bodies(modelDir: string): Promise<Record<HttpOp, string>> {
  const manifest = await readManifest(modelDir);
  const { image_size: size, tokens_per_image: T, codebook_size: V } = manifest.tokenizer;
  const png = await sharp({
    create: { width: size * 2, height: size * 2, channels: 3, background: '#3a7bd5' },
  })
    .png()
    .toBuffer();
  const model = manifest.model_id;
  return {
    encode: JSON.stringify({ model, images: [png.toString('base64')] }),
    decode: JSON.stringify({
      model,
      tokens: [Array.from({ length: T }, (_, t) => (t * 7919) % V)],
      format: 'png',
    }),
    generate: JSON.stringify({
      model,
      seed: 1,
      class_ids: [Math.min(3, manifest.ar.num_classes - 1)],
      cfg_scale: 4,
      cfg_schedule: 'constant',
      temperature: 1,
      top_k: 0,
      top_p: 1,
      return_images: false,
    }),
  };
}

async function run(server: Server, op: HttpOp, body: string, connections: number, seconds: number) {
  const path = `/v1/${op}`;
  // The signature covers method, path, timestamp and body hash; one signature stays valid for the
  // 300 s replay window, longer than a run.
  const auth = await signBackendRequest({ secret: server.secret, method: 'POST', path, body });
  return load({
    url: server.url + path,
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body,
    connections,
    seconds,
  });
}

export async function runHttp(o: HttpOptions): Promise<Section> {
  const requestBodies = await bodies(o.modelDir);
  // The server's generate path (gpu-backend/README.md): generate.onnx when the model has it, unless
  // GIGATOK_GENERATE_PATH (inherited by the child) says otherwise.
  const hasGraph = (await readManifest(o.modelDir)).graphs.generate !== undefined;
  const pathSetting = process.env.GIGATOK_GENERATE_PATH ?? 'auto';
  const generatePath =
    pathSetting === 'steps' || !hasGraph
      ? 'the per-step loop (ar_step.onnx)'
      : 'generate.onnx (one run per batch)';
  const modes = [
    // The encoder too runs at GIGATOK_MAX_BATCH (its CPU default, GIGATOK_ENCODE_MAX_BATCH 2, would be batching off).
    { name: 'on', env: { GIGATOK_ENCODE_MAX_BATCH: '16' } },
    { name: 'off', env: { GIGATOK_MAX_BATCH: '1' } },
  ] as const;
  const results: { mode: 'on' | 'off'; op: HttpOp; figure: LoadFigure }[] = [];
  const maxConnections = Math.max(...o.concurrency);
  for (const mode of modes) {
    const server = await startBackend(o, mode.env);
    try {
      for (const op of o.ops) {
        // Warm the batch sizes this op will see (graph allocations per shape), untimed.
        await run(server, op, requestBodies[op], maxConnections, 1);
        for (const c of o.concurrency) {
          const figure = await run(server, op, requestBodies[op], c, o.seconds);
          results.push({ mode: mode.name, op, figure });
          o.log(
            `HTTP ${op}, batching ${mode.name}, concurrency ${c}: ${fmt(figure.requestsPerSecond)} images/s, ` +
              `p50 ${fmt(figure.p50Ms)} ms, p99 ${fmt(figure.p99Ms)} ms` +
              (figure.non2xx + figure.errors > 0
                ? `, ${figure.non2xx} non-2xx, ${figure.errors} errors`
                : ''),
          );
        }
      }
    } finally {
      await server.stop();
    }
  }
  const find = (mode: 'on' | 'off', op: HttpOp, c: number) =>
    results.find((r) => r.mode === mode && r.op === op && r.figure.connections === c)?.figure;
  const rows: string[][] = [];
  const headlines: Headline[] = [];
  for (const op of o.ops) {
    for (const c of o.concurrency) {
      const on = find('on', op, c);
      const off = find('off', op, c);
      const failed = (on?.non2xx ?? 0) + (on?.errors ?? 0) + (off?.non2xx ?? 0) + (off?.errors ?? 0);
      rows.push([
        op,
        String(c),
        fmt(on?.requestsPerSecond),
        fmt(on?.p50Ms),
        fmt(on?.p99Ms),
        fmt(off?.requestsPerSecond),
        fmt(off?.p50Ms),
        fmt(off?.p99Ms),
        on && off ? ratio(on.requestsPerSecond / off.requestsPerSecond) : '-',
        String(failed),
      ]);
    }
    const on = find('on', op, maxConnections);
    const off = find('off', op, maxConnections);
    if (on && off) {
      headlines.push({
        figure: `HTTP ${op}: dynamic batching on/off`,
        value: ratio(on.requestsPerSecond / off.requestsPerSecond),
        detail:
          `${fmt(on.requestsPerSecond)} vs ${fmt(off.requestsPerSecond)} images/s at concurrency ${maxConnections}; ` +
          `p99 ${fmt(on.p99Ms)} vs ${fmt(off.p99Ms)} ms`,
      });
    }
  }
  const table: Table = {
    title: `Real HTTP server, one image per request, ${o.seconds} s per cell (autocannon)`,
    columns: [
      'op',
      'concurrency',
      'on: images/s',
      'on: p50 ms',
      'on: p99 ms',
      'off: images/s',
      'off: p50 ms',
      'off: p99 ms',
      'on/off',
      'failed',
    ],
    rows,
  };
  return {
    id: 'http',
    title:
      'Backend over HTTP: dynamic batching on (GIGATOK_MAX_BATCH default 16) vs off (GIGATOK_MAX_BATCH=1)',
    tables: [table],
    notes: [
      'The backend runs as its own process (as `npm start -w gpu-backend`: sessions in a worker thread, ' +
        'HMAC-signed requests, JSON bodies); autocannon runs in the benchmark process on the same machine.',
      'Latency is per request as autocannon sees it; requests still in flight when a run ends are not counted.',
      '"failed": non-2xx responses plus connection errors over both runs of the row.',
      `generate is served through ${generatePath} (GIGATOK_GENERATE_PATH=${pathSetting}); with batching off ` +
        'every run carries one image.',
    ],
    headlines,
    data: results,
  };
}
