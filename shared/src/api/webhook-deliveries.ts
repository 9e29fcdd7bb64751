// Schemas of the webhook delivery log and secret rotation (/v1/webhooks/deliveries,
// /v1/webhooks/secret/rotate): the delivery and attempt objects, their list page and its query.
import { z } from 'zod';
import { DATASET_ID_RE, JOB_ID_RE, MESSAGE_ID_RE, WEBHOOK_SECRET_RE } from '../ids.ts';
import { enumField, patternField } from '../schema-fields.ts';
import {
  LIST_PAGE_QUERY_FIELDS,
  listPageSchema,
  WEBHOOK_EVENT_TYPES,
  WebhookEventTypeSchema,
} from './public.ts';

const isoTime = z.iso.datetime();

/** pending: queued or waiting for a retry; succeeded: a 2xx came back once; failed: retries ran out. */
export const WEBHOOK_DELIVERY_STATUSES = ['pending', 'succeeded', 'failed'] as const;
export type WebhookDeliveryStatus = (typeof WEBHOOK_DELIVERY_STATUSES)[number];

export const WebhookDeliveryIdSchema = patternField(
  'id',
  MESSAGE_ID_RE,
  'a delivery id "msg_" + 32 base32 characters',
  36,
);

export const WebhookAttemptSchema = z
  .strictObject({
    at: isoTime,
    /** Sent by POST /v1/webhooks/deliveries/{id}/redeliver rather than by the retry schedule. */
    manual: z.boolean(),
    status_code: z.number().int().min(100).max(599).nullable(),
    error: z.string().nullable(),
    duration_ms: z.number().int().min(0),
  })
  .meta({
    id: 'WebhookAttempt',
    description:
      'One HTTP attempt of a delivery: when it started, the status code the receiver answered (null when ' +
      'no response came back), the error text of a non-2xx or network failure, and how long it took.',
  });
export type WebhookAttempt = z.infer<typeof WebhookAttemptSchema>;

export const WebhookDeliverySchema = z
  .strictObject({
    id: WebhookDeliveryIdSchema,
    object: z.literal('webhook_delivery'),
    /** The generation the event is of; null for a dataset's event. */
    job_id: z.string().regex(JOB_ID_RE).nullable(),
    /** The dataset the event is of; null for a generation's event. */
    dataset_id: z.string().regex(DATASET_ID_RE).nullable(),
    event: WebhookEventTypeSchema,
    url: z.string(),
    status: z.enum(WEBHOOK_DELIVERY_STATUSES),
    created_at: isoTime,
    completed_at: isoTime.nullable(),
    /** When the queue sends the next attempt; null unless pending. */
    next_attempt_at: isoTime.nullable(),
    attempts: z.array(WebhookAttemptSchema),
  })
  .meta({
    id: 'WebhookDelivery',
    description:
      'One event of one generation (`job_id`) or one dataset run (`dataset_id`) sent to its webhook URL. ' +
      '`id` is the Standard Webhooks `webhook-id`, the same on every attempt and redelivery. Attempts are ' +
      'oldest first.',
  });
export type WebhookDelivery = z.infer<typeof WebhookDeliverySchema>;

export const WebhookDeliveryListSchema = listPageSchema(WebhookDeliverySchema).meta({
  id: 'WebhookDeliveryList',
  description: 'A page of webhook deliveries, newest first.',
});
export type WebhookDeliveryList = z.infer<typeof WebhookDeliveryListSchema>;

/** Query of GET /v1/webhooks/deliveries; every bad value is reported under its own name. */
export const ListWebhookDeliveriesQuerySchema = z.object({
  ...LIST_PAGE_QUERY_FIELDS,
  job_id: patternField('job_id', JOB_ID_RE, 'a generation id "job_" + 32 base32 characters', 36).optional(),
  dataset_id: patternField(
    'dataset_id',
    DATASET_ID_RE,
    'a dataset id "ds_" + 32 base32 characters',
    35,
  ).optional(),
  event: enumField('event', WEBHOOK_EVENT_TYPES).optional(),
  status: enumField('status', WEBHOOK_DELIVERY_STATUSES).optional(),
});

export const WebhookSecretRotationSchema = z
  .strictObject({
    secret: z.string().regex(WEBHOOK_SECRET_RE),
    previous_secret_expires_at: isoTime.nullable(),
  })
  .meta({
    id: 'WebhookSecretRotation',
    description:
      'The new signing secret, shown once. Until `previous_secret_expires_at` every delivery carries two ' +
      'signatures (new secret first, then the previous one); null when the previous secret stopped at once.',
  });
export type WebhookSecretRotation = z.infer<typeof WebhookSecretRotationSchema>;
