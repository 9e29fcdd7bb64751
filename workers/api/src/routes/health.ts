// GET /v1/healthz: liveness of the Worker and its database, without an API key. The backend is checked
// only when asked (`?backend=1`), so a GPU host that is down does not make the edge look dead.
import {
  ApiError,
  BackendReadyResponseSchema,
  ErrorCode,
  type HealthResponse,
  HealthResponseSchema,
} from '@gigatok/shared';
import { Hono } from 'hono';
import type { AppEnv } from '../env.ts';
import { callBackend } from '../lib/backend/client.ts';
import { withHeaders } from '../lib/http/http-errors.ts';
import { describe, json, problems } from '../lib/openapi/describe.ts';

async function backendReadiness(env: Env): Promise<NonNullable<HealthResponse['backend']>> {
  try {
    const response = await callBackend(env, {
      method: 'GET',
      path: '/readyz',
      timeoutMs: 3000,
      passStatuses: [503],
    });
    const parsed = BackendReadyResponseSchema.safeParse(await response.json());
    return parsed.success ? parsed.data.status : 'unavailable';
  } catch {
    return 'unavailable'; // readiness is reported, never thrown
  }
}

const operation = describe({
  operationId: 'getHealth',
  summary: 'Liveness of the API',
  description:
    'No API key. 200 while the Worker reaches its database; 503 service_unavailable (problem+json) when it ' +
    'cannot. `?backend=1` adds the GPU backend readiness, which never fails the check.',
  security: [],
  parameters: [{ name: 'backend', in: 'query', required: false, schema: { type: 'string', enum: ['1'] } }],
  responses: { '200': json('Alive.', HealthResponseSchema), ...problems(503) },
});

export const health = new Hono<AppEnv>().get('/', operation, async (c) => {
  try {
    await c.env.DB.prepare('SELECT 1').first();
  } catch (cause) {
    console.error(JSON.stringify({ message: 'health check: D1 failed', error: String(cause) }));
    throw withHeaders(new ApiError(ErrorCode.service_unavailable, 'the database is unreachable', { cause }), {
      'Cache-Control': 'no-store',
    });
  }
  const body: HealthResponse = { status: 'ok' };
  if (c.req.query('backend') === '1') body.backend = await backendReadiness(c.env);
  return c.json(body, 200, { 'Cache-Control': 'no-store' });
});
