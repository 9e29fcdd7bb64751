// The OpenAPI 3.1 document of the public API, generated from shared's zod schemas (zod 4's native JSON
// Schema output, draft 2020-12, which OpenAPI 3.1 uses as its schema dialect) plus a table of paths.
// Pure: no Worker bindings, so a Node test can validate it with an OpenAPI validator.
import {
  DetokenizeRequestSchema,
  EmbeddingRequestSchema,
  EmbeddingResponseSchema,
  GenerationListSchema,
  GenerationRequestSchema,
  GenerationSchema,
  HealthResponseSchema,
  LIMITS,
  ModelListSchema,
  ProblemSchema,
  TOKENS_MEDIA_TYPE,
  TokenizeJsonRequestSchema,
  TokensResponseSchema,
  VariationRequestSchema,
  WebhookPayloadSchema,
  WebhookSecretResponseSchema,
} from '@gigatok/shared';
import { z } from 'zod';
import { TIMING_METRICS } from '../http/server-timing.ts';

type Json = Record<string, unknown>;

/** Component name of a shared schema (its `.meta({ id })`). */
function idOf(schema: z.ZodType): string {
  const id = z.globalRegistry.get(schema)?.id;
  if (!id) throw new Error('schema without .meta({ id })');
  return id;
}

const ref = (schema: z.ZodType): Json => ({ $ref: `#/components/schemas/${idOf(schema)}` });

const REQUEST_SCHEMAS = [
  TokenizeJsonRequestSchema,
  DetokenizeRequestSchema,
  GenerationRequestSchema,
  VariationRequestSchema,
  EmbeddingRequestSchema,
];
const RESPONSE_SCHEMAS = [
  TokensResponseSchema,
  EmbeddingResponseSchema,
  GenerationSchema,
  GenerationListSchema,
  ModelListSchema,
  WebhookSecretResponseSchema,
  HealthResponseSchema,
  WebhookPayloadSchema,
  ProblemSchema,
];

/**
 * Components: every schema the public schemas reach, each converted once. Request bodies use zod's
 * input view, responses its output view; a schema reached from both sides takes the response view.
 */
function components(): Record<string, Json> {
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
    for (const match of JSON.stringify(all[id]).matchAll(/"#\/components\/schemas\/([A-Za-z0-9_.-]+)"/g)) {
      visit(all, match[1]!);
    }
  };
  for (const schema of RESPONSE_SCHEMAS) visit(output, idOf(schema));
  const responseIds = new Set(wanted);
  for (const schema of REQUEST_SCHEMAS) visit(input, idOf(schema));
  const out: Record<string, Json> = {};
  for (const id of [...wanted].sort()) {
    const { $schema: _s, $id: _i, ...schema } = (responseIds.has(id) ? output[id] : input[id]) ?? {};
    out[id] = schema;
  }
  return out;
}

const problemContent = { 'application/problem+json': { schema: ref(ProblemSchema) } };

function problems(...statuses: number[]): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const status of statuses) out[String(status)] = { $ref: `#/components/responses/Problem${status}` };
  return out;
}

const COMMON = [401, 429];
const BACKEND = [502, 503, 504];

const jsonBody = (schema: z.ZodType) => ({
  required: true,
  content: { 'application/json': { schema: ref(schema) } },
});
const json = (description: string, schema: z.ZodType, headers?: Json) => ({
  description,
  ...(headers ? { headers } : {}),
  content: { 'application/json': { schema: ref(schema) } },
});
const binary = { type: 'string', contentMediaType: 'application/octet-stream' };
const header = (description: string, schema: Json = { type: 'string' }) => ({ description, schema });

const idParam = (prefix: string, what: string) => ({
  name: 'id',
  in: 'path',
  required: true,
  description: `The ${what} id.`,
  schema: { type: 'string', pattern: `^${prefix}_[a-z2-7]{32}$` },
});

const tokensContent = {
  'application/json': { schema: ref(TokensResponseSchema) },
  [TOKENS_MEDIA_TYPE]: {
    schema: { ...binary, description: 'GTOK binary token set (docs/token-format.md).' },
  },
};

const artifactHeaders = {
  ETag: header('Strong validator; the content id.'),
  'Cache-Control': header('private, max-age=31536000, immutable'),
};

const generationHeaders = { Location: header('URL of the generation.') };

/** Idempotency-Key and Prefer, the headers of every request that creates a generation job. */
const jobHeaders = [
  {
    name: 'Idempotency-Key',
    in: 'header',
    required: false,
    description: 'Same key and body: the same generation. Same key, other body: 422.',
    schema: { type: 'string', minLength: 1, maxLength: LIMITS.maxIdempotencyKeyLength },
  },
  {
    name: 'Prefer',
    in: 'header',
    required: false,
    description: `wait=N (N <= ${LIMITS.maxPreferWaitSeconds}): wait up to N seconds for the result (RFC 7240).`,
    schema: { type: 'string' },
  },
];

function paths(): Json {
  return {
    '/v1/healthz': {
      get: {
        operationId: 'getHealth',
        summary: 'Liveness of the API',
        security: [],
        responses: {
          '200': json('Alive.', HealthResponseSchema),
          '503': json('Degraded.', HealthResponseSchema),
        },
      },
    },
    '/v1/tokenize': {
      post: {
        operationId: 'tokenize',
        summary: 'Tokenize an image',
        description:
          'Content-addressed: the same image bytes, model and preprocessing are answered from storage (X-Cache: hit). ' +
          'The image type is read from its bytes (PNG, JPEG, WebP, GIF), never from a header.',
        parameters: [
          { name: 'model', in: 'query', required: false, schema: { $ref: '#/components/schemas/ModelId' } },
        ],
        requestBody: {
          required: true,
          content: {
            'multipart/form-data': {
              schema: {
                type: 'object',
                required: ['image'],
                properties: { image: binary, model: { $ref: '#/components/schemas/ModelId' } },
              },
            },
            'image/*': { schema: binary },
            'application/json': { schema: ref(TokenizeJsonRequestSchema) },
          },
        },
        responses: {
          '200': {
            description: 'The tokens of the image.',
            headers: {
              'X-Cache': header('hit or miss', { type: 'string', enum: ['hit', 'miss'] }),
              Location: header('URL of the token set.'),
            },
            content: tokensContent,
          },
          ...problems(400, ...COMMON, 406, 413, 415, ...BACKEND),
        },
      },
    },
    '/v1/tokens/{id}': {
      get: {
        operationId: 'getTokens',
        summary: 'A stored token set',
        parameters: [
          idParam('tok', 'token set'),
          { name: 'If-None-Match', in: 'header', required: false, schema: { type: 'string' } },
        ],
        responses: {
          '200': { description: 'The token set.', headers: artifactHeaders, content: tokensContent },
          '304': { description: 'Not modified.', headers: artifactHeaders },
          ...problems(...COMMON, 404, 406),
        },
      },
    },
    '/v1/detokenize': {
      post: {
        operationId: 'detokenize',
        summary: 'Render tokens as an image',
        requestBody: jsonBody(DetokenizeRequestSchema),
        responses: {
          '200': {
            description: 'The image.',
            headers: {
              ...artifactHeaders,
              'X-Image-Id': header('The image id (img_...).'),
              'X-Cache': header('hit or miss', { type: 'string', enum: ['hit', 'miss'] }),
              Location: header('URL of the image.'),
            },
            content: { 'image/png': { schema: binary }, 'image/webp': { schema: binary } },
          },
          ...problems(400, ...COMMON, 404, 406, 413, 415, ...BACKEND),
        },
      },
    },
    '/v1/generations': {
      post: {
        operationId: 'createGeneration',
        summary: 'Start a generation',
        parameters: jobHeaders,
        requestBody: jsonBody(GenerationRequestSchema),
        responses: {
          '201': json(
            'Finished (within Prefer: wait, or served from storage).',
            GenerationSchema,
            generationHeaders,
          ),
          '202': json('Accepted; poll the Location.', GenerationSchema, generationHeaders),
          ...problems(400, ...COMMON, 413, 415, 422, 503),
        },
      },
      get: {
        operationId: 'listGenerations',
        summary: 'List generations, newest first',
        parameters: [
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
        ],
        responses: {
          '200': json('A page of generations.', GenerationListSchema),
          ...problems(400, ...COMMON),
        },
      },
    },
    '/v1/variations': {
      post: {
        operationId: 'createVariation',
        summary: 'Start variations of an image (keep its first tokens, sample the rest)',
        description:
          'A generation job like POST /v1/generations (poll /v1/generations/{id}, webhooks, Prefer: wait, ' +
          'Idempotency-Key). An uploaded image is tokenized first (through the tokenize cache).',
        parameters: jobHeaders,
        requestBody: jsonBody(VariationRequestSchema),
        responses: {
          '201': json(
            'Finished (within Prefer: wait, or served from storage).',
            GenerationSchema,
            generationHeaders,
          ),
          '202': json('Accepted; poll the Location.', GenerationSchema, generationHeaders),
          ...problems(400, ...COMMON, 404, 413, 415, 422, ...BACKEND),
        },
      },
    },
    '/v1/embeddings': {
      post: {
        operationId: 'createEmbedding',
        summary: "The AR model's representation of an image (mean hidden state at layer n_layer/2)",
        description:
          'Stored under the token set id: the same image or token set is embedded once (X-Cache: hit).',
        requestBody: jsonBody(EmbeddingRequestSchema),
        responses: {
          '200': {
            description: 'The embedding.',
            headers: {
              'X-Cache': header('hit or miss', { type: 'string', enum: ['hit', 'miss'] }),
              'X-Token-Id': header('The token set embedded (tok_...).'),
              'X-Embedding-Dim': header('Number of float32 values.'),
              'X-Embedding-Layer': header('The AR layer read.'),
            },
            content: {
              'application/json': { schema: ref(EmbeddingResponseSchema) },
              'application/octet-stream': {
                schema: { ...binary, description: 'X-Embedding-Dim little-endian float32 values.' },
              },
            },
          },
          ...problems(400, ...COMMON, 404, 406, 413, 415, ...BACKEND),
        },
      },
    },
    '/v1/generations/{id}': {
      get: {
        operationId: 'getGeneration',
        summary: 'A generation',
        parameters: [idParam('job', 'generation')],
        responses: { '200': json('The generation.', GenerationSchema), ...problems(...COMMON, 404) },
      },
    },
    '/v1/generations/{id}/cancel': {
      post: {
        operationId: 'cancelGeneration',
        summary: 'Cancel a queued or running generation',
        parameters: [idParam('job', 'generation')],
        responses: { '200': json('Canceled.', GenerationSchema), ...problems(...COMMON, 404, 409) },
      },
    },
    '/v1/images/{id}': {
      get: {
        operationId: 'getImage',
        summary: 'A decoded or generated image',
        parameters: [
          idParam('img', 'image'),
          { name: 'If-None-Match', in: 'header', required: false, schema: { type: 'string' } },
        ],
        responses: {
          '200': {
            description: 'The image.',
            headers: artifactHeaders,
            content: { 'image/png': { schema: binary }, 'image/webp': { schema: binary } },
          },
          '304': { description: 'Not modified.', headers: artifactHeaders },
          ...problems(...COMMON, 404, 406),
        },
      },
    },
    '/v1/models': {
      get: {
        operationId: 'listModels',
        summary: 'The loaded models',
        responses: { '200': json('The models.', ModelListSchema), ...problems(...COMMON, ...BACKEND) },
      },
    },
    '/v1/webhooks/secret': {
      get: {
        operationId: 'getWebhookSecret',
        summary: 'The Standard Webhooks signing secret of your deliveries',
        responses: { '200': json('The secret.', WebhookSecretResponseSchema), ...problems(...COMMON) },
      },
    },
  };
}

const PROBLEM_STATUSES: Record<number, string> = {
  400: 'Invalid request (invalid_json, invalid_parameter, missing_parameter, invalid_image, invalid_tokens, unknown_model, invalid_webhook_url).',
  401: 'Missing, invalid or revoked API key.',
  404: 'Not found (or owned by another tenant).',
  406: 'No acceptable representation.',
  409: 'Conflict (not_cancelable).',
  413: 'Body or image too large.',
  415: 'Unsupported media type.',
  422: 'Idempotency key reused with a different body.',
  429: 'Rate limited, or too many generations in flight (Retry-After).',
  502: 'The backend failed.',
  503: 'The backend is unavailable (Retry-After).',
  504: 'The backend timed out.',
};

/** The Server-Timing header every answer carries (lib/server-timing.ts names the metrics). */
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

/** Adds Server-Timing to every response object (not to $refs, whose targets get it themselves). */
function withServerTiming(responses: Record<string, Json>): void {
  for (const response of Object.values(responses)) {
    if ('$ref' in response) continue;
    response.headers = { 'Server-Timing': SERVER_TIMING, ...((response.headers as Json | undefined) ?? {}) };
  }
}

let cached: Json | null = null;

export function openApiDocument(): Json {
  if (cached) return cached;
  const responses: Record<string, Json> = {};
  for (const [status, description] of Object.entries(PROBLEM_STATUSES)) {
    responses[`Problem${status}`] = { description, content: problemContent };
  }
  withServerTiming(responses);
  const apiPaths = paths();
  for (const item of Object.values(apiPaths) as Record<string, Json>[]) {
    for (const operation of Object.values(item))
      withServerTiming(operation.responses as Record<string, Json>);
  }
  cached = {
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
    paths: apiPaths,
    webhooks: {
      generationEvent: {
        post: {
          summary:
            'A generation changed state (Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature).',
          requestBody: {
            required: true,
            content: { 'application/json': { schema: ref(WebhookPayloadSchema) } },
          },
          responses: {
            '200': { description: 'Any 2xx acknowledges the delivery; anything else is retried.' },
          },
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
      schemas: components(),
      responses,
    },
  };
  return cached;
}
