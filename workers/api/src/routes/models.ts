// GET /v1/models: the models the backend has loaded (ids, shapes, classes, sampling defaults), from the
// Worker's model cache so that listing them does not cost a backend round trip.
import { Hono } from 'hono';
import type { AppEnv } from '../env.ts';
import { listModels } from '../lib/backend/models.ts';

export const models = new Hono<AppEnv>().get('/', async (c) => {
  const data = await listModels(c.env);
  return c.json({ object: 'list', data }, 200, { 'Cache-Control': 'private, max-age=60' });
});
