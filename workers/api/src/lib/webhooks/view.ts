// The public shape of a webhook delivery (shared's WebhookDeliverySchema) from its D1 rows. The
// payload is not shown: it is the event as sent, and GET /v1/generations/{id} or GET /v1/datasets/{id}
// has its subject.
import type { WebhookDelivery, WebhookEventType } from '@gigatok/shared';
import type { Delivery, StoredAttempt } from './store.ts';

const iso = (ms: number) => new Date(ms).toISOString();

export function deliveryView(delivery: Delivery, attempts: readonly StoredAttempt[]): WebhookDelivery {
  return {
    id: delivery.id,
    object: 'webhook_delivery',
    job_id: delivery.jobId,
    dataset_id: delivery.datasetId,
    event: delivery.eventType as WebhookEventType,
    url: delivery.url,
    status: delivery.status,
    created_at: iso(delivery.createdAt),
    completed_at: delivery.completedAt === null ? null : iso(delivery.completedAt),
    next_attempt_at:
      delivery.status === 'pending' && delivery.nextAttemptAt !== null ? iso(delivery.nextAttemptAt) : null,
    attempts: attempts
      .filter((a) => a.deliveryId === delivery.id)
      .map((a) => ({
        at: iso(a.createdAt),
        manual: a.manual,
        status_code: a.statusCode,
        error: a.error,
        duration_ms: a.durationMs,
      })),
  };
}
