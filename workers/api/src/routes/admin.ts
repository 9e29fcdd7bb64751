// POST /v1/admin/keys and POST /v1/admin/keys/{id}/revoke: mint and revoke API keys. Not public: the
// routes exist only when the ADMIN_TOKEN secret is set (otherwise they answer 404 like any unknown
// path) and require `Authorization: Bearer <ADMIN_TOKEN>`. The local stack sets ADMIN_TOKEN in
// .dev.vars to create its keys; a production deployment normally leaves it unset.
import {
  API_KEY_ID_RE,
  ApiError,
  ErrorCode,
  fromZodError,
  generateApiKey,
  generateWebhookSecret,
  hashApiKey,
  newApiKeyId,
  randomId,
  sha256,
  timingSafeEqual,
} from '@gigatok/shared';
import { Hono } from 'hono';
import { createMiddleware } from 'hono/factory';
import { z } from 'zod';
import type { AppEnv } from '../env.ts';
import { forgetApiKey } from '../lib/auth/api-keys.ts';
import { insertApiKey, insertTenant, revokeApiKey, tenantExists } from '../lib/auth/tenants.ts';
import { withHeaders } from '../lib/http/http-errors.ts';
import { readJson } from '../lib/http/request-body.ts';
import { internalRoute } from '../lib/openapi/describe.ts';
import { JSON_BODY_LIMIT, limitBody } from '../middleware/body-limit.ts';

const TENANT_ID_RE = /^ten_[a-z2-7]{32}$/;

const CreateKeyRequest = z.strictObject({
  tenant_id: z.string().regex(TENANT_ID_RE).optional(),
  tenant_name: z.string().min(1).max(200).optional(),
  name: z.string().min(1).max(200).optional(),
});

const requireAdmin = createMiddleware<AppEnv>(async (c, next) => {
  const expected = c.env.ADMIN_TOKEN;
  if (!expected) throw new ApiError(ErrorCode.not_found, `no route for ${c.req.method} ${c.req.path}`);
  const given = /^Bearer[ ]+(\S+)$/i.exec(c.req.header('authorization') ?? '')?.[1] ?? '';
  // Compare digests so the comparison time does not depend on the token's length or content.
  if (!timingSafeEqual(await sha256(given), await sha256(expected))) {
    throw withHeaders(new ApiError(ErrorCode.unauthorized, 'the admin token is not valid'), {
      'WWW-Authenticate': 'Bearer realm="gigatok-admin"',
    });
  }
  await next();
});

export const admin = new Hono<AppEnv>()
  .use(requireAdmin)
  .post('/keys', internalRoute(), limitBody(JSON_BODY_LIMIT), async (c) => {
    const parsed = CreateKeyRequest.safeParse(await readJson(c.req.raw, { allowEmpty: true }));
    if (!parsed.success) throw fromZodError(parsed.error);
    const body = parsed.data;
    let tenantId = body.tenant_id;
    if (tenantId === undefined) {
      tenantId = randomId('ten');
      await insertTenant(c.env.DB, {
        id: tenantId,
        name: body.tenant_name ?? 'default',
        webhookSecret: generateWebhookSecret(),
      });
    } else if (!(await tenantExists(c.env.DB, tenantId))) {
      throw new ApiError(ErrorCode.not_found, `no tenant '${tenantId}'`, { field: 'tenant_id' });
    }
    const key = generateApiKey();
    const id = newApiKeyId();
    await insertApiKey(c.env.DB, {
      id,
      tenantId,
      keyHash: await hashApiKey(key),
      prefix: key.slice(0, 13),
      name: body.name ?? null,
    });
    return c.json({ object: 'api_key', id, key, tenant_id: tenantId }, 201, { 'Cache-Control': 'no-store' });
  })
  .post('/keys/:id/revoke', internalRoute(), async (c) => {
    const id = c.req.param('id');
    const revoked = API_KEY_ID_RE.test(id) ? await revokeApiKey(c.env.DB, id) : null;
    if (revoked === null) throw new ApiError(ErrorCode.not_found, `no live API key '${id}'`);
    // This isolate and colo refuse the key from now on; other colos within AUTH_CACHE_TTL_SECONDS.
    await forgetApiKey(revoked);
    return c.json({ object: 'api_key', id, revoked: true }, 200, { 'Cache-Control': 'no-store' });
  });
