// A long generation job on a real stack of its own (the shared one keeps the default chunk sizes):
// the Worker runs with GENERATION_CHUNK_IMAGES = GENERATION_MAX_CHUNK_IMAGES = 2, so a count-16 job on
// gigatok-nano runs as 8 backend calls. The job's progress is visible while it runs, it ends with the
// tokens one backend call of all 16 images gives, and the backend served exactly 8 generate calls
// for it. Figures (the chunked job's wall time, the one-call time) go to test-output/reliability.json.
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { GigaTokClient, type JobStreamEvent } from '@gigatok/client';
import { type Generation, GenerationSchema, generateSampling, TokensResponseSchema } from '@gigatok/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, type Stack, startStack } from '../../scripts/local-stack.ts';
import { backendPost } from '../lib/api.ts';
import { recordSection } from '../lib/report.ts';

const CHUNK = 2;
const COUNT = 16;

let stack: Stack;
let stateDir: string;
let key: string;

beforeAll(async () => {
  stateDir = path.join(repoRoot, '.local', `e2e-long-runs-${process.pid}`);
  const logFile = path.join(repoRoot, 'test-output', 'e2e-long-runs-stack.log');
  mkdirSync(path.dirname(logFile), { recursive: true });
  rmSync(logFile, { force: true });
  stack = await startStack({
    stateDir,
    logFile,
    workerVars: { GENERATION_CHUNK_IMAGES: String(CHUNK), GENERATION_MAX_CHUNK_IMAGES: String(CHUNK) },
  });
  key = (await stack.createKey('e2e-long-runs')).key;
});

afterAll(async () => {
  await stack?.stop();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

const api = (pathname: string, init: RequestInit = {}) => {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${key}`);
  return fetch(`${stack.apiUrl}${pathname}`, { ...init, headers, signal: AbortSignal.timeout(30_000) });
};

/** Successful /v1/generate calls the backend answered so far (its Prometheus HTTP counter). */
async function generateCalls(): Promise<number> {
  const text = await (await fetch(`${stack.backendUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^gigatok_http_requests_total\{([^}]*)\}\s+(\S+)/.exec(line);
    if (m && /route="\/v1\/generate\/?"/.test(m[1]!) && m[1]!.includes('status="200"')) sum += Number(m[2]);
  }
  return sum;
}

describe('a count-16 generation in chunks of 2', () => {
  it('shows its progress while it runs and ends with the tokens of one call of all 16 images', async () => {
    const callsBefore = await generateCalls();
    const started = performance.now();
    const submitted = await api('/v1/generations', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ class_id: 5, count: COUNT, seed: 160_016 }),
    });
    expect(submitted.status, await submitted.clone().text()).toBe(202);
    const queued = GenerationSchema.parse(await submitted.json());
    expect(queued.progress).toEqual({ images_done: 0, images_total: COUNT });

    // A watcher of its event stream, through the client, alongside the polls below.
    const client = new GigaTokClient({ baseUrl: stack.apiUrl, apiKey: key });
    const watched = (async () => {
      const seen: JobStreamEvent[] = [];
      for await (const event of client.generations.events(queued.id)) seen.push(event);
      return seen;
    })();

    // Every progress the job showed while it was running.
    const seenRunning = new Set<number>();
    let job: Generation = queued;
    const deadline = Date.now() + 180_000;
    while (job.status === 'queued' || job.status === 'running') {
      if (Date.now() > deadline)
        throw new Error(`job still ${job.status} at ${JSON.stringify(job.progress)}`);
      await new Promise((r) => setTimeout(r, 100));
      job = GenerationSchema.parse(await (await api(`/v1/generations/${queued.id}`)).json());
      if (job.status === 'running') seenRunning.add(job.progress.images_done);
    }
    const chunkedMs = performance.now() - started;
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    expect(job.progress).toEqual({ images_done: COUNT, images_total: COUNT });
    // Partial progress was visible, always a whole number of chunks.
    const partial = [...seenRunning].filter((n) => n > 0 && n < COUNT);
    expect(partial.length).toBeGreaterThan(0);
    for (const n of seenRunning) expect(n % CHUNK).toBe(0);
    expect((await generateCalls()) - callsBefore).toBe(COUNT / CHUNK);

    // The stream reported chunks as progress, growing, between running and the result.
    const streamed = await watched;
    const types = streamed.map((event) => event.type);
    expect(types.at(-1)).toBe('succeeded');
    const progressDone = streamed.flatMap((event) => (event.type === 'progress' ? [event.images_done] : []));
    expect(progressDone.length).toBeGreaterThan(0);
    expect(progressDone).toEqual([...progressDone].sort((a, b) => a - b));
    for (const n of progressDone) expect(n % CHUNK).toBe(0);
    expect(types.indexOf('running')).toBeLessThan(types.indexOf('progress'));

    // The same request as one backend call: every image has the tokens the chunks gave it.
    const { params } = job;
    const oneCallStarted = performance.now();
    const whole = await backendPost(
      '/v1/generate',
      {
        model: job.model,
        ...generateSampling(params),
        class_ids: params.class_ids,
        return_images: true,
      },
      stack,
    );
    const oneCallMs = performance.now() - oneCallStarted;
    expect(whole.status).toBe(200);
    const expected = ((await whole.json()) as { tokens: number[][] }).tokens;
    const chunked = await Promise.all(
      job.result!.images.map(async (image) => {
        const res = await api(image.tokens_url, { headers: { accept: 'application/json' } });
        return TokensResponseSchema.parse(await res.json()).tokens[0]!;
      }),
    );
    expect(chunked).toEqual(expected);

    const figures = {
      model: job.model,
      count: COUNT,
      chunk_images: CHUNK,
      backend_calls: COUNT / CHUNK,
      chunked_job_ms: Math.round(chunkedMs),
      one_backend_call_ms: Math.round(oneCallMs),
      progress_seen_running: [...seenRunning].sort((a, b) => a - b),
      progress_events: progressDone,
    };
    console.log(`long runs: ${JSON.stringify(figures)}`);
    recordSection('long_runs', figures);
  });
});
