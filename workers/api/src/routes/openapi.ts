// GET /v1/openapi.json: the OpenAPI 3.1 description of this API (public, no API key), built from the
// routes of the app that mounts this one, so it always describes what is served.
import { Hono } from 'hono';
import type { AppEnv } from '../env.ts';
import { describe } from '../lib/openapi/describe.ts';
import { openApiDocument, type RouteEntry } from '../lib/openapi/document.ts';

export function openapi(routes: () => readonly RouteEntry[]) {
  return new Hono<AppEnv>().get(
    '/',
    describe({
      operationId: 'getOpenApi',
      summary: 'This document',
      security: [],
      responses: { '200': { description: 'The OpenAPI 3.1 document.', content: { 'application/json': {} } } },
    }),
    (c) => c.json(openApiDocument(routes()), 200, { 'Cache-Control': 'public, max-age=300' }),
  );
}
