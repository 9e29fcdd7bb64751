// The OpenAPI 3.1 document of the public API, built from the app's real routes: every route carries
// its operation (lib/openapi/describe.ts), the schemas are shared's zod schemas converted with zod 4's
// native JSON Schema output (draft 2020-12, OpenAPI 3.1's schema dialect). A route that carries no
// operation makes the build throw, naming it. Pure: no Worker bindings, so a Node test validates it.
import { DatasetWebhookPayloadSchema, ProblemSchema, WebhookPayloadSchema } from '@gigatok/shared';
import { z } from 'zod';
import { TIMING_METRICS } from '../http/server-timing.ts';
import { type Json, type Operation, operationOf, ref } from './describe.ts';

/** What the document needs of a route: Hono's `app.routes` entries. */
export interface RouteEntry {
  method: string;
  path: string;
  handler: unknown;
}

/** `/v1/tokens/:id` -> `/v1/tokens/{id}` (OpenAPI path templating). */
export function openApiPath(honoPath: string): string {
  return honoPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

/** The documented operations of `routes`, keyed by path and lower-case method; throws on a gap. */
export function operationsOf(routes: readonly RouteEntry[]): Record<string, Record<string, Operation>> {
  const found = new Map<
    string,
    { method: string; path: string; operation: Operation | 'internal' | undefined }
  >();
  for (const route of routes) {
    if (route.method === 'ALL') continue; // middleware mounted with use()
    const key = `${route.method} ${route.path}`;
    const current = found.get(key) ?? { method: route.method, path: route.path, operation: undefined };
    current.operation ??= operationOf(route.handler);
    found.set(key, current);
  }
  const paths: Record<string, Record<string, Operation>> = {};
  const missing: string[] = [];
  for (const { method, path, operation } of found.values()) {
    if (operation === 'internal') continue;
    if (operation === undefined) {
      missing.push(`${method} ${path}`);
      continue;
    }
    const key = openApiPath(path);
    paths[key] = { ...paths[key], [method.toLowerCase()]: operation };
  }
  if (missing.length > 0) {
    throw new Error(`routes without an OpenAPI operation (add describe(...)): ${missing.join(', ')}`);
  }
  return paths;
}

const SCHEMA_REF = /"#\/components\/schemas\/([A-Za-z0-9_.-]+)"/g;
const refsIn = (value: unknown): string[] =>
  [...JSON.stringify(value ?? null).matchAll(SCHEMA_REF)].map((m) => m[1]!);

/**
 * Components: every schema the operations reach, each converted once. Request bodies and parameters
 * use zod's input view, responses its output view; a schema reached from both sides takes the
 * response view.
 */
function components(
  paths: Record<string, Record<string, Operation>>,
  extraResponses: Json,
): Record<string, Json> {
  const convert = (io: 'input' | 'output') =>
    z.toJSONSchema(z.globalRegistry, {
      io,
      target: 'draft-2020-12',
      uri: (id) => `#/components/schemas/${id}`,
      unrepresentable: 'any',
    }).schemas as Record<string, Json>;
  const input = convert('input');
  const output = convert('output');
  const wanted = new Set<string>();
  const visit = (all: Record<string, Json>, id: string) => {
    if (wanted.has(id)) return;
    wanted.add(id);
    for (const next of refsIn(all[id])) visit(all, next);
  };
  const operations = Object.values(paths).flatMap((item) => Object.values(item));
  for (const id of [...operations.flatMap((op) => refsIn(op.responses)), ...refsIn(extraResponses)]) {
    visit(output, id);
  }
  const responseIds = new Set(wanted);
  for (const id of operations.flatMap((op) => [...refsIn(op.requestBody), ...refsIn(op.parameters)])) {
    visit(input, id);
  }
  const out: Record<string, Json> = {};
  for (const id of [...wanted].sort()) {
    const { $schema: _s, $id: _i, ...schema } = (responseIds.has(id) ? output[id] : input[id]) ?? {};
    out[id] = schema;
  }
  return out;
}

const PROBLEM_STATUSES: Record<number, string> = {
  400: 'Invalid request (invalid_json, invalid_parameter, missing_parameter, invalid_image, invalid_tokens, unknown_model, invalid_webhook_url).',
  401: 'Missing, invalid or revoked API key.',
  404: 'Not found (or owned by another tenant).',
  406: 'No acceptable representation.',
  409: 'Conflict (not_cancelable).',
  413: 'Body or image too large.',
  415: 'Unsupported media type.',
  422: 'Unprocessable: an image whose header claims a side or an aspect ratio past the limits (image_dimensions_unsupported), an image that could not be resized (image_resize_failed), or an idempotency key reused with a different body.',
  429: 'Rate limited, or too many generations in flight (Retry-After).',
  502: 'The backend failed.',
  503: 'The backend or the database of the API is unavailable (backend_unavailable, service_unavailable; Retry-After where retrying helps).',
  504: 'The backend timed out.',
};

/** The Server-Timing header every answer carries (lib/http/server-timing.ts names the metrics). */
const SERVER_TIMING = {
  description:
    'W3C Server Timing: where the request spent its time, in ms, with the cache layer that answered ' +
    'in desc. Metrics: ' +
    Object.entries(TIMING_METRICS)
      .map(([name, what]) => `${name} (${what})`)
      .join('; ') +
    '.',
  schema: { type: 'string' },
};

/** A copy of `responses` in which every response object (not a $ref) lists Server-Timing. */
function withServerTiming(responses: Record<string, Json>): Record<string, Json> {
  return Object.fromEntries(
    Object.entries(responses).map(([status, response]) => [
      status,
      '$ref' in response
        ? response
        : { ...response, headers: { 'Server-Timing': SERVER_TIMING, ...((response.headers as Json) ?? {}) } },
    ]),
  );
}

const cached = new WeakMap<readonly RouteEntry[], Json>();

/** The document for the app whose `app.routes` is `routes` (built once per route list). */
export function openApiDocument(routes: readonly RouteEntry[]): Json {
  const hit = cached.get(routes);
  if (hit) return hit;
  const problemContent = { 'application/problem+json': { schema: ref(ProblemSchema) } };
  const responses: Record<string, Json> = {};
  for (const [status, description] of Object.entries(PROBLEM_STATUSES)) {
    responses[`Problem${status}`] = { description, content: problemContent };
  }
  const paths: Record<string, Record<string, Operation>> = {};
  for (const [path, item] of Object.entries(operationsOf(routes))) {
    paths[path] = Object.fromEntries(
      Object.entries(item).map(([method, op]) => [
        method,
        { ...op, responses: withServerTiming(op.responses) },
      ]),
    );
  }
  const webhookBody = { 'application/json': { schema: ref(WebhookPayloadSchema) } };
  const datasetWebhookBody = { 'application/json': { schema: ref(DatasetWebhookPayloadSchema) } };
  const acknowledged = {
    '200': { description: 'Any 2xx acknowledges the delivery; anything else is retried.' },
  };
  const document: Json = {
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: {
      title: 'GigaTok Edge API',
      version: '1.0.0',
      description:
        'Visual tokenization (image <-> discrete 1D tokens, GigaTok) and class-conditional autoregressive image ' +
        'generation. Errors are RFC 9457 problem+json.',
    },
    servers: [{ url: '/' }],
    security: [{ apiKey: [] }],
    paths,
    webhooks: {
      generationEvent: {
        post: {
          summary:
            'A generation changed state (Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature).',
          requestBody: { required: true, content: webhookBody },
          responses: acknowledged,
        },
      },
      datasetEvent: {
        post: {
          summary:
            'A dataset run completed, failed or was canceled (Standard Webhooks: webhook-id, ' +
            'webhook-timestamp, webhook-signature).',
          requestBody: { required: true, content: datasetWebhookBody },
          responses: acknowledged,
        },
      },
    },
    components: {
      securitySchemes: {
        apiKey: {
          type: 'http',
          scheme: 'bearer',
          description: 'An API key: Authorization: Bearer gtk_live_...',
        },
      },
      schemas: components(paths, { responses, webhookBody, datasetWebhookBody }),
      responses: withServerTiming(responses),
    },
  };
  cached.set(routes, document);
  return document;
}
