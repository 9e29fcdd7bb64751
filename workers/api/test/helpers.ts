// Shared test helpers: API keys through the admin route, authenticated requests through the Worker's
// own fetch handler, queue batches handed straight to its queue handler, small image fixtures.
import { SELF } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import type { GenerationParams } from '@gigatok/shared';
import { encodePng } from '@gigatok/shared/testing/png';
import worker from '../src/index.ts';
import { insertJob, type Job, newQueuedJob } from '../src/lib/generations/jobs.ts';
import { backend, NANO } from './backend-stub.ts';

export const ORIGIN = 'https://api.gigatok.test';

export function call(path: string, init: RequestInit = {}): Promise<Response> {
  return SELF.fetch(new Request(ORIGIN + path, init));
}

export interface TestKey {
  key: string;
  id: string;
  tenantId: string;
  secret: string;
}

/** A new tenant with one API key (through POST /v1/admin/keys), and its webhook secret. */
export async function newTenant(name = 'test'): Promise<TestKey> {
  const response = await call('/v1/admin/keys', {
    method: 'POST',
    headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ tenant_name: name }),
  });
  if (response.status !== 201)
    throw new Error(`admin key creation failed: ${response.status} ${await response.text()}`);
  const created = (await response.json()) as { key: string; id: string; tenant_id: string };
  const secret = (await (await api(created.key, '/v1/webhooks/secret')).json()) as { secret: string };
  backend.webhookSecrets.push(secret.secret);
  return { key: created.key, id: created.id, tenantId: created.tenant_id, secret: secret.secret };
}

export function api(key: string, path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${key}`);
  return call(path, { ...init, headers });
}

export function postJson(key: string, path: string, body: unknown, headers: Record<string, string> = {}) {
  return api(key, path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

/** A small real PNG, different for each `seed`. */
export function testPng(seed: number, size = 8): Uint8Array {
  return encodePng(size, size, (x, y) => [
    (x * 31 + seed) & 0xff,
    (y * 17 + seed * 7) & 0xff,
    (seed * 13) & 0xff,
  ]);
}

export interface QueueOutcome {
  acked: string[];
  retried: { id: string; delaySeconds: number | undefined }[];
}

/**
 * Hands messages to the Worker's queue handler as queue `queue` would deliver them (each with
 * `attempts`), and reports which were acked and which retried with what delay. `bindings` replaces
 * the Worker's env (e.g. a GENERATIONS queue that keeps what the consumer enqueues for the test).
 */
export async function runQueue(
  queue: string,
  bodies: unknown[],
  attempts = 1,
  bindings: Env = env,
): Promise<QueueOutcome> {
  const outcome: QueueOutcome = { acked: [], retried: [] };
  const messages = bodies.map((body, i) => {
    const id = `msg-${i}-${crypto.randomUUID()}`;
    return {
      id,
      timestamp: new Date(),
      attempts,
      body,
      ack: () => outcome.acked.push(id),
      retry: (options?: QueueRetryOptions) =>
        outcome.retried.push({ id, delaySeconds: options?.delaySeconds }),
    };
  });
  const batch = {
    queue,
    messages,
    ackAll: () => {
      for (const m of messages) m.ack();
    },
    retryAll: (options?: QueueRetryOptions) => {
      for (const m of messages) m.retry(options);
    },
  } as unknown as MessageBatch<unknown>;
  await worker.queue(batch, bindings);
  return outcome;
}

export async function waitFor<T>(
  probe: () => Promise<T | null | undefined | false>,
  timeoutMs = 8000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * A queued gigatok-nano job of `tenantId` for `params`, written straight to D1: no queue message is
 * sent, so only the batches a test builds reach it.
 */
export async function insertQueuedJob(
  tenantId: string,
  params: GenerationParams,
  overrides: Partial<Job> = {},
): Promise<Job> {
  const job: Job = { ...(await newQueuedJob(tenantId, NANO.id, params, null)), ...overrides };
  await insertJob(env.DB, job);
  return job;
}
