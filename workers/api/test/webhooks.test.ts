// Webhook deliveries: events of a job, Standard Webhooks signatures checked with shared's verifier,
// retries with growing delays, every attempt recorded, giving up, and refusals at send time.

import { env } from 'cloudflare:workers';
import { generateWebhookSecret, newJobId, newMessageId, WebhookPayloadSchema } from '@gigatok/shared';
import { beforeAll, describe, expect, it } from 'vitest';
import { WEBHOOK_MAX_ATTEMPTS, WEBHOOK_RETRY_DELAYS } from '../src/lib/webhooks/delivery.ts';
import { getDelivery, insertDelivery } from '../src/lib/webhooks/store.ts';
import { backend, HOOKS_ORIGIN } from './backend-stub.ts';
import { api, newTenant, postJson, runQueue, type TestKey, waitFor } from './helpers.ts';

const WEBHOOKS = 'gigatok-webhooks';

let alice: TestKey;

beforeAll(async () => {
  alice = await newTenant('alice');
});

function attemptsOf(deliveryId: string) {
  return env.DB.prepare(
    'SELECT attempt, status_code, error FROM webhook_attempts WHERE delivery_id = ? ORDER BY attempt',
  )
    .bind(deliveryId)
    .all<{ attempt: number; status_code: number | null; error: string | null }>()
    .then((r) => r.results);
}

/** A pending delivery written straight to D1 (not enqueued), for driving the consumer by hand. */
async function pendingDelivery(path: string, url = `${HOOKS_ORIGIN}${path}`) {
  const jobId = newJobId();
  await env.DB.prepare(
    `INSERT INTO jobs (id, tenant_id, status, model, params, params_key, created_at)
     VALUES (?, ?, 'succeeded', 'gigatok-nano', '{}', 'gpk_x', 0)`,
  )
    .bind(jobId, alice.tenantId)
    .run();
  const id = newMessageId();
  const payload = JSON.stringify({
    type: 'generation.completed',
    timestamp: new Date().toISOString(),
    data: { id: jobId },
  });
  await insertDelivery(env.DB, {
    id,
    tenantId: alice.tenantId,
    jobId,
    eventType: 'generation.completed',
    url,
    payload,
  });
  return { id, payload };
}

describe('webhook events of a generation', () => {
  it('delivers started and completed events through the real queue, signed with the tenant secret', async () => {
    const path = `/job-${crypto.randomUUID()}`;
    const response = await postJson(alice.key, '/v1/generations', {
      class_id: 1,
      webhook: { url: `${HOOKS_ORIGIN}${path}` },
    });
    const job = (await response.json()) as { id: string };
    const deliveries = await waitFor(async () => {
      const got = backend.deliveries.filter((d) => d.path === path);
      return got.length >= 2 ? got : null;
    }, 10_000);
    const payloads = deliveries.map((d) => WebhookPayloadSchema.parse(JSON.parse(d.body)));
    expect(payloads.map((p) => p.type).sort()).toEqual(['generation.completed', 'generation.started']);
    for (const payload of payloads) expect(payload.data.id).toBe(job.id);
    expect(payloads.find((p) => p.type === 'generation.completed')!.data.status).toBe('succeeded');
    for (const delivery of deliveries) {
      expect(delivery.verified).toEqual({ id: delivery.headers.get('webhook-id') });
      expect(delivery.headers.get('webhook-id')).toMatch(/^msg_[a-z2-7]{32}$/);
      expect(delivery.headers.get('content-type')).toBe('application/json');
    }
    // Both deliveries end up recorded as succeeded.
    await waitFor(async () => {
      const row = await env.DB.prepare(
        "SELECT COUNT(*) AS n FROM webhook_deliveries WHERE job_id = ? AND status = 'succeeded'",
      )
        .bind(job.id)
        .first<{ n: number }>();
      return row!.n === 2;
    });
  });

  it('sends only the subscribed events, and a canceled event on cancel', async () => {
    const path = `/cancel-${crypto.randomUUID()}`;
    // The backend answers this seed 503 (models loading), so the job is handed back to the queue and
    // is still cancelable however fast the consumer runs.
    const seed = 4_242_001;
    backend.generateModes.set(seed, 'loading');
    const response = await postJson(alice.key, '/v1/generations', {
      class_id: 1,
      seed,
      webhook: { url: `${HOOKS_ORIGIN}${path}`, events: ['generation.canceled'] },
    });
    const job = (await response.json()) as { id: string };
    expect((await api(alice.key, `/v1/generations/${job.id}/cancel`, { method: 'POST' })).status).toBe(200);
    const [delivery] = await waitFor(async () => {
      const got = backend.deliveries.filter((d) => d.path === path);
      return got.length > 0 ? got : null;
    });
    expect(WebhookPayloadSchema.parse(JSON.parse(delivery!.body))).toMatchObject({
      type: 'generation.canceled',
      data: { id: job.id, status: 'canceled' },
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(backend.deliveries.filter((d) => d.path === path)).toHaveLength(1);
  });

  it('fails verification under another secret', async () => {
    const { id, payload } = await pendingDelivery(`/other-${crypto.randomUUID()}`);
    const saved = backend.webhookSecrets.splice(0);
    backend.webhookSecrets.push(generateWebhookSecret());
    try {
      await runQueue(WEBHOOKS, [{ delivery_id: id }]);
    } finally {
      backend.webhookSecrets.splice(0, backend.webhookSecrets.length, ...saved);
    }
    const delivery = backend.deliveries.find((d) => d.headers.get('webhook-id') === id)!;
    expect(delivery.body).toBe(payload);
    expect(delivery.verified).toEqual({ error: 'no_matching_signature' });
  });
});

describe('webhooks consumer', () => {
  it('records a successful attempt and acks', async () => {
    const { id } = await pendingDelivery('/ok');
    const outcome = await runQueue(WEBHOOKS, [{ delivery_id: id }]);
    expect(outcome.acked).toHaveLength(1);
    expect(await getDelivery(env.DB, id)).toMatchObject({ status: 'succeeded', attempts: 1 });
    expect(await attemptsOf(id)).toEqual([{ attempt: 1, status_code: 204, error: null }]);
  });

  it('retries a failing receiver with growing delays, keeping the same webhook-id and body, then gives up', async () => {
    const path = `/fail-${crypto.randomUUID()}`;
    backend.hookStatus.set(path, 500);
    const { id, payload } = await pendingDelivery(path);
    const delays: (number | undefined)[] = [];
    for (let attempt = 1; attempt <= WEBHOOK_MAX_ATTEMPTS; attempt++) {
      const outcome = await runQueue(WEBHOOKS, [{ delivery_id: id }], attempt);
      if (attempt < WEBHOOK_MAX_ATTEMPTS) delays.push(outcome.retried[0]?.delaySeconds);
      else expect(outcome.acked).toHaveLength(1);
    }
    expect(delays).toEqual([...WEBHOOK_RETRY_DELAYS]);
    expect(delays.every((d, i) => i === 0 || d! > delays[i - 1]!)).toBe(true);
    expect(await getDelivery(env.DB, id)).toMatchObject({ status: 'failed', attempts: WEBHOOK_MAX_ATTEMPTS });
    const attempts = await attemptsOf(id);
    expect(attempts.map((a) => a.attempt)).toEqual([...Array(WEBHOOK_MAX_ATTEMPTS).keys()].map((i) => i + 1));
    expect(attempts.every((a) => a.status_code === 500 && a.error === 'HTTP 500')).toBe(true);
    const sent = backend.deliveries.filter((d) => d.path === path);
    expect(new Set(sent.map((d) => d.headers.get('webhook-id')))).toEqual(new Set([id]));
    expect(sent.every((d) => d.body === payload && 'id' in d.verified)).toBe(true);
    // A late duplicate of the message changes nothing.
    const late = await runQueue(WEBHOOKS, [{ delivery_id: id }]);
    expect(late.acked).toHaveLength(1);
    expect(await attemptsOf(id)).toHaveLength(WEBHOOK_MAX_ATTEMPTS);
  });

  it('treats a redirect as a failure and does not follow it', async () => {
    const path = `/moved-${crypto.randomUUID()}`;
    backend.hookStatus.set(path, 302);
    const { id } = await pendingDelivery(path);
    const outcome = await runQueue(WEBHOOKS, [{ delivery_id: id }]);
    expect(outcome.retried).toHaveLength(1);
    expect(await attemptsOf(id)).toEqual([{ attempt: 1, status_code: 302, error: 'HTTP 302' }]);
  });

  it('refuses at send time a URL the policy forbids, without retrying', async () => {
    const { id } = await pendingDelivery('', 'http://169.254.169.254/latest/meta-data');
    const before = backend.deliveries.length;
    const outcome = await runQueue(WEBHOOKS, [{ delivery_id: id }]);
    expect(outcome.acked).toHaveLength(1);
    expect(backend.deliveries.length).toBe(before);
    expect(await getDelivery(env.DB, id)).toMatchObject({ status: 'failed', attempts: 1 });
    expect((await attemptsOf(id))[0]!.error).toMatch(/^refused:/);
  });

  it('marks a delivery failed from the dead-letter queue', async () => {
    const { id } = await pendingDelivery('/dead');
    await runQueue('gigatok-webhooks-dlq', [{ delivery_id: id }]);
    expect(await getDelivery(env.DB, id)).toMatchObject({ status: 'failed', attempts: 0 });
  });
});
