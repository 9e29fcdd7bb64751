// The webhook delivery log, redelivery and secret rotation through the real stack (wrangler dev with
// local D1 and Queues, the real backend on CPU) and a receiver on loopback, driven with the client
// package. Signatures are checked with the reference `standardwebhooks` library, as a receiver
// written against the spec would check them.

import { GigaTokApiError, GigaTokClient } from '@gigatok/client';
import { GenerationSchema } from '@gigatok/shared';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newTenant, postJson, stack, until } from '../lib/api.ts';
import { E2E_WEBHOOK_SECRET_OVERLAP_SECONDS } from '../lib/global-setup.ts';
import { type Delivery, type Receiver, startReceiver } from '../lib/receiver.ts';

let tenant: { key: string; tenantId: string };
let client: GigaTokClient;
let receiver: Receiver;
let modelId: string;

beforeAll(async () => {
  tenant = await newTenant('e2e-deliveries');
  client = new GigaTokClient({ baseUrl: stack().apiUrl, apiKey: tenant.key });
  receiver = await startReceiver();
  receiver.secrets = [(await client.getWebhookSecret()).secret];
  modelId = (await client.models())[0]!.id;
});

afterAll(async () => {
  await receiver?.close();
});

/** Whether the reference library accepts `delivery` under `secret` alone. */
function verifiesWith(secret: string, delivery: Delivery): boolean {
  try {
    new Webhook(secret).verify(delivery.body, delivery.headers);
    return true;
  } catch {
    return false;
  }
}

const deliveriesOf = (id: string) => receiver.deliveries.filter((d) => d.headers['webhook-id'] === id);

describe('webhook deliveries through the real stack', () => {
  let deliveryId: string;
  let jobId: string;

  it("lists a finished job's delivery with its attempt, under the webhook-id the receiver saw", async () => {
    const res = await postJson(
      tenant.key,
      '/v1/generations',
      {
        model: modelId,
        class_id: 1,
        seed: 515_001,
        webhook: { url: receiver.url, events: ['generation.completed'] },
      },
      { prefer: 'wait=60' },
    );
    expect([201, 202]).toContain(res.status);
    jobId = GenerationSchema.parse(await res.json()).id;
    const delivery = await until(async () => {
      const page = await client.listWebhookDeliveries({ jobId });
      const found = page.data[0];
      return found?.status === 'succeeded' ? found : null;
    }, 90_000);
    deliveryId = delivery.id;
    expect(delivery).toMatchObject({ job_id: jobId, event: 'generation.completed', url: receiver.url });
    expect(delivery.next_attempt_at).toBeNull();
    expect(delivery.attempts).toHaveLength(1);
    expect(delivery.attempts[0]).toMatchObject({ manual: false, status_code: 204, error: null });
    const [sent] = deliveriesOf(deliveryId);
    expect(sent?.verified).toBe(true);
    // The filters narrow the same list: another event or status finds nothing for this job.
    expect((await client.listWebhookDeliveries({ jobId, event: 'generation.started' })).data).toEqual([]);
    expect((await client.listWebhookDeliveries({ jobId, status: 'failed' })).data).toEqual([]);
    // And a bad filter is a problem naming its field.
    const error = await client.listWebhookDeliveries({ status: 'lost' as never }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GigaTokApiError);
    expect(error).toMatchObject({ status: 400, code: 'invalid_parameter', field: 'status' });
  });

  it('redelivers with the same webhook-id and body and a signature the reference library accepts', async () => {
    const before = deliveriesOf(deliveryId);
    // A second later, so the new webhook-timestamp (whole seconds) differs from the first one.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const after = await client.redeliverWebhook(deliveryId);
    expect(after.attempts.map((a) => [a.manual, a.status_code])).toEqual([
      [false, 204],
      [true, 204],
    ]);
    const sent = deliveriesOf(deliveryId);
    expect(sent).toHaveLength(before.length + 1);
    const again = sent.at(-1)!;
    expect(again.body).toBe(before[0]!.body);
    expect(Number(again.headers['webhook-timestamp'])).toBeGreaterThan(
      Number(before[0]!.headers['webhook-timestamp']),
    );
    expect(again.headers['webhook-signature']).not.toBe(before[0]!.headers['webhook-signature']);
    expect(verifiesWith(receiver.secrets[0]!, again)).toBe(true);
  });

  it('records a redelivery the receiver refused as a manual attempt with its status code', async () => {
    receiver.status = 500;
    try {
      const after = await client.redeliverWebhook(deliveryId);
      expect(after.attempts.at(-1)).toMatchObject({ manual: true, status_code: 500, error: 'HTTP 500' });
      // It had succeeded once; a refused redelivery does not undo that.
      expect(after.status).toBe('succeeded');
    } finally {
      receiver.status = 204;
    }
  });

  it('signs under both secrets during the overlap window, and under the new one only after it', async () => {
    const oldSecret = receiver.secrets[0]!;
    const rotation = await client.rotateWebhookSecret();
    const newSecret = rotation.secret;
    expect(newSecret).not.toBe(oldSecret);
    const expires = Date.parse(rotation.previous_secret_expires_at!);
    expect(expires - Date.now()).toBeLessThanOrEqual(E2E_WEBHOOK_SECRET_OVERLAP_SECONDS * 1000);
    expect((await client.getWebhookSecret()).secret).toBe(newSecret);

    await client.redeliverWebhook(deliveryId);
    expect(Date.now()).toBeLessThan(expires);
    const during = deliveriesOf(deliveryId).at(-1)!;
    expect(during.headers['webhook-signature']!.split(' ')).toHaveLength(2);
    expect(verifiesWith(oldSecret, during)).toBe(true);
    expect(verifiesWith(newSecret, during)).toBe(true);

    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expires - Date.now()) + 1000));
    await client.redeliverWebhook(deliveryId);
    const after = deliveriesOf(deliveryId).at(-1)!;
    expect(after).not.toBe(during);
    expect(after.headers['webhook-signature']!.split(' ')).toHaveLength(1);
    expect(verifiesWith(newSecret, after)).toBe(true);
    expect(verifiesWith(oldSecret, after)).toBe(false);
  });

  it("answers 404 to another tenant's redelivery and lists none of this tenant's deliveries to it", async () => {
    const other = new GigaTokClient({
      baseUrl: stack().apiUrl,
      apiKey: (await newTenant('e2e-deliveries-other')).key,
    });
    const sentBefore = deliveriesOf(deliveryId).length;
    await expect(other.redeliverWebhook(deliveryId)).rejects.toMatchObject({
      status: 404,
      code: 'not_found',
    });
    expect((await other.listWebhookDeliveries({ jobId })).data).toEqual([]);
    expect(deliveriesOf(deliveryId)).toHaveLength(sentBefore);
  });
});
