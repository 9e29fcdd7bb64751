// OpenAPI operations declared where the routes are. `describe(operation)` is a pass-through
// middleware that carries the route's operation object; lib/openapi/document.ts walks the app's real
// routes and builds the document from what each carries, so a route without one cannot be served
// undocumented (the document refuses to build and its test fails). Handlers keep their own parsing,
// which answers bad input as problem+json naming the field and the limit; the schemas referenced here
// are shared's zod schemas, the same ones the handlers validate with.
import { LIMITS, TOKENS_MEDIA_TYPE, TokensResponseSchema } from '@gigatok/shared';
import type { MiddlewareHandler } from 'hono';
import { z } from 'zod';

export type Json = Record<string, unknown>;

/** An OpenAPI 3.1 operation object (paths.{path}.{method}). */
export interface Operation extends Json {
  operationId: string;
  summary: string;
  responses: Record<string, Json>;
}

const operations = new WeakMap<object, Operation | 'internal'>();

/** Declares the OpenAPI operation of the route it is placed on (before the handler). */
export function describe(operation: Operation): MiddlewareHandler {
  const middleware: MiddlewareHandler = async (_c, next) => {
    await next();
  };
  operations.set(middleware, operation);
  return middleware;
}

/** Marks a route as deliberately absent from the public document (the admin routes). */
export function internalRoute(): MiddlewareHandler {
  const middleware: MiddlewareHandler = async (_c, next) => {
    await next();
  };
  operations.set(middleware, 'internal');
  return middleware;
}

/** What `describe` or `internalRoute` attached to a handler, if anything. */
export function operationOf(handler: unknown): Operation | 'internal' | undefined {
  return typeof handler === 'function' ? operations.get(handler) : undefined;
}

/** Component name of a shared schema (its `.meta({ id })`). */
export function schemaId(schema: z.ZodType): string {
  const id = z.globalRegistry.get(schema)?.id;
  if (!id) throw new Error('schema without .meta({ id })');
  return id;
}

export const ref = (schema: z.ZodType): Json => ({ $ref: `#/components/schemas/${schemaId(schema)}` });

export function problems(...statuses: number[]): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const status of statuses) out[String(status)] = { $ref: `#/components/responses/Problem${status}` };
  return out;
}

/** Problems every authenticated route can answer: a bad key, the rate limit. */
export const COMMON = [401, 429];
/** Problems of routes that call the GPU backend. */
export const BACKEND = [502, 503, 504];

export const jsonBody = (schema: z.ZodType) => ({
  required: true,
  content: { 'application/json': { schema: ref(schema) } },
});

export const json = (description: string, schema: z.ZodType, headers?: Json) => ({
  description,
  ...(headers ? { headers } : {}),
  content: { 'application/json': { schema: ref(schema) } },
});

export const binary = { type: 'string', contentMediaType: 'application/octet-stream' };
export const header = (description: string, schema: Json = { type: 'string' }) => ({ description, schema });
export const cacheHeader = header('hit or miss', { type: 'string', enum: ['hit', 'miss'] });

export const idParam = (prefix: string, what: string) => ({
  name: 'id',
  in: 'path',
  required: true,
  description: `The ${what} id.`,
  schema: { type: 'string', pattern: `^${prefix}_[a-z2-7]{32}$` },
});

/** The `limit` and `cursor` query parameters of every newest-first list (shared's LIST_PAGE_QUERY_FIELDS). */
export const listPageParameters = [
  {
    name: 'limit',
    in: 'query',
    required: false,
    schema: { type: 'integer', minimum: 1, maximum: LIMITS.maxListLimit },
  },
  {
    name: 'cursor',
    in: 'query',
    required: false,
    schema: { type: 'string', maxLength: LIMITS.maxCursorLength },
  },
];

/** The SSE resume header (WHATWG HTML, "Server-sent events"): the id of the last event received. */
export const lastEventIdHeader = {
  name: 'Last-Event-ID',
  in: 'header',
  required: false,
  description: 'The id of the last event received; only later events are sent.',
  schema: { type: 'string', pattern: '^[0-9]{1,9}$' },
};

export const ifNoneMatch = {
  name: 'If-None-Match',
  in: 'header',
  required: false,
  schema: { type: 'string' },
};

export const tokensContent = {
  'application/json': { schema: ref(TokensResponseSchema) },
  [TOKENS_MEDIA_TYPE]: {
    schema: { ...binary, description: 'GTOK binary token set (docs/token-format.md).' },
  },
};

export const imageContent = { 'image/png': { schema: binary }, 'image/webp': { schema: binary } };

export const artifactHeaders = {
  ETag: header('Strong validator; the content id.'),
  'Cache-Control': header('private, max-age=31536000, immutable'),
};

export const generationHeaders = { Location: header('URL of the generation.') };

/** The two success answers of a request that creates a generation job. */
export const generationJobResponses = (schema: z.ZodType) => ({
  '201': json('Finished (within Prefer: wait, or served from storage).', schema, generationHeaders),
  '202': json('Accepted; poll the Location.', schema, generationHeaders),
});

/** Idempotency-Key and Prefer, the headers of every request that creates a generation job. */
export const jobHeaders = [
  {
    name: 'Idempotency-Key',
    in: 'header',
    required: false,
    description:
      'An RFC 8941 sf-string ("abc", draft-ietf-httpapi-idempotency-key-header) or the bare form (abc), ' +
      `the same key either way, 1 to ${LIMITS.maxIdempotencyKeyLength} characters. Same key and body: the ` +
      'same generation. Same key, other body: 422.',
    schema: { type: 'string', minLength: 1 },
  },
  {
    name: 'Prefer',
    in: 'header',
    required: false,
    description: `wait=N (N <= ${LIMITS.maxPreferWaitSeconds}): wait up to N seconds for the result (RFC 7240).`,
    schema: { type: 'string' },
  },
];
