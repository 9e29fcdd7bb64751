// GET /v1/healthz: liveness of the Worker and its database, without an API key. The backend is checked
// only when asked (`?backend=1`), so a GPU host that is down does not make the edge look dead.
import { BackendReadyResponseSchema, type HealthResponse } from '@gigatok/shared';
import { Hono } from 'hono';
import type { AppEnv } from '../env.ts';
import { callBackend } from '../lib/backend/client.ts';

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

export const health = new Hono<AppEnv>().get('/', async (c) => {
  let ok = true;
  try {
    await c.env.DB.prepare('SELECT 1').first();
  } catch (error) {
    console.error(JSON.stringify({ message: 'health check: D1 failed', error: String(error) }));
    ok = false;
  }
  const body: HealthResponse = { status: ok ? 'ok' : 'degraded' };
  if (c.req.query('backend') === '1') body.backend = await backendReadiness(c.env);
  return c.json(body, ok ? 200 : 503, { 'Cache-Control': 'no-store' });
});
