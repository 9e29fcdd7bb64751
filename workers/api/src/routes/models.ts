// GET /v1/models: the models the backend has loaded (ids, shapes, classes, sampling defaults), from the
// Worker's model cache so that listing them does not cost a backend round trip.

import { ModelListSchema } from '@gigatok/shared';
import { Hono } from 'hono';
import type { AppEnv } from '../env.ts';
import { listModels } from '../lib/backend/models.ts';
import { BACKEND, COMMON, describe, json, problems } from '../lib/openapi/describe.ts';

export const models = new Hono<AppEnv>().get(
  '/',
  describe({
    operationId: 'listModels',
    summary: 'The loaded models',
    responses: { '200': json('The models.', ModelListSchema), ...problems(...COMMON, ...BACKEND) },
  }),
  async (c) => {
    const data = await listModels(c.env);
    return c.json({ object: 'list', data }, 200, { 'Cache-Control': 'private, max-age=60' });
  },
);
