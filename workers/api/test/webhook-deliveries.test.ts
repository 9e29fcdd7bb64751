// The webhook delivery log (GET /v1/webhooks/deliveries), redelivery and secret rotation, in workerd
// with local D1 and Queues. Signatures are checked with the reference `standardwebhooks` library, the
// way a receiver written against the spec would check them.

import { env } from 'cloudflare:workers';
import {
  newJobId,
  newMessageId,
  ProblemSchema,
  signWebhook,
  WEBHOOK_EVENT_TYPES,
  WEBHOOK_SECRET_RE,
  type WebhookDelivery,
  WebhookDeliveryListSchema,
  WebhookDeliverySchema,
  type WebhookEventType,
  WebhookSecretRotationSchema,
} from '@gigatok/shared';
import { Webhook } from 'standardwebhooks';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { rotateWebhookSecret, signingSecrets } from '../src/lib/webhooks/secrets.ts';
import { getDelivery, insertDelivery } from '../src/lib/webhooks/store.ts';
import { scheduled, UNCLAIMED_AFTER_MS } from '../src/scheduled.ts';
import { backend, HOOKS_ORIGIN } from './backend-stub.ts';
import { api, newTenant, postJson, runQueue, type TestKey, waitFor } from './helpers.ts';

const WEBHOOKS = 'gigatok-webhooks';
/** WEBHOOK_SECRET_OVERLAP_SECONDS of wrangler.toml, which this test project runs with. */
const OVERLAP_MS = 86_400_000;

let alice: TestKey;
let bob: TestKey;

beforeAll(async () => {
  alice = await newTenant('alice');
  bob = await newTenant('bob');
});

afterEach(() => {
  vi.useRealTimers();
});

async function insertJob(tenantId: string): Promise<string> {
  const jobId = newJobId();
  await env.DB.prepare(
    `INSERT INTO jobs (id, tenant_id, status, model, params, params_key, created_at)
     VALUES (?, ?, 'succeeded', 'gigatok-nano', '{}', 'gpk_x', 0)`,
  )
    .bind(jobId, tenantId)
    .run();
  return jobId;
}

/** A pending delivery written to D1 (not enqueued), for driving the consumer and redelivery by hand. */
async function pendingDelivery(
  tenant: TestKey,
  path: string,
  opts: { url?: string; jobId?: string; event?: WebhookEventType } = {},
) {
  const jobId = opts.jobId ?? (await insertJob(tenant.tenantId));
  const id = newMessageId();
  const event = opts.event ?? 'generation.completed';
  const payload = JSON.stringify({
    type: event,
    timestamp: new Date().toISOString(),
    data: { id: jobId },
  });
  await insertDelivery(env.DB, {
    id,
    tenantId: tenant.tenantId,
    jobId,
    eventType: event,
    url: opts.url ?? `${HOOKS_ORIGIN}${path}`,
    payload,
  });
  return { id, jobId, payload };
}

async function list(key: string, query = ''): Promise<{ status: number; body: unknown }> {
  const response = await api(key, `/v1/webhooks/deliveries${query}`);
  return { status: response.status, body: await response.json() };
}

async function listOk(key: string, query = '') {
  const { status, body } = await list(key, query);
  expect(status, JSON.stringify(body)).toBe(200);
  return WebhookDeliveryListSchema.parse(body);
}

async function redeliver(key: string, id: string): Promise<Response> {
  return api(key, `/v1/webhooks/deliveries/${id}/redeliver`, { method: 'POST' });
}

async function redeliverOk(key: string, id: string): Promise<WebhookDelivery> {
  const response = await redeliver(key, id);
  const body = await response.json();
  expect(response.status, JSON.stringify(body)).toBe(200);
  return WebhookDeliverySchema.parse(body);
}

/** What the receiver got for webhook-id `id`, in arrival order, with the headers as a plain object. */
function received(id: string) {
  return backend.deliveries
    .filter((d) => d.headers.get('webhook-id') === id)
    .map((d) => ({ body: d.body, headers: Object.fromEntries(d.headers) as Record<string, string> }));
}

/** Whether the reference library accepts `delivery` under `secret` alone. */
function verifiesWith(secret: string, delivery: { body: string; headers: Record<string, string> }): boolean {
  try {
    new Webhook(secret).verify(delivery.body, delivery.headers);
    return true;
  } catch {
    return false;
  }
}

describe('GET /v1/webhooks/deliveries', () => {
  it("lists a real job's deliveries with their attempts, and filters by job and event", async () => {
    const path = `/real-${crypto.randomUUID()}`;
    const created = await postJson(alice.key, '/v1/generations', {
      class_id: 1,
      webhook: { url: `${HOOKS_ORIGIN}${path}` },
    });
    const job = (await created.json()) as { id: string };
    const page = await waitFor(async () => {
      const got = await listOk(alice.key, `?job_id=${job.id}`);
      return got.data.length === 2 && got.data.every((d) => d.status === 'succeeded') ? got : null;
    }, 10_000);
    expect(page.data.map((d) => d.event).sort()).toEqual(['generation.completed', 'generation.started']);
    for (const delivery of page.data) {
      expect(delivery).toMatchObject({
        job_id: job.id,
        url: `${HOOKS_ORIGIN}${path}`,
        next_attempt_at: null,
      });
      expect(delivery.completed_at).not.toBeNull();
      expect(delivery.attempts).toHaveLength(1);
      expect(delivery.attempts[0]).toMatchObject({ manual: false, status_code: 204, error: null });
      // The delivery id is the webhook-id the receiver saw.
      expect(received(delivery.id)).toHaveLength(1);
    }
    const completed = await listOk(alice.key, `?job_id=${job.id}&event=generation.completed`);
    expect(completed.data.map((d) => d.event)).toEqual(['generation.completed']);
    expect((await listOk(alice.key, `?job_id=${job.id}&status=failed`)).data).toEqual([]);
  });

  it('shows a failed attempt with its status code and the time of the next retry while pending', async () => {
    const path = `/flaky-${crypto.randomUUID()}`;
    backend.hookStatus.set(path, 500);
    const { id, jobId } = await pendingDelivery(alice, path);
    const before = await listOk(alice.key, `?job_id=${jobId}`);
    // Enqueued but not yet tried: due at once.
    expect(before.data[0]).toMatchObject({ id, status: 'pending', attempts: [] });
    expect(before.data[0]!.next_attempt_at).toBe(before.data[0]!.created_at);

    const sentAt = Date.now();
    const outcome = await runQueue(WEBHOOKS, [{ delivery_id: id }]);
    expect(outcome.retried).toEqual([expect.objectContaining({ delaySeconds: 5 })]);
    const [delivery] = (await listOk(alice.key, `?job_id=${jobId}&status=pending`)).data;
    expect(delivery!.attempts).toEqual([
      {
        at: expect.any(String),
        manual: false,
        status_code: 500,
        error: 'HTTP 500',
        duration_ms: expect.any(Number),
      },
    ]);
    const next = Date.parse(delivery!.next_attempt_at!);
    expect(next).toBeGreaterThanOrEqual(sentAt + 5000);
    expect(next).toBeLessThanOrEqual(Date.now() + 5000);
    expect(Date.parse(delivery!.attempts[0]!.at)).toBeGreaterThanOrEqual(sentAt);
  });

  it('shows a refused attempt without a status code, its error text, and no next attempt once failed', async () => {
    const { id, jobId } = await pendingDelivery(alice, '', { url: 'http://169.254.169.254/latest' });
    await runQueue(WEBHOOKS, [{ delivery_id: id }]);
    const [delivery] = (await listOk(alice.key, `?job_id=${jobId}&status=failed`)).data;
    expect(delivery).toMatchObject({ id, status: 'failed', next_attempt_at: null });
    expect(delivery!.attempts).toHaveLength(1);
    expect(delivery!.attempts[0]!.status_code).toBeNull();
    expect(delivery!.attempts[0]!.error).toMatch(/^refused: /);
  });

  it('pages newest first with a cursor, under a filter, without gaps or repeats', async () => {
    const carol = await newTenant('carol');
    const jobId = await insertJob(carol.tenantId);
    const other = await insertJob(carol.tenantId);
    const ids: string[] = [];
    // One delivery per job and event: four events of one job, and one of another job in between.
    const events = [...WEBHOOK_EVENT_TYPES];
    for (let i = 0; i < 5; i++) {
      const spec = i === 2 ? { jobId: other } : { jobId, event: events[i > 2 ? i - 1 : i]! };
      ids.push((await pendingDelivery(carol, `/page-${i}`, spec)).id);
    }
    // Distinct creation times, oldest first in `ids`.
    for (const [i, id] of ids.entries()) {
      await env.DB.prepare('UPDATE webhook_deliveries SET created_at = ? WHERE id = ?')
        .bind(1_000_000 + i, id)
        .run();
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await listOk(carol.key, `?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...page.data.map((d) => d.id));
      cursor = page.next_cursor;
      pages++;
    } while (cursor !== null);
    expect(pages).toBe(3);
    expect(seen).toEqual([...ids].reverse());

    const filtered: string[] = [];
    const first = await listOk(carol.key, `?limit=3&job_id=${jobId}`);
    filtered.push(...first.data.map((d) => d.id));
    const second = await listOk(carol.key, `?limit=3&job_id=${jobId}&cursor=${first.next_cursor}`);
    filtered.push(...second.data.map((d) => d.id));
    expect(second.next_cursor).toBeNull();
    expect(filtered).toEqual([ids[4], ids[3], ids[1], ids[0]]);
  });

  it('refuses bad filters with a problem naming the field', async () => {
    const jobCursor = btoa(`1.${newJobId()}`).replace(/=+$/, '');
    const cases: [string, string][] = [
      ['?job_id=job_nope', 'job_id'],
      ['?event=generation.exploded', 'event'],
      ['?status=lost', 'status'],
      ['?limit=0', 'limit'],
      ['?limit=101', 'limit'],
      ['?cursor=not-a-cursor', 'cursor'],
      // A cursor of the generations list is not one of this list.
      [`?cursor=${jobCursor}`, 'cursor'],
    ];
    for (const [query, field] of cases) {
      const response = await api(alice.key, `/v1/webhooks/deliveries${query}`);
      expect(response.status, query).toBe(400);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      const problem = ProblemSchema.parse(await response.json());
      expect(problem, query).toMatchObject({ code: 'invalid_parameter', field });
      expect(problem.detail, query).toContain(`'${field}'`);
    }
  });

  it("lists only the caller's deliveries and answers 404 for another tenant's id", async () => {
    const path = `/isolated-${crypto.randomUUID()}`;
    const { id, jobId } = await pendingDelivery(alice, path);
    const bobs = await listOk(bob.key, '?limit=100');
    expect(bobs.data.map((d) => d.id)).not.toContain(id);
    expect((await listOk(bob.key, `?job_id=${jobId}`)).data).toEqual([]);
    for (const target of [id, 'msg_nope', newMessageId()]) {
      const response = await redeliver(bob.key, target);
      expect(response.status, target).toBe(404);
      expect(ProblemSchema.parse(await response.json()).code).toBe('not_found');
    }
    expect(received(id)).toEqual([]);
    expect((await listOk(alice.key, `?job_id=${jobId}`)).data[0]!.attempts).toEqual([]);
  });
});

describe('POST /v1/webhooks/deliveries/{id}/redeliver', () => {
  it('sends the same webhook-id and body with a fresh timestamp and signature that the reference library accepts', async () => {
    const path = `/redeliver-${crypto.randomUUID()}`;
    backend.hookStatus.set(path, 500);
    const { id, payload } = await pendingDelivery(alice, path);
    await runQueue(WEBHOOKS, [{ delivery_id: id }]);
    backend.hookStatus.set(path, 204);
    // A second later, so the redelivery's timestamp, hence its signature, must differ.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const delivery = await redeliverOk(alice.key, id);

    expect(delivery.status).toBe('succeeded');
    expect(delivery.next_attempt_at).toBeNull();
    expect(delivery.attempts.map((a) => [a.manual, a.status_code])).toEqual([
      [false, 500],
      [true, 204],
    ]);
    const [first, again] = received(id);
    expect(again!.body).toBe(payload);
    expect(again!.headers['webhook-id']).toBe(id);
    expect(Number(again!.headers['webhook-timestamp'])).toBeGreaterThan(
      Number(first!.headers['webhook-timestamp']),
    );
    expect(again!.headers['webhook-signature']).not.toBe(first!.headers['webhook-signature']);
    expect(verifiesWith(alice.secret, again!)).toBe(true);
    expect(verifiesWith(bob.secret, again!)).toBe(false);

    // The queued retry of the now-succeeded delivery sends nothing more.
    const late = await runQueue(WEBHOOKS, [{ delivery_id: id }], 2);
    expect(late.acked).toHaveLength(1);
    expect(received(id)).toHaveLength(2);
  });

  it('records a failed redelivery as a manual attempt and leaves a failed delivery failed', async () => {
    const path = `/still-down-${crypto.randomUUID()}`;
    backend.hookStatus.set(path, 503);
    const { id } = await pendingDelivery(alice, path);
    await runQueue('gigatok-webhooks-dlq', [{ delivery_id: id }]);
    const delivery = await redeliverOk(alice.key, id);
    expect(delivery.status).toBe('failed');
    expect(delivery.attempts).toEqual([
      {
        at: expect.any(String),
        manual: true,
        status_code: 503,
        error: 'HTTP 503',
        duration_ms: expect.any(Number),
      },
    ]);
    expect(verifiesWith(alice.secret, received(id)[0]!)).toBe(true);
  });
});

describe('cron sweep of lost delivery messages', () => {
  it('re-enqueues a pending delivery whose message was lost, once, and leaves recent ones alone', async () => {
    const path = `/lost-${crypto.randomUUID()}`;
    const lost = await pendingDelivery(alice, path);
    const recent = await pendingDelivery(alice, path);
    // As if its first attempt had been due eleven minutes ago and the send after the insert failed.
    await env.DB.prepare('UPDATE webhook_deliveries SET next_attempt_at = ? WHERE id = ?')
      .bind(Date.now() - UNCLAIMED_AFTER_MS - 60_000, lost.id)
      .run();
    await scheduled({} as ScheduledController, env);
    // The sweep moved its due time to now: a second sweep at once sends nothing more.
    await scheduled({} as ScheduledController, env);
    const delivered = await waitFor(async () => {
      const row = await getDelivery(env.DB, lost.id);
      return row?.status === 'succeeded' ? row : null;
    }, 10_000);
    expect(delivered.attempts).toBe(1);
    expect(received(lost.id)).toHaveLength(1);
    expect(received(lost.id)[0]!.body).toBe(lost.payload);
    const untouched = (await getDelivery(env.DB, recent.id))!;
    expect(untouched).toMatchObject({ status: 'pending', attempts: 0 });
    expect(received(recent.id)).toHaveLength(0);
  });
});

describe('POST /v1/webhooks/secret/rotate', () => {
  it('signs under both secrets during the overlap window (new first), and only the new one after it', async () => {
    const dave = await newTenant('dave');
    const oldSecret = dave.secret;
    const rotatedAt = Date.now();
    const response = await api(dave.key, '/v1/webhooks/secret/rotate', { method: 'POST' });
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const rotation = WebhookSecretRotationSchema.parse(await response.json());
    const newSecret = rotation.secret;
    expect(newSecret).toMatch(WEBHOOK_SECRET_RE);
    expect(newSecret).not.toBe(oldSecret);
    const expires = Date.parse(rotation.previous_secret_expires_at!);
    expect(expires).toBeGreaterThanOrEqual(rotatedAt + OVERLAP_MS);
    expect(expires).toBeLessThanOrEqual(Date.now() + OVERLAP_MS);
    expect(await (await api(dave.key, '/v1/webhooks/secret')).json()).toEqual({ secret: newSecret });

    // Inside the window: a delivery from the queue and a redelivery, each verified by a receiver that
    // holds only the old secret and by one that holds only the new one.
    const path = `/rotate-${crypto.randomUUID()}`;
    const { id, payload } = await pendingDelivery(dave, path);
    await runQueue(WEBHOOKS, [{ delivery_id: id }]);
    await redeliverOk(dave.key, id);
    const during = received(id);
    expect(during).toHaveLength(2);
    for (const delivery of during) {
      const signatures = delivery.headers['webhook-signature']!.split(' ');
      expect(signatures).toHaveLength(2);
      expect(signatures[0]).toBe(
        signWebhook({
          secret: newSecret,
          id,
          timestamp: Number(delivery.headers['webhook-timestamp']),
          body: payload,
        }),
      );
      expect(verifiesWith(oldSecret, delivery)).toBe(true);
      expect(verifiesWith(newSecret, delivery)).toBe(true);
    }

    // After the window (the clock moved past the expiry): one signature, the new secret's.
    vi.useFakeTimers({ toFake: ['Date'], now: expires + 1000 });
    await redeliverOk(dave.key, id);
    const after = received(id)[2]!;
    expect(Number(after.headers['webhook-timestamp'])).toBeGreaterThanOrEqual(Math.floor(expires / 1000));
    expect(after.headers['webhook-signature']!.split(' ')).toHaveLength(1);
    expect(verifiesWith(newSecret, after)).toBe(true);
    expect(verifiesWith(oldSecret, after)).toBe(false);
  });

  it('ends an earlier window on a second rotation: only the secret just replaced stays next to the new one', async () => {
    const erin = await newTenant('erin');
    const first = WebhookSecretRotationSchema.parse(
      await (await api(erin.key, '/v1/webhooks/secret/rotate', { method: 'POST' })).json(),
    );
    const second = WebhookSecretRotationSchema.parse(
      await (await api(erin.key, '/v1/webhooks/secret/rotate', { method: 'POST' })).json(),
    );
    expect(await signingSecrets(env.DB, erin.tenantId, Date.now())).toEqual([second.secret, first.secret]);
    expect(await signingSecrets(env.DB, erin.tenantId, Date.now())).not.toContain(erin.secret);
  });

  it('drops the previous secret at once with an overlap of 0', async () => {
    const fay = await newTenant('fay');
    const result = await rotateWebhookSecret(env.DB, fay.tenantId, `whsec_${'A'.repeat(32)}`, 0, Date.now());
    expect(result).toEqual({ rotated: true, previousExpiresAt: null });
    expect(await signingSecrets(env.DB, fay.tenantId, Date.now())).toEqual([`whsec_${'A'.repeat(32)}`]);
    expect(
      await rotateWebhookSecret(env.DB, 'ten_unknown', `whsec_${'B'.repeat(32)}`, 1000, Date.now()),
    ).toEqual({
      rotated: false,
      previousExpiresAt: null,
    });
  });
});
