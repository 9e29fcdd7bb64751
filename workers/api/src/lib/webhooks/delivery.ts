// Webhook events of generation jobs and dataset runs, sent through the WEBHOOKS queue and signed per Standard Webhooks
// (webhook-id / webhook-timestamp / webhook-signature, shared/src/webhooks.ts). The message id and
// the body are fixed when the event is created, so every retry carries the same id (receivers
// deduplicate on it) and the same bytes; only the timestamp and signature are fresh per attempt. A
// redelivery (POST /v1/webhooks/deliveries/{id}/redeliver) is one more such attempt, sent at once.
// While a rotated-out secret is still in its overlap window, every attempt is signed under both.
import {
  checkWebhookUrl,
  type DatasetEventType,
  type GenerationEventType,
  newMessageId,
  type WebhookEventType,
  webhookHeaders,
} from '@gigatok/shared';
import { config } from '../config.ts';
import type { DatasetRecord } from '../datasets/store.ts';
import { datasetView } from '../datasets/view.ts';
import type { Job } from '../generations/jobs.ts';
import { generationView } from '../generations/view.ts';
import { signingSecrets } from './secrets.ts';
import {
  type AttemptRecord,
  type Delivery,
  type DeliverySubject,
  failDelivery,
  getDelivery,
  insertDelivery,
  reclaimOverdueDeliveries,
  recordAttempt,
  recordManualAttempt,
} from './store.ts';
import type { WebhookTarget } from './subscription.ts';

export interface WebhookMessage {
  delivery_id: string;
}

/** Growing delays between attempts (seconds); its length is the number of retries before giving up. */
export const WEBHOOK_RETRY_DELAYS = [5, 30, 120, 600, 1800, 3600, 7200] as const;
export const WEBHOOK_MAX_ATTEMPTS = WEBHOOK_RETRY_DELAYS.length + 1;
const WEBHOOK_TIMEOUT_MS = 10_000;

/**
 * Creates the delivery of `event` with `data` if `webhook` subscribes to it, and enqueues it only when
 * this call created it: a caller that runs twice for the same subject and event sends nothing more.
 */
async function emit(
  env: Env,
  tenantId: string,
  subject: DeliverySubject,
  webhook: WebhookTarget | null,
  event: WebhookEventType,
  data: unknown,
): Promise<void> {
  if (!webhook?.events.includes(event)) return;
  const id = newMessageId();
  const payload = JSON.stringify({ type: event, timestamp: new Date().toISOString(), data });
  const created = await insertDelivery(env.DB, {
    id,
    tenantId,
    ...subject,
    eventType: event,
    url: webhook.url,
    payload,
  });
  if (created) await env.WEBHOOKS.send({ delivery_id: id } satisfies WebhookMessage, { contentType: 'json' });
}

/** Creates the delivery of `event` for `job` if the job asked for it, and enqueues it once. */
export async function emitEvent(env: Env, job: Job, event: GenerationEventType): Promise<void> {
  await emit(env, job.tenantId, { jobId: job.id }, job.webhook, event, generationView(job));
}

/**
 * Creates the delivery of `event` for the current run of `dataset` (as its final state was just
 * written) if the dataset asked for it, and enqueues it once per run.
 */
export async function emitDatasetEvent(
  env: Env,
  dataset: DatasetRecord,
  event: DatasetEventType,
): Promise<void> {
  await emit(
    env,
    dataset.tenantId,
    { datasetId: dataset.id, runSeq: dataset.runSeq },
    dataset.webhook,
    event,
    datasetView(dataset),
  );
}

interface Outcome extends AttemptRecord {
  ok: boolean;
  /** No later attempt can succeed (the URL is refused by policy). */
  permanent: boolean;
}

/** One signed POST of `delivery`, signed under each of `secrets` (current first). */
async function attempt(env: Env, delivery: Delivery, secrets: readonly string[]): Promise<Outcome> {
  const started = Date.now();
  let url: string;
  try {
    // Re-checked at send time: the policy may have tightened since the job was created.
    url = checkWebhookUrl(delivery.url, {
      allowInsecureLoopback: config(env).allowInsecureWebhooks,
    }).toString();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return {
      ok: false,
      permanent: true,
      statusCode: null,
      error: `refused: ${message}`.slice(0, 500),
      durationMs: 0,
      startedAt: started,
    };
  }
  try {
    const headers = webhookHeaders({
      secret: secrets,
      id: delivery.id,
      timestamp: Math.floor(Date.now() / 1000),
      body: delivery.payload,
    });
    const response = await fetch(url, {
      method: 'POST',
      headers: { ...headers, 'Content-Type': 'application/json', 'User-Agent': 'gigatok-webhooks/1' },
      body: delivery.payload,
      // A redirect could lead anywhere, private addresses included: not followed, counted as a failure.
      redirect: 'manual',
      signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
    });
    await response.body?.cancel();
    const ok = response.status >= 200 && response.status < 300;
    return {
      ok,
      permanent: false,
      statusCode: response.status,
      error: ok ? null : `HTTP ${response.status}`,
      durationMs: Date.now() - started,
      startedAt: started,
    };
  } catch (error) {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    return {
      ok: false,
      permanent: false,
      statusCode: null,
      error: message.slice(0, 500),
      durationMs: Date.now() - started,
      startedAt: started,
    };
  }
}

/** The WEBHOOKS queue consumer for one message. */
export async function deliverWebhook(env: Env, message: Message<WebhookMessage>): Promise<void> {
  const delivery = await getDelivery(env.DB, message.body.delivery_id);
  if (delivery?.status !== 'pending') {
    message.ack(); // unknown, or already delivered / given up: a duplicate message
    return;
  }
  const secrets = await signingSecrets(env.DB, delivery.tenantId, Date.now());
  if (secrets.length === 0) {
    await recordAttempt(
      env.DB,
      delivery,
      { statusCode: null, error: 'tenant has no webhook secret', durationMs: 0, startedAt: Date.now() },
      'failed',
    );
    message.ack();
    return;
  }
  const outcome = await attempt(env, delivery, secrets);
  const number = delivery.attempts + 1;
  // WEBHOOK_RETRY_DELAYS (a var) replaces the schedule, e.g. with seconds in tests of the whole stack.
  const delays = config(env).webhookRetryDelays ?? WEBHOOK_RETRY_DELAYS;
  const next = outcome.ok
    ? 'succeeded'
    : outcome.permanent || number >= delays.length + 1
      ? 'failed'
      : 'pending';
  const delaySeconds = delays[number - 1] ?? delays.at(-1)!;
  await recordAttempt(env.DB, delivery, outcome, next, Date.now() + delaySeconds * 1000);
  if (next === 'pending') {
    message.retry({ delaySeconds });
  } else {
    message.ack();
  }
}

/**
 * Sends `delivery` once more, now, with its own webhook-id and body and a fresh timestamp and
 * signature, and records it as a manual attempt. Sent within the request (at most the 10 s attempt
 * timeout) so the caller sees the outcome; it neither uses up nor replaces the retry schedule.
 */
export async function redeliverWebhook(env: Env, delivery: Delivery): Promise<void> {
  const secrets = await signingSecrets(env.DB, delivery.tenantId, Date.now());
  const outcome: Outcome =
    secrets.length > 0
      ? await attempt(env, delivery, secrets)
      : {
          ok: false,
          permanent: true,
          statusCode: null,
          error: 'tenant has no webhook secret',
          durationMs: 0,
          startedAt: Date.now(),
        };
  await recordManualAttempt(env.DB, delivery, outcome, outcome.ok);
}

/**
 * Re-enqueues pending deliveries whose next attempt is more than `graceMs` overdue (the cron sweep):
 * a delivery is written before its message is sent, so a failed send would otherwise leave it pending
 * with nothing to send it. Delivery is at least once: if the old message only ran late, the receiver
 * sees the same webhook-id twice and deduplicates on it. Returns how many were re-enqueued.
 */
export async function enqueueOverdueDeliveries(env: Env, graceMs: number, limit: number): Promise<number> {
  const ids = await reclaimOverdueDeliveries(env.DB, Date.now() - graceMs, limit);
  if (ids.length > 0) {
    await env.WEBHOOKS.sendBatch(
      ids.map((id) => ({ body: { delivery_id: id } satisfies WebhookMessage, contentType: 'json' as const })),
    );
  }
  return ids.length;
}

/** The webhooks dead-letter consumer: a delivery whose messages ran out of retries is failed. */
export async function deadLetterWebhook(env: Env, message: Message<WebhookMessage>): Promise<void> {
  await failDelivery(env.DB, message.body.delivery_id);
  message.ack();
}
