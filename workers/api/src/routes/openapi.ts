// GET /v1/openapi.json: the OpenAPI 3.1 description of this API (public, no API key).
import { Hono } from 'hono';
import type { AppEnv } from '../env.ts';
import { openApiDocument } from '../lib/openapi/document.ts';

export const openapi = new Hono<AppEnv>().get('/', (c) =>
  c.json(openApiDocument(), 200, { 'Cache-Control': 'public, max-age=300' }),
);
