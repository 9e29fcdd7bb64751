// Liveness, readiness and Prometheus metrics: unauthenticated on purpose (probes and scrapers have no
// Worker secret), and they expose nothing but model ids and load figures.
import { Hono } from 'hono';
import type { AppEnv } from '../context.ts';

export const healthRoutes = new Hono<AppEnv>();

healthRoutes.get('/healthz', (c) => c.json({ status: 'ok' }));

/** 200 only once every model is loaded and warmed up; 503 while loading or draining for shutdown. */
healthRoutes.get('/readyz', (c) => {
  const { state } = c.var.deps;
  const models = [...state.models.keys()];
  if (state.status === 'ready') return c.json({ status: 'ready', models });
  // The contract knows `ready` and `loading`; draining for shutdown and a failed load also answer
  // `loading` with 503 (a failed load ends the process: main.ts exits 1).
  return c.json({ status: 'loading' as const, models }, 503, { 'Cache-Control': 'no-store' });
});

healthRoutes.get('/metrics', async (c) => {
  const { metrics, state } = c.var.deps;
  for (const service of state.models.values()) {
    for (const [graph, n] of Object.entries(service.pending()))
      metrics.pending.set({ model: service.id, graph }, n);
  }
  return c.body(await metrics.registry.metrics(), 200, { 'Content-Type': metrics.registry.contentType });
});
