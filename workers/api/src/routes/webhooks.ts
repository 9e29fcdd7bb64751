// /v1/webhooks: the tenant's Standard Webhooks signing secret and the log of deliveries.
//   GET  /secret                      the current secret (whsec_…)
//   POST /secret/rotate               a new secret; the old one keeps signing for the overlap window
//   GET  /deliveries                  deliveries newest first with their attempts; filters, cursor pages
//   POST /deliveries/{id}/redeliver   send one again now (same webhook-id, fresh signature)
import {
  ApiError,
  ErrorCode,
  fromZodError,
  generateWebhookSecret,
  LIMITS,
  ListWebhookDeliveriesQuerySchema,
  MESSAGE_ID_RE,
  WEBHOOK_DELIVERY_STATUSES,
  WEBHOOK_EVENT_TYPES,
  WebhookDeliveryListSchema,
  WebhookDeliverySchema,
  WebhookSecretResponseSchema,
  WebhookSecretRotationSchema,
} from '@gigatok/shared';
import { Hono } from 'hono';
import type { AppEnv } from '../env.ts';
import { config } from '../lib/config.ts';
import { decodeCursor, encodeCursor } from '../lib/http/cursor.ts';
import { COMMON, describe, idParam, json, problems } from '../lib/openapi/describe.ts';
import { redeliverWebhook } from '../lib/webhooks/delivery.ts';
import { currentWebhookSecret, rotateWebhookSecret } from '../lib/webhooks/secrets.ts';
import { attemptsOf, getTenantDelivery, listTenantDeliveries } from '../lib/webhooks/store.ts';
import { deliveryView } from '../lib/webhooks/view.ts';

const NO_STORE = { 'Cache-Control': 'no-store' };

function noSecret(): ApiError {
  return new ApiError(ErrorCode.not_found, 'this tenant has no webhook secret');
}

const query = (name: string, schema: Record<string, unknown>, description: string) => ({
  name,
  in: 'query',
  required: false,
  description,
  schema,
});

export const webhooks = new Hono<AppEnv>()
  .get(
    '/secret',
    describe({
      operationId: 'getWebhookSecret',
      summary: 'The Standard Webhooks signing secret of your deliveries',
      responses: { '200': json('The secret.', WebhookSecretResponseSchema), ...problems(...COMMON, 404) },
    }),
    async (c) => {
      const secret = await currentWebhookSecret(c.env.DB, c.get('caller').tenantId);
      if (!secret) throw noSecret();
      return c.json({ secret }, 200, NO_STORE);
    },
  )
  .post(
    '/secret/rotate',
    describe({
      operationId: 'rotateWebhookSecret',
      summary: 'Replace the signing secret; the old one keeps signing for an overlap window',
      description:
        'Returns the new secret once. Until `previous_secret_expires_at` (the WEBHOOK_SECRET_OVERLAP_SECONDS ' +
        'var, 24 h by default) each delivery carries two `v1,` signatures, under the new secret first and the ' +
        'previous one second, so a receiver holding either verifies it. Rotating again inside the window ends ' +
        'it: only the secret just replaced stays valid next to the new one.',
      responses: {
        '200': json('The new secret.', WebhookSecretRotationSchema),
        ...problems(...COMMON, 404),
      },
    }),
    async (c) => {
      const now = Date.now();
      const secret = generateWebhookSecret();
      const rotated = await rotateWebhookSecret(
        c.env.DB,
        c.get('caller').tenantId,
        secret,
        config(c.env).webhookSecretOverlapMs,
        now,
      );
      if (!rotated.rotated) throw noSecret();
      const expires = rotated.previousExpiresAt;
      return c.json(
        { secret, previous_secret_expires_at: expires === null ? null : new Date(expires).toISOString() },
        200,
        NO_STORE,
      );
    },
  )
  .get(
    '/deliveries',
    describe({
      operationId: 'listWebhookDeliveries',
      summary: 'List webhook deliveries and their attempts, newest first',
      parameters: [
        query(
          'job_id',
          { type: 'string', pattern: '^job_[a-z2-7]{32}$' },
          'Only the deliveries of this generation.',
        ),
        query(
          'dataset_id',
          { type: 'string', pattern: '^ds_[a-z2-7]{32}$' },
          "Only the deliveries of this dataset's runs.",
        ),
        query('event', { type: 'string', enum: [...WEBHOOK_EVENT_TYPES] }, 'Only this event type.'),
        query('status', { type: 'string', enum: [...WEBHOOK_DELIVERY_STATUSES] }, 'Only this status.'),
        query(
          'limit',
          { type: 'integer', minimum: 1, maximum: LIMITS.maxListLimit },
          'Page size (default 20).',
        ),
        query(
          'cursor',
          { type: 'string', maxLength: LIMITS.maxCursorLength },
          '`next_cursor` of the previous page.',
        ),
      ],
      responses: {
        '200': json('A page of deliveries.', WebhookDeliveryListSchema),
        ...problems(400, ...COMMON),
      },
    }),
    async (c) => {
      const parsed = ListWebhookDeliveriesQuerySchema.safeParse(c.req.query());
      if (!parsed.success) throw fromZodError(parsed.error);
      const { limit = LIMITS.defaultListLimit, cursor, job_id, dataset_id, event, status } = parsed.data;
      const after = cursor ? decodeCursor(cursor, MESSAGE_ID_RE) : null;
      const page = await listTenantDeliveries(
        c.env.DB,
        c.get('caller').tenantId,
        { jobId: job_id, datasetId: dataset_id, eventType: event, status },
        limit,
        after,
      );
      const attempts = await attemptsOf(
        c.env.DB,
        page.deliveries.map((d) => d.id),
      );
      return c.json(
        {
          object: 'list',
          data: page.deliveries.map((d) => deliveryView(d, attempts)),
          next_cursor: page.next ? encodeCursor(page.next) : null,
        },
        200,
        NO_STORE,
      );
    },
  )
  .post(
    '/deliveries/:id/redeliver',
    describe({
      operationId: 'redeliverWebhook',
      summary: 'Send a delivery again now',
      description:
        'Sends the same body with the same `webhook-id` (receivers deduplicate on it), a new ' +
        '`webhook-timestamp` and a fresh signature, within this request (at most 10 s), and records it as a ' +
        'manual attempt. Answers 200 with the delivery whatever the receiver answered: the last attempt says ' +
        'how it went. A 2xx marks the delivery succeeded; a failure leaves its status and retry schedule as ' +
        'they were.',
      parameters: [idParam('msg', 'webhook delivery')],
      responses: {
        '200': json('The delivery, its new attempt last.', WebhookDeliverySchema),
        ...problems(...COMMON, 404),
      },
    }),
    async (c) => {
      const id = c.req.param('id');
      const { tenantId } = c.get('caller');
      const delivery = MESSAGE_ID_RE.test(id) ? await getTenantDelivery(c.env.DB, tenantId, id) : null;
      if (!delivery) throw new ApiError(ErrorCode.not_found, `no webhook delivery '${id}'`);
      await redeliverWebhook(c.env, delivery);
      const updated = (await getTenantDelivery(c.env.DB, tenantId, id)) ?? delivery;
      return c.json(deliveryView(updated, await attemptsOf(c.env.DB, [id])), 200, NO_STORE);
    },
  );
