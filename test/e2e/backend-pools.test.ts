// Two GPU backends behind one Worker (BACKEND_POOLS), on a stack of its own: backend 0 serves
// gigatok-nano behind a loopback proxy that can answer 429 for it; backend 1 serves gigatok-nano and a
// second model, gigatok-nano-b (the same graphs under another id). Under concurrent load both receive
// work; a 429 from one sends the calls to the other; the second model goes only to backend 1; and a
// backend SIGKILLed while it runs a generation leaves the job to complete once on the other.
// Counts come from each backend's own Prometheus counters. Figures go to test-output/reliability.json.
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Generation, GenerationSchema, QUEUE_DEPTH_HEADER } from '@gigatok/shared';
import { encodePng } from '@gigatok/shared/testing/png';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MODEL_DIR, freePort, repoRoot, type Stack, startStack } from '../../scripts/local-stack.ts';
import { type Receiver, startReceiver } from '../lib/receiver.ts';
import { recordSection } from '../lib/report.ts';

const SECOND_MODEL = 'gigatok-nano-b';
const COUNT = 16;

let stack: Stack;
let stateDir: string;
let secondDir: string;
let key: string;
let receiver: Receiver;
let proxy: { server: Server; mode: 'pass' | '429'; refused: number };
const figures: Record<string, unknown> = {};

/** gigatok-nano's graphs under another model id: a model only backend 1 serves. */
function secondModelDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'gigatok-second-'));
  for (const name of readdirSync(DEFAULT_MODEL_DIR)) {
    if (name !== 'manifest.json') symlinkSync(path.join(DEFAULT_MODEL_DIR, name), path.join(dir, name));
  }
  const manifest = JSON.parse(readFileSync(path.join(DEFAULT_MODEL_DIR, 'manifest.json'), 'utf8'));
  writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ ...manifest, model_id: SECOND_MODEL }));
  return dir;
}

/** A loopback proxy in front of backend 0: passes everything through, or answers 429 like a full queue. */
async function startProxy(port: number, upstreamPort: number) {
  const state = { server: undefined as unknown as Server, mode: 'pass' as 'pass' | '429', refused: 0 };
  state.server = createServer((req, res) => {
    if (state.mode === '429') {
      state.refused++;
      req.resume();
      res.writeHead(429, { 'content-type': 'application/problem+json', 'retry-after': '1' });
      res.end(
        JSON.stringify({ type: 'about:blank', title: 'Too Many Requests', status: 429, code: 'queue_full' }),
      );
      return;
    }
    const upstream = httpRequest(
      { host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    // A dead backend looks dead through the proxy too: the connection drops, no 502 is made up.
    upstream.on('error', () => req.socket.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => state.server.listen(port, '127.0.0.1', resolve));
  return state;
}

beforeAll(async () => {
  stateDir = path.join(repoRoot, '.local', `e2e-pools-${process.pid}`);
  const logFile = path.join(repoRoot, 'test-output', 'e2e-backend-pools-stack.log');
  mkdirSync(path.dirname(logFile), { recursive: true });
  rmSync(logFile, { force: true });
  secondDir = secondModelDir();
  const [backend0, proxyPort] = [await freePort(), await freePort()];
  proxy = await startProxy(proxyPort, backend0);
  stack = await startStack({
    stateDir,
    logFile,
    backends: [
      { port: backend0, workerUrl: `http://127.0.0.1:${proxyPort}` },
      { modelDirs: [DEFAULT_MODEL_DIR, secondDir] },
    ],
    // A count-16 job is one backend call, so it runs on one host from start to end.
    workerVars: { GENERATION_CHUNK_IMAGES: String(COUNT), GENERATION_MAX_CHUNK_IMAGES: String(COUNT) },
  });
  key = (await stack.createKey('e2e-backend-pools')).key;
  receiver = await startReceiver();
  receiver.secrets = [((await (await api('/v1/webhooks/secret')).json()) as { secret: string }).secret];
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  await receiver?.close();
  await new Promise((resolve) => proxy?.server.close(resolve));
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  if (secondDir) rmSync(secondDir, { recursive: true, force: true });
  recordSection('backend_pools', figures);
});

const api = (pathname: string, init: RequestInit = {}) => {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${key}`);
  return fetch(`${stack.apiUrl}${pathname}`, { ...init, headers, signal: AbortSignal.timeout(60_000) });
};

let pngSeed = 0;
/** A PNG no earlier request sent (tokenize answers repeats from R2 without the backend). */
function freshPng(): Blob {
  const seed = ++pngSeed;
  const png = encodePng(32, 32, (x, y) => [
    (x * 7 + seed * 31) & 0xff,
    (y * 5 + seed) & 0xff,
    (seed * 13) & 0xff,
  ]);
  return new Blob([new Uint8Array(png)], { type: 'image/png' });
}

async function tokenize(model?: string): Promise<Response> {
  const query = model ? `?model=${model}` : '';
  return api(`/v1/tokenize${query}`, {
    method: 'POST',
    headers: { 'content-type': 'image/png', accept: 'application/json' },
    body: freshPng(),
  });
}

/** 200 answers backend `index` gave on `route` so far (its gigatok_http_requests_total). */
async function served(index: number, route: string): Promise<number> {
  const text = await (await fetch(`${stack.backendUrls[index]}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^gigatok_http_requests_total\{([^}]*)\}\s+(\S+)/.exec(line);
    if (m && m[1]!.includes(`route="${route}"`) && m[1]!.includes('status="200"')) sum += Number(m[2]);
  }
  return sum;
}

const both = (route: string) => Promise.all([served(0, route), served(1, route)]);

async function submit(body: Record<string, unknown>): Promise<Generation> {
  const res = await api('/v1/generations', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status, await res.clone().text()).toBe(202);
  return GenerationSchema.parse(await res.json());
}

async function finished(id: string, timeoutMs = 90_000): Promise<Generation> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = GenerationSchema.parse(await (await api(`/v1/generations/${id}`)).json());
    if (job.status !== 'queued' && job.status !== 'running') return job;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${job.status}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('two GPU backends behind one Worker', () => {
  it('lists the models of both backends', async () => {
    const res = await api('/v1/models');
    expect(res.status).toBe(200);
    const ids = ((await res.json()) as { data: { id: string }[] }).data.map((m) => m.id).sort();
    expect(ids).toEqual(['gigatok-nano', SECOND_MODEL]);
  });

  it('spreads concurrent tokenize calls over both backends', async () => {
    const before = await both('/v1/encode');
    const answers = await Promise.all(Array.from({ length: 24 }, () => tokenize()));
    for (const res of answers) expect(res.status, await res.clone().text()).toBe(200);
    const after = await both('/v1/encode');
    const delta = [after[0] - before[0], after[1] - before[1]] as const;
    figures.encode_calls_by_backend = delta;
    expect(delta[0] + delta[1]).toBe(24);
    expect(delta[0]).toBeGreaterThan(0);
    expect(delta[1]).toBeGreaterThan(0);
  });

  it('routes the model only backend 1 serves to backend 1 alone', async () => {
    const [encodeBefore, generateBefore] = [await both('/v1/encode'), await both('/v1/generate')];
    for (let i = 0; i < 4; i++) expect((await tokenize(SECOND_MODEL)).status).toBe(200);
    const job = await finished((await submit({ model: SECOND_MODEL, class_id: [3, 4], seed: 77 })).id);
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    expect(job.model).toBe(SECOND_MODEL);
    const [encodeAfter, generateAfter] = [await both('/v1/encode'), await both('/v1/generate')];
    expect(encodeAfter[0] - encodeBefore[0]).toBe(0);
    expect(encodeAfter[1] - encodeBefore[1]).toBe(4);
    expect(generateAfter[0] - generateBefore[0]).toBe(0);
    expect(generateAfter[1] - generateBefore[1]).toBe(1);
  });

  it('moves calls to backend 1 while backend 0 answers 429', async () => {
    const before = await both('/v1/encode');
    proxy.mode = '429';
    proxy.refused = 0;
    // Calls until backend 0 has been asked (while both are idle the choice is a coin toss, and a queue
    // depth backend 0 reported in the last DEPTH_TTL_MS weighs against it), then 12 more.
    let calls = 0;
    let until = Number.POSITIVE_INFINITY;
    try {
      while (calls < until && calls < 100) {
        const res = await tokenize();
        expect(res.status, await res.clone().text()).toBe(200);
        calls++;
        if (proxy.refused > 0 && until === Number.POSITIVE_INFINITY) until = calls + 12;
      }
    } finally {
      proxy.mode = 'pass';
    }
    const after = await both('/v1/encode');
    figures.refused_by_429 = proxy.refused;
    expect(after[0] - before[0]).toBe(0);
    expect(after[1] - before[1]).toBe(calls);
    // Backend 0 was asked and refused, then rested for its Retry-After (1 s) while calls went on.
    expect(proxy.refused).toBeGreaterThan(0);
    expect(proxy.refused).toBeLessThan(calls);
  });

  it('completes a generation once on the other backend when the one running it is killed', async () => {
    const generateBefore = await both('/v1/generate');
    const job = await submit({
      class_id: Array.from({ length: COUNT }, (_, i) => i % 10),
      seed: 4242,
      webhook: { url: receiver.url, events: ['generation.started', 'generation.completed'] },
    });
    // The backend whose queue holds the job's images is the one running it.
    let running = -1;
    const deadline = Date.now() + 30_000;
    while (running < 0) {
      if (Date.now() > deadline) throw new Error('the generation never reached a backend');
      for (const index of [0, 1]) {
        const res = await fetch(`${stack.backendUrls[index]}/healthz`);
        if (Number(res.headers.get(QUEUE_DEPTH_HEADER)) >= COUNT) running = index;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    await stack.stopBackend('SIGKILL', running);
    const killedAt = Date.now();
    const done = await finished(job.id);
    figures.kill = {
      killed_backend: running,
      completed_ms_after_kill: Date.now() - killedAt,
      attempts: done.attempts,
    };
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    // The call moved to the other backend within its deadline: the job was never handed back to the queue.
    expect(done.attempts).toBe(1);
    expect(done.result?.images).toHaveLength(COUNT);
    for (const image of done.result!.images) {
      expect((await api(image.image_url!)).status).toBe(200);
    }
    const other = 1 - running;
    expect((await served(other, '/v1/generate')) - (generateBefore[other] ?? 0)).toBe(1);
    // Completed once: one completion webhook (given a moment for a duplicate to show up).
    await new Promise((r) => setTimeout(r, 2000));
    const events = receiver.deliveries
      .map((d) => JSON.parse(d.body) as { type: string; data: { id: string } })
      .filter((e) => e.data.id === job.id)
      .map((e) => e.type);
    expect(events.filter((t) => t === 'generation.completed')).toHaveLength(1);
    expect(events.filter((t) => t === 'generation.started')).toHaveLength(1);
  });
});
