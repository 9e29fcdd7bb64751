// Faults injected into a real stack of its own (the shared one cannot be stopped from a test): the backend
// killed mid-generation and down at submit, a backend slower than the Worker's deadline, webhook receivers
// that answer 500 or are gone, and R2 writes failing. Every generation must end succeeded exactly once:
// none lost, none completed twice. Duplicate queue deliveries are covered where they can be injected,
// message by message, in workers/api/test/queue.test.ts ("does the work once when the same message is
// delivered twice in one batch and again later"). Figures go to test-output/reliability.json (faults).
//
// The stack: the backend batches with GIGATOK_MAX_QUEUE_DELAY_MS=2500 and a batch of 64, so every call
// waits 2.5 s for company (a slow backend, with no test-only hook), and the Worker runs with
// BACKEND_TIMEOUT_MS=1500 (synchronous routes give up first) and WEBHOOK_RETRY_DELAYS=1,2,4.
// A retried generation waits the Worker's first retry delay (15 s), so the faults run once, overlapped on
// one timeline (beforeAll), and each test then judges what was observed.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { type Generation, GenerationSchema, ProblemSchema, WebhookDeliveryListSchema } from '@gigatok/shared';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, type Stack, startStack } from '../../scripts/local-stack.ts';
import { backendMetric } from '../lib/probe.ts';
import { type Delivery, type Receiver, startReceiver } from '../lib/receiver.ts';
import { recordSection } from '../lib/report.ts';

const QUEUE_DELAY_MS = 2500;
const WORKER_DEADLINE_MS = 1500;
const WEBHOOK_DELAYS = [1, 2, 4];

let stack: Stack;
let stateDir: string;
let key: string;
/** Answers 204: deliveries of the kill and down scenarios. */
let receiver: Receiver;
/** Answers 500 to everything. */
let failing: Receiver;
let goneUrl: string;
let model: { tokens_per_image: number; codebook_size: number };
/** Every job this file submitted, with what it was for. */
const submitted: { id: string; scenario: string; images: number }[] = [];
const scenarios: Record<string, unknown>[] = [];

const api = (pathname: string, init: RequestInit = {}) => {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${key}`);
  return fetch(`${stack.apiUrl}${pathname}`, { ...init, headers, signal: AbortSignal.timeout(30_000) });
};

async function submit(scenario: string, body: Record<string, unknown>): Promise<Generation> {
  const res = await api('/v1/generations', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status, await res.clone().text()).toBe(202);
  const job = GenerationSchema.parse(await res.json());
  submitted.push({ id: job.id, scenario, images: job.params.class_ids.length });
  return job;
}

async function getJob(id: string): Promise<Generation> {
  return GenerationSchema.parse(await (await api(`/v1/generations/${id}`)).json());
}

/** Polls `id` until `done` holds; also fails at once if the job ever reads as failed or canceled. */
async function watch(id: string, done: (job: Generation) => boolean, timeoutMs: number): Promise<Generation> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await getJob(id);
    expect(['failed', 'canceled'], `job ${id}: ${JSON.stringify(job.error)}`).not.toContain(job.status);
    if (done(job)) return job;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${job.status} (attempts ${job.attempts})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The blob directory of the local R2 bucket; `chattr +i` on it makes every new R2 write fail. */
const blobDir = () => path.join(stateDir, 'v3', 'r2', 'gigatok-artifacts', 'blobs');

function chattrWorks(dir: string): boolean {
  try {
    execFileSync('chattr', ['+i', dir], { stdio: 'ignore' });
    execFileSync('chattr', ['-i', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

interface Problem {
  status: number;
  contentType: string;
  code: string;
  detail: string;
  elapsedMs: number;
}

/** What the timeline saw; the tests judge it. */
const seen: {
  webhook500?: Generation;
  webhookGone?: Generation;
  storage?: { available: boolean; job?: Generation; whileBroken?: Generation; detokenize?: Problem };
  killed?: { job: Generation; whileDown: Generation };
  down?: { job: Generation; whileDown: Generation };
  restartMs?: number;
  slow?: { tokenize: Problem; drained: boolean; readyz: number };
  finals: Map<string, Generation>;
  attempts?: { job_id: string; status: string; attempts: number; codes: string }[];
} = { finals: new Map() };

async function problemOf(res: Response, started: number): Promise<Problem> {
  const body = ProblemSchema.parse(await res.json());
  return {
    status: res.status,
    contentType: res.headers.get('content-type') ?? '',
    code: body.code,
    detail: body.detail,
    elapsedMs: Date.now() - started,
  };
}

async function pendingOnBackend(): Promise<number> {
  return backendMetric(stack.backendUrl, 'nv_inference_pending_request_count');
}

async function timeline(): Promise<void> {
  // 1. Webhooks that cannot be delivered (their retries run in the background from here on).
  failing.status = 500;
  const webhook500 = await submit('webhook receiver answering 500', {
    class_id: 1,
    seed: 404,
    webhook: { url: failing.url, events: ['generation.completed'] },
  });
  const webhookGone = await submit('webhook receiver gone', {
    class_id: 0,
    seed: 505,
    webhook: { url: goneUrl, events: ['generation.completed'] },
  });
  seen.webhook500 = await watch(webhook500.id, (j) => j.status === 'succeeded', 60_000);
  seen.webhookGone = await watch(webhookGone.id, (j) => j.status === 'succeeded', 60_000);

  // 2. R2 writes failing: a generation reaches the backend, then cannot store its result.
  seen.storage = { available: chattrWorks(blobDir()) };
  if (seen.storage.available) {
    execFileSync('chattr', ['+i', blobDir()]);
    try {
      const job = await submit('R2 writes failing', { class_id: 1, seed: 606 });
      // Detokenize stores inline tokens in R2 before it calls the backend, so it meets the fault first.
      const tokens = Array.from(
        { length: model.tokens_per_image },
        (_, i) => (i * 7 + 5) % model.codebook_size,
      );
      const started = Date.now();
      const res = await api('/v1/detokenize', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ tokens }),
      });
      seen.storage.detokenize = await problemOf(res, started);
      seen.storage.job = job;
      seen.storage.whileBroken = await watch(job.id, (j) => j.status === 'queued' && j.attempts >= 1, 60_000);
    } finally {
      execFileSync('chattr', ['-i', blobDir()]);
    }
  }

  // 3. The backend SIGKILLed while it holds a generation, then a generation submitted while it is down.
  const killed = await submit('backend killed mid-generation', {
    class_id: [0, 1],
    seed: 101,
    webhook: { url: receiver.url, events: ['generation.started', 'generation.completed'] },
  });
  await watch(killed.id, (j) => j.status === 'running', 30_000);
  const deadline = Date.now() + 10_000;
  while ((await pendingOnBackend()) === 0) {
    if (Date.now() > deadline) throw new Error('the generation never reached the backend');
    await new Promise((r) => setTimeout(r, 100));
  }
  await stack.stopBackend('SIGKILL');
  const down = await submit('backend down at submit', {
    class_id: [1, 0],
    seed: 202,
    webhook: { url: receiver.url, events: ['generation.completed'] },
  });
  const handedBack = (id: string) => watch(id, (j) => j.status === 'queued' && j.attempts >= 1, 30_000);
  seen.killed = { job: killed, whileDown: await handedBack(killed.id) };
  seen.down = { job: down, whileDown: await handedBack(down.id) };
  const restartStarted = Date.now();
  await stack.restartBackend();
  seen.restartMs = Date.now() - restartStarted;

  // 4. A backend slower than the Worker's deadline for synchronous routes.
  const png = await sharp({
    create: { width: 24, height: 24, channels: 3, background: { r: 1, g: 2, b: 3 } },
  })
    .png()
    .toBuffer();
  const started = Date.now();
  const tokenized = await api('/v1/tokenize', {
    method: 'POST',
    headers: { 'content-type': 'image/png' },
    body: new Uint8Array(png),
  });
  const tokenize = await problemOf(tokenized, started);
  let drained = false;
  for (const stop = Date.now() + 15_000; Date.now() < stop && !drained; ) {
    drained = (await pendingOnBackend()) === 0;
    if (!drained) await new Promise((r) => setTimeout(r, 200));
  }
  seen.slow = { tokenize, drained, readyz: (await fetch(`${stack.backendUrl}/readyz`)).status };

  // 5. Everything handed back completes once the backend (and storage) are back.
  for (const s of submitted)
    seen.finals.set(s.id, await watch(s.id, (j) => j.status === 'succeeded', 120_000));
  await new Promise((r) => setTimeout(r, 1000)); // a late duplicate webhook would arrive by now
  // The delivery log as a tenant reads it (GET /v1/webhooks/deliveries), one delivery per job here.
  seen.attempts = [];
  for (const job of [webhook500, webhookGone]) {
    const page = WebhookDeliveryListSchema.parse(
      await (await api(`/v1/webhooks/deliveries?job_id=${job.id}`)).json(),
    );
    for (const d of page.data) {
      seen.attempts.push({
        job_id: d.job_id ?? job.id,
        status: d.status,
        attempts: d.attempts.length,
        codes: d.attempts.map((a) => a.status_code ?? 'none').join(','),
      });
    }
  }
}

beforeAll(async () => {
  stateDir = path.join(repoRoot, '.local', `faults-${process.pid}`);
  const modelDir = process.env.GIGATOK_E2E_MODEL_DIR;
  const logFile = path.join(repoRoot, 'test-output', 'faults-stack.log');
  mkdirSync(path.dirname(logFile), { recursive: true });
  rmSync(logFile, { force: true });
  stack = await startStack({
    stateDir,
    logFile, // kept after the run, for diagnosing a failure
    ...(modelDir ? { modelDirs: [path.resolve(repoRoot, modelDir)] } : {}),
    backendEnv: { GIGATOK_MAX_QUEUE_DELAY_MS: String(QUEUE_DELAY_MS), GIGATOK_MAX_BATCH: '64' },
    workerVars: {
      BACKEND_TIMEOUT_MS: String(WORKER_DEADLINE_MS),
      WEBHOOK_RETRY_DELAYS: WEBHOOK_DELAYS.join(','),
    },
    verbose: process.env.GIGATOK_E2E_VERBOSE === '1',
  });
  key = (await stack.createKey('faults')).key;
  const secret = ((await (await api('/v1/webhooks/secret')).json()) as { secret: string }).secret;
  receiver = await startReceiver();
  failing = await startReceiver();
  receiver.secrets = [secret];
  failing.secrets = [secret];
  // A receiver that is gone: a port that was listening and is closed now.
  const gone = await startReceiver();
  goneUrl = gone.url;
  await gone.close();
  // The Worker caches the model list; a cached copy is what lets it accept work while the backend is down.
  const models = await api('/v1/models');
  expect(models.status).toBe(200);
  model = ((await models.json()) as { data: (typeof model)[] }).data[0]!;
  await timeline();
}, 400_000);

afterAll(async () => {
  try {
    if (stack && submitted.length > 0) {
      const finals = await Promise.all(submitted.map((s) => getJob(s.id).catch(() => null)));
      const list = (await (await api('/v1/generations?limit=100')).json()) as { data: { id: string }[] };
      const listed = new Map<string, number>();
      for (const j of list.data) listed.set(j.id, (listed.get(j.id) ?? 0) + 1);
      recordSection('faults', {
        scenarios,
        jobs: {
          submitted: submitted.length,
          completed: finals.filter((j) => j?.status === 'succeeded').length,
          failed: finals.filter((j) => j?.status === 'failed').length,
          lost: finals.filter((j) => j === null || !['succeeded', 'failed', 'canceled'].includes(j.status))
            .length,
          duplicated: [...listed.values()].filter((n) => n > 1).length,
        },
      });
    }
  } finally {
    await receiver?.close();
    await failing?.close();
    await stack?.stop();
    if (stateDir) {
      try {
        execFileSync('chattr', ['-i', blobDir()], { stdio: 'ignore' });
      } catch {
        // never set, or no chattr
      }
      rmSync(stateDir, { recursive: true, force: true });
    }
  }
});

const eventsOf = (r: Receiver, id: string, type: string): Delivery[] =>
  r.deliveries.filter((d) => d.body.includes(`"${type}"`) && d.body.includes(id));

describe('faults', () => {
  it('keeps a generation whose backend is SIGKILLed mid-run queued (not failed), then completes it once', () => {
    const { job, whileDown } = seen.killed!;
    expect(whileDown).toMatchObject({ status: 'queued', error: null, result: null });
    const final = seen.finals.get(job.id)!;
    expect(final.status).toBe('succeeded');
    expect(final.attempts).toBeGreaterThanOrEqual(2);
    expect(final.result!.images.map((i) => i.index)).toEqual([0, 1]);
    expect(eventsOf(receiver, job.id, 'generation.started')).toHaveLength(1);
    expect(eventsOf(receiver, job.id, 'generation.completed')).toHaveLength(1);
    expect(receiver.deliveries.every((d) => d.verified)).toBe(true);
    scenarios.push({
      name: 'backend SIGKILLed while holding a generation',
      outcome: `queued again after the attempt; succeeded after ${final.attempts} attempts; 1 result, 1 started and 1 completed webhook`,
    });
  });

  it('accepts a generation while the backend is down (202, queued) and completes it once the backend is back', () => {
    const { job, whileDown } = seen.down!;
    expect(job.status).toBe('queued');
    expect(whileDown).toMatchObject({ status: 'queued', error: null, result: null });
    const final = seen.finals.get(job.id)!;
    expect(final.status).toBe('succeeded');
    expect(final.result!.images).toHaveLength(2);
    expect(eventsOf(receiver, job.id, 'generation.completed')).toHaveLength(1);
    scenarios.push({
      name: 'backend down at submit, restarted',
      outcome: `202 queued; succeeded after ${final.attempts} attempts once the backend was back (restart ${(seen.restartMs! / 1000).toFixed(1)} s); 1 completed webhook`,
    });
  });

  it('answers 504 backend_timeout when the backend is slower than the Worker deadline; the backend drops the call and stays ready', () => {
    const { tokenize, drained, readyz } = seen.slow!;
    expect(tokenize).toMatchObject({ status: 504, code: 'backend_timeout' });
    expect(tokenize.contentType).toContain('application/problem+json');
    expect(drained).toBe(true);
    expect(readyz).toBe(200);
    // Generations have their own, longer deadline: the slow backend delays them, nothing more.
    expect(seen.webhook500!.attempts).toBe(1);
    scenarios.push({
      name: `slow backend (${QUEUE_DELAY_MS} ms per call; Worker deadline ${WORKER_DEADLINE_MS} ms)`,
      outcome: `tokenize 504 backend_timeout after ${tokenize.elapsedMs} ms; abandoned call left the backend queue; readyz 200; generations succeeded in 1 attempt`,
    });
  });

  it('retries a webhook answered with 500 with growing delays, same id and body, then marks it failed; the job is intact', () => {
    const job = seen.webhook500!;
    const attempts = WEBHOOK_DELAYS.length + 1;
    const got = eventsOf(failing, job.id, 'generation.completed');
    expect(got).toHaveLength(attempts); // and none after the last
    expect(new Set(got.map((d) => d.headers['webhook-id'])).size).toBe(1);
    expect(new Set(got.map((d) => d.body)).size).toBe(1);
    expect(got.every((d) => d.verified)).toBe(true);
    const gaps = got.slice(1).map((d, i) => (d.at - got[i]!.at) / 1000);
    // Never sooner than the configured (growing) delay; how much later depends on the machine's load,
    // so only the lower bound is a property of the Worker.
    for (const [i, gap] of gaps.entries()) expect(gap).toBeGreaterThanOrEqual(WEBHOOK_DELAYS[i]! - 0.5);
    const row = seen.attempts!.find((r) => r.job_id === job.id);
    expect(row).toMatchObject({ status: 'failed', attempts });
    expect(row!.codes.split(',')).toEqual(new Array(attempts).fill('500'));
    const final = seen.finals.get(job.id)!;
    expect(final.status).toBe('succeeded');
    expect(final.result).toEqual(job.result);
    scenarios.push({
      name: 'webhook receiver answering 500',
      outcome: `${attempts} attempts ${gaps.map((g) => g.toFixed(1)).join(' / ')} s apart, same webhook-id and body, delivery failed; job succeeded, result unchanged`,
    });
  });

  it('records every attempt to a webhook receiver that is gone and marks the delivery failed; the job is intact', () => {
    const job = seen.webhookGone!;
    const attempts = WEBHOOK_DELAYS.length + 1;
    const row = seen.attempts!.find((r) => r.job_id === job.id);
    expect(row).toMatchObject({ status: 'failed', attempts });
    expect(row!.codes.split(',')).toEqual(new Array(attempts).fill('none'));
    expect(seen.finals.get(job.id)!.result).toEqual(job.result);
    scenarios.push({
      name: 'webhook receiver gone (connection refused)',
      outcome: `${attempts} attempts recorded without a status, delivery failed; job succeeded, result unchanged`,
    });
  });

  it('answers 500 problem+json while R2 writes fail and keeps the generation queued until storage is back', (ctx) => {
    if (!seen.storage?.available) {
      scenarios.push({ name: 'R2 writes failing', outcome: 'not run: chattr +i is not available here' });
      ctx.skip();
    }
    const { job, whileBroken, detokenize } = seen.storage!;
    expect(detokenize).toMatchObject({ status: 500, code: 'internal', detail: 'an internal error occurred' });
    expect(detokenize!.contentType).toContain('application/problem+json');
    expect(whileBroken).toMatchObject({ status: 'queued', error: null, result: null });
    const final = seen.finals.get(job!.id)!;
    expect(final.status).toBe('succeeded');
    expect(final.attempts).toBeGreaterThanOrEqual(2);
    scenarios.push({
      name: 'R2 writes failing (chattr +i on the local bucket), then restored',
      outcome: `detokenize 500 internal with a generic detail; generation queued (not failed), succeeded after ${final.attempts} attempts`,
    });
  });

  it('loses no job and completes none twice', async () => {
    expect([...seen.finals.values()].map((j) => j.status)).toEqual(submitted.map(() => 'succeeded'));
    for (const s of submitted) expect(seen.finals.get(s.id)!.result!.images).toHaveLength(s.images);
    const list = (await (await api('/v1/generations?limit=100')).json()) as { data: { id: string }[] };
    const ids = list.data.map((j) => j.id);
    expect(ids.length).toBe(new Set(ids).size);
    expect(new Set(ids)).toEqual(new Set(submitted.map((s) => s.id)));
  });
});
