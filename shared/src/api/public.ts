// Schemas of the public API (the Worker's /v1 routes): requests, responses, webhook payloads. Named schemas
// carry `.meta({ id })` so the Worker generates its OpenAPI 3.1 document from these same definitions.
import { z } from 'zod';
import { ErrorCode as Codes, type ErrorCode, PROBLEM_TYPE_PREFIX } from '../errors.ts';
import { GENERATION_KEY_RE, IMAGE_ID_RE, JOB_ID_RE, TOKEN_ID_RE, WEBHOOK_SECRET_RE } from '../ids.ts';
import { JOB_STATUSES, type JobStatus } from '../job-status.ts';
import { LIMITS } from '../limits.ts';
import { CfgScheduleSchema, ManifestSummarySchema, ModelIdSchema } from '../model-manifest.ts';
import { PreprocessingModeSchema } from '../preprocessing.ts';
import {
  base64Field,
  boolField,
  enumField,
  fieldError,
  intField,
  numberField,
  patternField,
} from '../schema-fields.ts';

export { LIMITS } from '../limits.ts';

// ---------------------------------------------------------------------------------------------------------
// Shared pieces

export const IMAGE_FORMATS = ['png', 'webp'] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];
export const ImageFormatSchema = enumField('format', IMAGE_FORMATS).meta({
  id: 'ImageFormat',
  description: 'Output image format.',
});

export const TokenIdSchema = patternField(
  'token_id',
  TOKEN_ID_RE,
  'a token set id "tok_" + 32 base32 characters',
  36,
);
export const ImageIdSchema = patternField(
  'image_id',
  IMAGE_ID_RE,
  'an image id "img_" + 32 base32 characters',
  36,
);
export const JobIdSchema = patternField('id', JOB_ID_RE, 'a generation id "job_" + 32 base32 characters', 36);
export const GenerationKeySchema = patternField(
  'params_key',
  GENERATION_KEY_RE,
  'a parameters key "gpk_" + 32 base32 characters',
  36,
);

const tokenValue = intField('tokens', 0, LIMITS.maxCodebookSize - 1);
/** One image's tokens. Their count and range are checked against the model at run time (checkTokensForModel). */
export const TokenRowSchema = z
  .array(tokenValue, { error: fieldError('tokens', 'an array of integers') })
  .min(1, { error: () => "'tokens' must not be empty" })
  .max(LIMITS.maxTokensPerImage, {
    error: () => `'tokens' must have at most ${LIMITS.maxTokensPerImage} entries`,
  });

/** RFC 9457 problem details with this API's extension members. */
export const ProblemSchema = z
  .object({
    type: z.string().startsWith(PROBLEM_TYPE_PREFIX),
    title: z.string(),
    status: z.number().int().min(400).max(599),
    detail: z.string(),
    code: z.enum(Object.values(Codes) as [ErrorCode, ...ErrorCode[]]),
    field: z.string().optional(),
    limit: z.union([z.number(), z.string()]).optional(),
    instance: z.string().optional(),
    errors: z.array(z.object({ field: z.string(), detail: z.string() })).optional(),
  })
  .meta({
    id: 'Problem',
    description: 'RFC 9457 problem details (application/problem+json), the body of every error response.',
  });

// ---------------------------------------------------------------------------------------------------------
// POST /v1/tokenize, GET /v1/tokens/{id}

export const TokenizeJsonRequestSchema = z
  .strictObject({
    image: base64Field('image', LIMITS.maxImageBase64Chars, 'the image file (PNG, JPEG or WebP)'),
    model: ModelIdSchema.optional(),
    preprocessing: PreprocessingModeSchema.optional(),
  })
  .meta({
    id: 'TokenizeJsonRequest',
    description:
      'JSON form of a tokenize request; multipart (field "image") and raw image bodies are accepted too.',
  });
export type TokenizeJsonRequest = z.infer<typeof TokenizeJsonRequestSchema>;

export const ModelQuerySchema = z.object({ model: ModelIdSchema.optional() });

export const TokensResponseSchema = z
  .strictObject({
    id: TokenIdSchema,
    object: z.literal('tokens'),
    model: ModelIdSchema,
    codebook_size: z.number().int(),
    tokens_per_image: z.number().int(),
    shape: z.tuple([z.number().int().min(1), z.number().int().min(1)]),
    tokens: z.array(z.array(z.number().int().min(0))),
  })
  .meta({
    id: 'TokenizeResponse',
    description: 'A token set: one row of tokens_per_image tokens per image, in AR order (coarse to fine).',
  });
export type TokensResponse = z.infer<typeof TokensResponseSchema>;

export const TokenIdParamSchema = z.object({ id: TokenIdSchema });
export const ImageIdParamSchema = z.object({ id: ImageIdSchema });
export const JobIdParamSchema = z.object({ id: JobIdSchema });

// ---------------------------------------------------------------------------------------------------------
// POST /v1/detokenize

export const DetokenizeRequestSchema = z
  .strictObject({
    tokens: z.union([TokenRowSchema, z.array(TokenRowSchema).length(1)]).optional(),
    token_id: TokenIdSchema.optional(),
    model: ModelIdSchema.optional(),
    format: ImageFormatSchema.optional(),
  })
  .superRefine((body, ctx) => {
    if ((body.tokens === undefined) === (body.token_id === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: body.tokens === undefined ? ['tokens'] : ['token_id'],
        message: "exactly one of 'tokens' and 'token_id' must be given",
      });
    }
  })
  .meta({
    id: 'DetokenizeRequest',
    description: 'Render tokens as an image: give the tokens (one row) or the id of a stored token set.',
  });
export type DetokenizeRequest = z.infer<typeof DetokenizeRequestSchema>;

// ---------------------------------------------------------------------------------------------------------
// POST /v1/generations and the Generation (job) object

/** A Generation's status is its job's status (job-status.ts). */
export type GenerationStatus = JobStatus;

/** Lifecycle events of a generation job (POST /v1/generations, POST /v1/variations). */
export const GENERATION_EVENT_TYPES = [
  'generation.started',
  'generation.completed',
  'generation.failed',
  'generation.canceled',
] as const;
export type GenerationEventType = (typeof GENERATION_EVENT_TYPES)[number];

/** Events of a dataset run (POST /v1/datasets/{id}/run): how it ended. */
export const DATASET_EVENT_TYPES = ['dataset.completed', 'dataset.failed', 'dataset.canceled'] as const;
export type DatasetEventType = (typeof DATASET_EVENT_TYPES)[number];

/** Every event a delivery can carry: the delivery log lists generations' and datasets' alike. */
export const WEBHOOK_EVENT_TYPES = [...GENERATION_EVENT_TYPES, ...DATASET_EVENT_TYPES] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];
export const WebhookEventTypeSchema = enumField('events', WEBHOOK_EVENT_TYPES).meta({
  id: 'WebhookEventType',
  description: 'An event a webhook delivery carries: a generation or a dataset run changed state.',
});
const GenerationEventTypeSchema = enumField('events', GENERATION_EVENT_TYPES).meta({
  id: 'GenerationEventType',
  description: 'A generation lifecycle event a webhook can subscribe to.',
});

const classId = intField('class_id', 0, LIMITS.maxClassId);
const classRefError = fieldError(
  'class_id',
  `a class id (an integer in [0, ${LIMITS.maxClassId}]) or a class label (1 to ${LIMITS.maxClassLabelLength} characters)`,
);
/** A class named by id, or by one of the model's class_labels (class-label.ts resolves it). */
const classRef = z.union([
  z
    .number({ error: classRefError })
    .int({ error: classRefError })
    .min(0, { error: classRefError })
    .max(LIMITS.maxClassId, { error: classRefError }),
  z
    .string({ error: classRefError })
    .min(1, { error: classRefError })
    .max(LIMITS.maxClassLabelLength, { error: classRefError }),
]);

/**
 * A `webhook` request field: where to POST the events named in `events` (one of `eventTypes`), all of
 * them when absent. Generations and datasets take the same shape; checkWebhookUrl (webhook-url.ts)
 * applies the URL policy when the request is accepted.
 */
export function webhookSubscriptionSchema<const E extends readonly [string, ...string[]]>(
  eventTypes: E,
  eventSchema: z.ZodType<E[number]>,
  meta: { id: string; description: string },
) {
  return z
    .strictObject({
      url: z
        .url({ error: fieldError('webhook.url', 'an absolute https URL') })
        .max(LIMITS.maxWebhookUrlLength, {
          error: () => `'webhook.url' must be at most ${LIMITS.maxWebhookUrlLength} characters`,
        }),
      events: z
        .array(eventSchema)
        .min(1, { error: () => "'webhook.events' must name at least one event" })
        .max(eventTypes.length)
        .optional(),
    })
    .meta(meta);
}

export const WebhookSubscriptionSchema = webhookSubscriptionSchema(
  GENERATION_EVENT_TYPES,
  GenerationEventTypeSchema,
  {
    id: 'WebhookSubscription',
    description:
      'Where to POST Standard Webhooks events of this generation. All events when `events` is absent. ' +
      'The URL must be https and must not point at a private or loopback address.',
  },
);

export const OutputOptionsSchema = z
  .strictObject({
    images: boolField('output.images').optional(),
    format: ImageFormatSchema.optional(),
  })
  .meta({
    id: 'OutputOptions',
    description: 'Whether to render images (default true) and in which format (png).',
  });

/** Fields every generation job takes (POST /v1/generations and POST /v1/variations). */
const generationJobFields = {
  count: intField('count', 1, LIMITS.maxCount).optional(),
  seed: intField('seed', 0, LIMITS.maxSeed).optional(),
  cfg_scale: numberField('cfg_scale', 0, LIMITS.maxCfgScale).optional(),
  cfg_schedule: CfgScheduleSchema.optional(),
  temperature: numberField('temperature', 0, LIMITS.maxTemperature, { minExclusive: true }).optional(),
  top_k: intField('top_k', 0, LIMITS.maxCodebookSize).optional(),
  top_p: numberField('top_p', 0, 1, { minExclusive: true }).optional(),
  output: OutputOptionsSchema.optional(),
  webhook: WebhookSubscriptionSchema.optional(),
};

export const GenerationRequestSchema = z
  .strictObject({
    model: ModelIdSchema.optional(),
    class_id: z
      .union([
        classRef,
        z.null(),
        z
          .array(z.union([classRef, z.null()]))
          .min(1, { error: () => "'class_id' must not be an empty array" })
          .max(LIMITS.maxCount, {
            error: (iss) =>
              `'class_id' must have at most ${LIMITS.maxCount} entries, got ${(iss.input as unknown[]).length}`,
          }),
      ])
      .optional(),
    ...generationJobFields,
  })
  .superRefine((body, ctx) => {
    if (Array.isArray(body.class_id) && body.count !== undefined && body.count !== body.class_id.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['count'],
        message: `'count' must equal the length of 'class_id' (${body.class_id.length}), got ${body.count}`,
      });
    }
  })
  .meta({
    id: 'GenerationRequest',
    description:
      'Class-conditional image generation. class_id: one class for all images, null for unconditional ' +
      '(the default), or an array with one class per image (count = its length). A class is its id or its ' +
      "label from the model's class_labels (the exact spelling, else any case; a label that matches two " +
      'classes is refused: give the id); labels resolve to ids first, so both name the same cached result. ' +
      'Unset sampling ' +
      "parameters take the model's sampling_defaults; an unset seed is drawn at random and returned.",
  });
export type GenerationRequest = z.infer<typeof GenerationRequestSchema>;

/** The parameters a generation ran with: every default applied and the seed chosen. */
export const GenerationParamsSchema = z
  .strictObject({
    seed: intField('seed', 0, LIMITS.maxSeed),
    class_ids: z
      .array(z.union([classId, z.null()]))
      .min(1)
      .max(LIMITS.maxCount),
    cfg_scale: numberField('cfg_scale', 0, LIMITS.maxCfgScale),
    cfg_schedule: CfgScheduleSchema,
    temperature: numberField('temperature', 0, LIMITS.maxTemperature, { minExclusive: true }),
    top_k: intField('top_k', 0, LIMITS.maxCodebookSize),
    top_p: numberField('top_p', 0, 1, { minExclusive: true }),
    output: z.strictObject({ images: z.boolean(), format: ImageFormatSchema }),
    variation: z
      .strictObject({
        source_token_id: TokenIdSchema,
        keep: intField('keep', 0, LIMITS.maxTokensPerImage - 1),
      })
      .optional()
      .meta({
        description:
          'Set for a variation (POST /v1/variations): every image starts with the first `keep` tokens of the ' +
          'source token set and samples the rest.',
      }),
  })
  .meta({
    id: 'GenerationParams',
    description:
      'Resolved parameters: image i uses class_ids[i] and the uniforms of (seed, i), one per token position.',
  });
export type GenerationParams = z.infer<typeof GenerationParamsSchema>;

const isoTime = z.iso.datetime();

export const GenerationImageSchema = z
  .strictObject({
    index: z.number().int().min(0),
    class_id: z.number().int().min(0).nullable(),
    token_id: TokenIdSchema,
    tokens_url: z.string(),
    image_id: ImageIdSchema.nullable(),
    image_url: z.string().nullable(),
  })
  .meta({
    id: 'GenerationImage',
    description: 'One generated image; image_id/url are null when images were off.',
  });

export const GenerationProgressSchema = z
  .strictObject({
    images_done: z.number().int().min(0).max(LIMITS.maxCount),
    images_total: z.number().int().min(1).max(LIMITS.maxCount),
  })
  .meta({
    id: 'GenerationProgress',
    description:
      "Images finished so far of the job's count. A long job runs as several backend calls (chunks); " +
      'images_done grows after each chunk and equals images_total once the job succeeded.',
  });
export type GenerationProgress = z.infer<typeof GenerationProgressSchema>;

export const GenerationSchema = z
  .strictObject({
    id: JobIdSchema,
    object: z.literal('generation'),
    status: z.enum(JOB_STATUSES),
    model: ModelIdSchema,
    params: GenerationParamsSchema,
    params_key: GenerationKeySchema,
    created_at: isoTime,
    started_at: isoTime.nullable(),
    completed_at: isoTime.nullable(),
    cached: z.boolean(),
    attempts: z.number().int().min(0),
    progress: GenerationProgressSchema,
    error: ProblemSchema.nullable(),
    result: z.strictObject({ images: z.array(GenerationImageSchema) }).nullable(),
  })
  .meta({ id: 'Generation', description: 'A generation job and, once it succeeded, its result.' });
export type Generation = z.infer<typeof GenerationSchema>;

export const GenerationListSchema = listPageSchema(GenerationSchema).meta({
  id: 'GenerationList',
  description: 'A page of generations, newest first.',
});
export type GenerationList = z.infer<typeof GenerationListSchema>;

/** A page of a list endpoint: its items and the cursor of the next page (null on the last). */
export function listPageSchema<Item extends z.ZodType>(item: Item) {
  return z.strictObject({
    object: z.literal('list'),
    data: z.array(item),
    next_cursor: z.string().nullable(),
  });
}

/** The query fields every list endpoint takes: page size and the cursor a previous page gave. */
export const LIST_PAGE_QUERY_FIELDS = {
  limit: z
    .string()
    .regex(/^[0-9]{1,4}$/, { error: fieldError('limit', `an integer in [1, ${LIMITS.maxListLimit}]`) })
    .transform(Number)
    .pipe(intField('limit', 1, LIMITS.maxListLimit))
    .optional(),
  cursor: z
    .string()
    .min(1)
    .max(LIMITS.maxCursorLength, {
      error: () => `'cursor' must be at most ${LIMITS.maxCursorLength} characters`,
    })
    .optional(),
};

export const ListGenerationsQuerySchema = z.object(LIST_PAGE_QUERY_FIELDS);

// ---------------------------------------------------------------------------------------------------------
// POST /v1/variations

const sourceImage = base64Field('image', LIMITS.maxImageBase64Chars, 'the image file (PNG, JPEG or WebP)');

/** Exactly one of `image` and `token_id`: the source of a variation or an embedding. */
function oneSource(
  body: { image?: string | undefined; token_id?: string | undefined },
  ctx: z.RefinementCtx,
) {
  if ((body.image === undefined) === (body.token_id === undefined)) {
    ctx.addIssue({
      code: 'custom',
      path: body.image === undefined ? ['image'] : ['token_id'],
      message: "exactly one of 'image' and 'token_id' must be given",
    });
  }
}

export const VariationRequestSchema = z
  .strictObject({
    image: sourceImage.optional(),
    token_id: TokenIdSchema.optional(),
    model: ModelIdSchema.optional(),
    keep: intField('keep', 0, LIMITS.maxTokensPerImage - 1).optional(),
    keep_fraction: numberField('keep_fraction', 0, 1).optional(),
    class_id: z.union([classRef, z.null()]).optional(),
    ...generationJobFields,
  })
  .superRefine((body, ctx) => {
    oneSource(body, ctx);
    if (body.keep !== undefined && body.keep_fraction !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['keep_fraction'],
        message: "give at most one of 'keep' and 'keep_fraction'",
      });
    }
  })
  .meta({
    id: 'VariationRequest',
    description:
      "Variations of an image: keep the first tokens of its 1D token sequence (GigaTok's tokens run coarse to " +
      'fine, so the kept tokens fix the layout) and sample the rest. The source is an image (base64, ' +
      'tokenized first) or a token set id. keep: tokens kept, in [0, tokens_per_image - 1]; or keep_fraction ' +
      'of tokens_per_image, rounded to the nearest token and capped at tokens_per_image - 1; default half. ' +
      'class_id: the class the rest is sampled under, by id or label (absent or null: unconditional). The result is a ' +
      'generation job (same async, webhook, Prefer: wait and idempotency semantics as POST /v1/generations); ' +
      'keep 0 draws exactly what /v1/generations draws for the same seed and class.',
  });
export type VariationRequest = z.infer<typeof VariationRequestSchema>;

// ---------------------------------------------------------------------------------------------------------
// POST /v1/embeddings

export const EmbeddingRequestSchema = z
  .strictObject({
    image: sourceImage.optional(),
    token_id: TokenIdSchema.optional(),
    model: ModelIdSchema.optional(),
  })
  .superRefine(oneSource)
  .meta({
    id: 'EmbeddingRequest',
    description:
      'The AR representation of an image (GigaTok Sec. 4, linear probing): give the image (base64, tokenized ' +
      'first) or a token set id of one image.',
  });
export type EmbeddingRequest = z.infer<typeof EmbeddingRequestSchema>;

export const EmbeddingResponseSchema = z
  .strictObject({
    object: z.literal('embedding'),
    model: ModelIdSchema,
    token_id: TokenIdSchema,
    layer: z.number().int().min(0),
    dim: z.number().int().min(1),
    embedding: z.array(z.number()),
  })
  .meta({
    id: 'Embedding',
    description:
      'Mean hidden state of the AR model after `layer` (n_layer / 2) blocks, over the null class token and the ' +
      'image tokens 0..T-2: float32 values. With Accept: application/octet-stream the body is the same ' +
      'vector as dim little-endian float32 values.',
  });
export type EmbeddingResponse = z.infer<typeof EmbeddingResponseSchema>;

// ---------------------------------------------------------------------------------------------------------
// Webhooks, models, health

export const WebhookSecretResponseSchema = z
  .strictObject({ secret: z.string().regex(WEBHOOK_SECRET_RE) })
  .meta({
    id: 'WebhookSecret',
    description: 'The Standard Webhooks secret (whsec_...) that signs your deliveries.',
  });

export const WebhookPayloadSchema = z
  .strictObject({
    type: GenerationEventTypeSchema,
    timestamp: isoTime,
    data: GenerationSchema,
  })
  .meta({
    id: 'WebhookPayload',
    description:
      'Body of a generation webhook delivery, signed per Standard Webhooks (headers webhook-id, ' +
      'webhook-timestamp, webhook-signature).',
  });
export type WebhookPayload = z.infer<typeof WebhookPayloadSchema>;

export const ModelListSchema = z
  .strictObject({ object: z.literal('list'), data: z.array(ManifestSummarySchema) })
  .meta({ id: 'ModelList', description: 'The models the backend has loaded.' });
export type ModelList = z.infer<typeof ModelListSchema>;

export const HealthResponseSchema = z
  .strictObject({
    status: z.literal('ok'),
    backend: z.enum(['ready', 'loading', 'unavailable']).optional(),
  })
  .meta({
    id: 'Health',
    description:
      'Liveness of the API and, when checked, readiness of the backend. A Worker that cannot reach its ' +
      'database answers 503 service_unavailable as problem+json instead.',
  });
export type HealthResponse = z.infer<typeof HealthResponseSchema>;

// ---------------------------------------------------------------------------------------------------------
// Headers

/**
 * A bare Idempotency-Key header value: 1 to 255 visible ASCII characters. The header as the draft
 * defines it (a structured-field string, `"abc"`) is read by parseIdempotencyKey (idempotency-key.ts).
 */
export const IdempotencyKeySchema = z.string().regex(/^[\x21-\x7e]{1,255}$/, {
  error: () => `'Idempotency-Key' must be 1 to ${LIMITS.maxIdempotencyKeyLength} visible ASCII characters`,
});

/**
 * Seconds the client is willing to wait, from `Prefer: wait=N` (RFC 7240 section 4.3), capped at
 * LIMITS.maxPreferWaitSeconds; undefined when absent or malformed (a preference is never an error).
 */
export function parsePreferWait(header: string | null | undefined): number | undefined {
  if (!header) return undefined;
  for (const preference of header.split(',')) {
    const match = /^\s*wait\s*=\s*"?([0-9]{1,10})"?\s*(?:;.*)?$/i.exec(preference);
    if (match) return Math.min(Number(match[1]), LIMITS.maxPreferWaitSeconds);
  }
  return undefined;
}
