// GET /v1/models: what each loaded model is (sizes, classes, sampling defaults), from its manifest, and
// how fast it has generated so far (seconds per image), which the Worker sizes long jobs' chunks from.

import { summarizeManifest } from '@gigatok/shared';
import { Hono } from 'hono';
import type { AppEnv } from '../context.ts';
import { methodNotAllowed } from './request.ts';

export const modelRoutes = new Hono<AppEnv>();

modelRoutes.get('/', (c) => {
  const services = [...c.var.deps.state.models.values()];
  const estimates: Record<string, number> = {};
  for (const service of services) {
    const seconds = service.generateSpeed.secondsPerImage;
    if (seconds !== null) estimates[service.id] = seconds;
  }
  return c.json({
    models: services.map((s) => summarizeManifest(s.model.manifest)),
    estimated_seconds_per_image: estimates,
  });
});

modelRoutes.all('/', methodNotAllowed('GET'));
