// GET /v1/models: what each loaded model is (sizes, classes, sampling defaults), from its manifest.

import { summarizeManifest } from '@gigatok/shared';
import { Hono } from 'hono';
import type { AppEnv } from '../context.ts';
import { methodNotAllowed } from './request.ts';

export const modelRoutes = new Hono<AppEnv>();

modelRoutes.get('/', (c) => {
  const models = [...c.var.deps.state.models.values()].map((s) => summarizeManifest(s.model.manifest));
  return c.json({ models });
});

modelRoutes.all('/', methodNotAllowed('GET'));
