// Webhooks of dataset runs: one signed event when a run completes, fails or is canceled, checked with
// the reference `standardwebhooks` verifier, listed in the tenant's delivery log, redelivered on demand,
// and a refused webhook URL on create.
import { env } from 'cloudflare:workers';
import { DatasetWebhookPayloadSchema, type WebhookDelivery, writeTar } from '@gigatok/shared';
import { Webhook } from 'standardwebhooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backend, HOOKS_ORIGIN } from './backend-stub.ts';
import { api, newTenant, postJson, runQueue, type TestKey, testPng, waitFor } from './helpers.ts';

let alice: TestKey;
let bob: TestKey;
let seed = 70_000;

// Fresh tenants per test: each API key has a rate limit of 50 requests a minute here.
beforeEach(async () => {
  alice = await newTenant('alice');
  bob = await newTenant('bob');
});

afterEach(() => {
  backend.mode = 'up';
});

function imageFolder(classes: readonly string[], perClass: number) {
  return writeTar(
    classes.flatMap((name) =>
      Array.from({ length: perClass }, (_, i) => ({ name: `${name}/${i}.png`, bytes: testPng(seed++) })),
    ),
  );
}

/** A dataset of `images` with `webhook`, its images added; returns its id. */
async function datasetWithImages(key: TestKey, body: Record<string, unknown>, images: Uint8Array) {
  const created = await postJson(key.key, '/v1/datasets', body);
  expect(created.status).toBe(201);
  const { id } = (await created.json()) as { id: string };
  const added = await api(key.key, `/v1/datasets/${id}/images`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-tar' },
    body: images as Uint8Array<ArrayBuffer>,
  });
  expect(added.status).toBe(200);
  return id;
}

async function statusOf(id: string): Promise<string | undefined> {
  const row = await env.DB.prepare('SELECT status FROM datasets WHERE id = ?')
    .bind(id)
    .first<{ status: string }>();
  return row?.status;
}

const received = (path: string) => backend.deliveries.filter((d) => d.path === path);

/** The body, verified under `secret` by the reference library (it throws on a bad signature). */
function verifiedBody(secret: string, delivery: { headers: Headers; body: string }) {
  const payload = new Webhook(secret).verify(delivery.body, Object.fromEntries(delivery.headers));
  return DatasetWebhookPayloadSchema.parse(payload);
}

async function deliveriesOf(key: TestKey, datasetId: string): Promise<WebhookDelivery[]> {
  const response = await api(key.key, `/v1/webhooks/deliveries?dataset_id=${datasetId}`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { data: WebhookDelivery[] }).data;
}

describe('webhook events of a dataset run', () => {
  it('sends one signed dataset.completed carrying the dataset, listed for its tenant only', async () => {
    const path = `/ds-${crypto.randomUUID()}`;
    const id = await datasetWithImages(
      alice,
      { name: 'hooked', webhook: { url: `${HOOKS_ORIGIN}${path}` } },
      imageFolder(['a', 'b'], 2),
    );
    expect((await api(alice.key, `/v1/datasets/${id}/run`, { method: 'POST' })).status).toBe(202);
    const [delivery] = await waitFor(async () => (received(path).length > 0 ? received(path) : null), 10_000);

    const payload = verifiedBody(alice.secret, delivery!);
    const dataset = await (await api(alice.key, `/v1/datasets/${id}`)).json();
    expect(payload.type).toBe('dataset.completed');
    expect(payload.data).toEqual(dataset);
    expect(payload.data.status).toBe('completed');
    expect(() => verifiedBody(bob.secret, delivery!)).toThrow();

    // A duplicate message of the finished run sends nothing more.
    const late = await runQueue('gigatok-datasets', [{ dataset_id: id, run_seq: 1 }]);
    expect(late.acked).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(received(path)).toHaveLength(1);

    const logged = await waitFor(async () => {
      const list = await deliveriesOf(alice, id);
      return list[0]?.status === 'succeeded' ? list : null;
    });
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({
      id: delivery!.headers.get('webhook-id'),
      job_id: null,
      dataset_id: id,
      event: 'dataset.completed',
      url: `${HOOKS_ORIGIN}${path}`,
    });
    const unfiltered = (await (await api(alice.key, '/v1/webhooks/deliveries')).json()) as {
      data: WebhookDelivery[];
    };
    expect(unfiltered.data.map((d) => d.dataset_id)).toContain(id);
    expect(await deliveriesOf(bob, id)).toEqual([]);

    // Redelivery sends the same event again under the same webhook-id.
    const again = await api(alice.key, `/v1/webhooks/deliveries/${logged[0]!.id}/redeliver`, {
      method: 'POST',
    });
    expect(again.status).toBe(200);
    const [, second] = received(path);
    expect(second!.headers.get('webhook-id')).toBe(logged[0]!.id);
    expect(verifiedBody(alice.secret, second!)).toEqual(payload);
  });

  it('sends dataset.failed when a run fails, and only the subscribed events', async () => {
    const path = `/ds-failed-${crypto.randomUUID()}`;
    backend.augmentations.delete('ten_crop');
    try {
      const id = await datasetWithImages(
        alice,
        {
          name: 'crops',
          augmentation: 'ten_crop',
          webhook: { url: `${HOOKS_ORIGIN}${path}`, events: ['dataset.failed'] },
        },
        imageFolder(['a'], 1),
      );
      expect((await api(alice.key, `/v1/datasets/${id}/run`, { method: 'POST' })).status).toBe(202);
      const [delivery] = await waitFor(async () => (received(path).length > 0 ? received(path) : null));
      const payload = verifiedBody(alice.secret, delivery!);
      expect(payload.type).toBe('dataset.failed');
      expect(payload.data).toMatchObject({ id, status: 'failed' });
      expect(payload.data.error?.detail).toContain("does not support augmentation 'ten_crop'");
      expect(await statusOf(id)).toBe('failed');
    } finally {
      backend.augmentations.add('ten_crop');
    }
  });

  it('sends dataset.canceled on cancel, and each later run its own event', async () => {
    const path = `/ds-canceled-${crypto.randomUUID()}`;
    const id = await datasetWithImages(
      alice,
      { name: 'stopped', webhook: { url: `${HOOKS_ORIGIN}${path}` } },
      imageFolder(['a'], 2),
    );
    backend.mode = 'error500';
    expect((await api(alice.key, `/v1/datasets/${id}/run`, { method: 'POST' })).status).toBe(202);
    expect((await api(alice.key, `/v1/datasets/${id}/cancel`, { method: 'POST' })).status).toBe(200);
    const [canceled] = await waitFor(async () => (received(path).length > 0 ? received(path) : null));
    expect(verifiedBody(alice.secret, canceled!)).toMatchObject({
      type: 'dataset.canceled',
      data: { id, status: 'canceled' },
    });

    backend.mode = 'up';
    expect((await api(alice.key, `/v1/datasets/${id}/run`, { method: 'POST' })).status).toBe(202);
    const events = await waitFor(async () => (received(path).length >= 2 ? received(path) : null), 10_000);
    expect(events.map((d) => verifiedBody(alice.secret, d).type)).toEqual([
      'dataset.canceled',
      'dataset.completed',
    ]);
    expect((await deliveriesOf(alice, id)).map((d) => d.event).sort()).toEqual([
      'dataset.canceled',
      'dataset.completed',
    ]);
  });

  it('sends nothing for a dataset created without a webhook', async () => {
    const id = await datasetWithImages(alice, { name: 'quiet' }, imageFolder(['a'], 1));
    expect((await api(alice.key, `/v1/datasets/${id}/run`, { method: 'POST' })).status).toBe(202);
    await waitFor(async () => (await statusOf(id)) === 'completed');
    expect(await deliveriesOf(alice, id)).toEqual([]);
  });
});

describe('bad webhooks on create', () => {
  it('refuses a webhook URL or event the policy does not accept, naming the field', async () => {
    const cases: [unknown, string, string][] = [
      [{ url: 'http://example.com/hook' }, 'webhook.url', 'https'],
      [{ url: 'https://10.0.0.1/hook' }, 'webhook.url', 'public host'],
      [{ url: 'https://user:pw@example.com/hook' }, 'webhook.url', 'credentials'],
      [{ url: 'not a url' }, 'webhook.url', 'absolute'],
      [{ url: 'https://example.com/hook', events: ['generation.completed'] }, 'webhook.events', 'dataset.'],
      [{ url: 'https://example.com/hook', events: [] }, 'webhook.events', 'at least one'],
    ];
    for (const [webhook, field, text] of cases) {
      const response = await postJson(alice.key, '/v1/datasets', { name: 'refused', webhook });
      expect(response.status, JSON.stringify(webhook)).toBe(400);
      const problem = (await response.json()) as { field?: string; errors?: { field: string }[] };
      const fields = [problem.field, ...(problem.errors ?? []).map((e) => e.field)];
      expect(
        fields.some((f) => f?.startsWith(field)),
        `${JSON.stringify(webhook)}: ${JSON.stringify(problem)}`,
      ).toBe(true);
      expect(JSON.stringify(problem), JSON.stringify(webhook)).toContain(text);
    }
    const list = (await (await api(alice.key, '/v1/datasets')).json()) as { data: unknown[] };
    expect(list.data).toEqual([]);
  });
});
