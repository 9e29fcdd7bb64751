// GET /v1/webhooks/secret: the tenant's Standard Webhooks signing secret (whsec_…), to verify the
// webhook-signature header of deliveries.
import { ApiError, ErrorCode, WebhookSecretResponseSchema } from '@gigatok/shared';
import { Hono } from 'hono';
import type { AppEnv } from '../env.ts';
import { webhookSecret } from '../lib/auth/tenants.ts';
import { COMMON, describe, json, problems } from '../lib/openapi/describe.ts';

export const webhooks = new Hono<AppEnv>().get(
  '/secret',
  describe({
    operationId: 'getWebhookSecret',
    summary: 'The Standard Webhooks signing secret of your deliveries',
    responses: { '200': json('The secret.', WebhookSecretResponseSchema), ...problems(...COMMON, 404) },
  }),
  async (c) => {
    const secret = await webhookSecret(c.env.DB, c.get('caller').tenantId);
    if (!secret) throw new ApiError(ErrorCode.not_found, 'this tenant has no webhook secret');
    return c.json({ secret }, 200, { 'Cache-Control': 'no-store' });
  },
);
