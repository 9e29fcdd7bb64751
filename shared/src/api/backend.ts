// Schemas of the GPU backend's internal API, called only by the Worker with signed requests
// (backend-auth.ts). The Worker resolves every default, so sampling fields are required here.
import { z } from 'zod';
import { AugmentationSchema, EncodePrioritySchema } from '../augmentation.ts';
import { LIMITS } from '../limits.ts';
import { CfgScheduleSchema, ManifestSummarySchema, ModelIdSchema } from '../model-manifest.ts';
import { PreprocessingModeSchema } from '../preprocessing.ts';
import { base64Field, boolField, intField, numberField, patternField } from '../schema-fields.ts';
import { type GenerationParams, ImageFormatSchema, TokenRowSchema } from './public.ts';

const batch = <T extends z.ZodType>(name: string, item: T) =>
  z
    .array(item, { error: () => `'${name}' must be an array` })
    .min(1, { error: () => `'${name}' must have at least 1 entry` })
    .max(LIMITS.maxBackendBatch, {
      error: (iss) =>
        `'${name}' must have at most ${LIMITS.maxBackendBatch} entries, got ${(iss.input as unknown[]).length}`,
    });

export const REQUEST_ID_RE = /^[A-Za-z0-9_-]{1,128}$/;

export const BackendHealthResponseSchema = z
  .strictObject({ status: z.literal('ok') })
  .meta({ id: 'BackendHealth', description: 'The backend process is alive.' });

export const BackendReadyResponseSchema = z
  .strictObject({ status: z.enum(['ready', 'loading']), models: z.array(ModelIdSchema) })
  .meta({ id: 'BackendReady', description: 'Whether every configured model is loaded (503 while loading).' });
export type BackendReadyResponse = z.infer<typeof BackendReadyResponseSchema>;

export const BackendModelsResponseSchema = z
  .strictObject({
    models: z.array(ManifestSummarySchema),
    /**
     * Measured wall time of /v1/generate per image, by model id: a running average over the calls
     * served so far (sampling and decoding). A model with no call yet has no entry.
     */
    estimated_seconds_per_image: z.record(ModelIdSchema, z.number().positive()).optional(),
  })
  .meta({
    id: 'BackendModels',
    description:
      'Summaries of the loaded models, and for each model that has served /v1/generate the measured ' +
      'seconds per image (a running average), from which the Worker sizes its chunks of a long job.',
  });
export type BackendModelsResponse = z.infer<typeof BackendModelsResponseSchema>;

export const EncodeRequestSchema = z
  .strictObject({
    model: ModelIdSchema,
    images: batch(
      'images',
      base64Field('images', LIMITS.maxImageBase64Chars, 'an image file (PNG, JPEG or WebP)'),
    ),
    /** Absent: DEFAULT_PREPROCESSING. */
    preprocessing: PreprocessingModeSchema.optional(),
    /** Absent: 'none'. The answer holds AUGMENTATION_VIEWS[augment] rows per image, image-major. */
    augment: AugmentationSchema.optional(),
    /** Absent: 'interactive'. Dataset runs ask for 'background' so interactive calls go first. */
    priority: EncodePrioritySchema.optional(),
  })
  .meta({
    id: 'BackendEncodeRequest',
    description:
      'Tokenize a batch of images (base64 files). With augment, each image gives AUGMENTATION_VIEWS[augment] rows ' +
      "in image-major order (flip: original, flipped; ten_crop: the official extractor's ten crops).",
  });
export type EncodeRequest = z.infer<typeof EncodeRequestSchema>;

export const EncodeResponseSchema = z
  .strictObject({
    model: ModelIdSchema,
    codebook_size: z.number().int(),
    tokens_per_image: z.number().int(),
    tokens: z.array(z.array(z.number().int().min(0))),
  })
  .meta({
    id: 'BackendEncodeResponse',
    description:
      'Token rows in input order: one per image, or with `augment` one per view, image-major (tokens[i * A + a]).',
  });
export type EncodeResponse = z.infer<typeof EncodeResponseSchema>;

export const DecodeRequestSchema = z
  .strictObject({
    model: ModelIdSchema,
    tokens: batch('tokens', TokenRowSchema),
    format: ImageFormatSchema.optional(),
  })
  .meta({
    id: 'BackendDecodeRequest',
    description: 'Render rows of tokens as images (png unless format says).',
  });
export type DecodeRequest = z.infer<typeof DecodeRequestSchema>;

export const EncodedImageSchema = z
  .strictObject({
    format: ImageFormatSchema,
    width: z.number().int().min(1),
    height: z.number().int().min(1),
    data: z.base64(),
  })
  .meta({ id: 'BackendImage', description: 'An encoded image file as base64.' });
export type EncodedImage = z.infer<typeof EncodedImageSchema>;

export const DecodeResponseSchema = z
  .strictObject({ model: ModelIdSchema, images: z.array(EncodedImageSchema) })
  .meta({ id: 'BackendDecodeResponse', description: 'One image per token row, in input order.' });
export type DecodeResponse = z.infer<typeof DecodeResponseSchema>;

const classIdOrNull = z.union([intField('class_ids', 0, LIMITS.maxClassId), z.null()]);

export const GenerateRequestSchema = z
  .strictObject({
    model: ModelIdSchema,
    seed: intField('seed', 0, LIMITS.maxSeed),
    class_ids: batch('class_ids', classIdOrNull),
    cfg_scale: numberField('cfg_scale', 0, LIMITS.maxCfgScale),
    cfg_schedule: CfgScheduleSchema,
    temperature: numberField('temperature', 0, LIMITS.maxTemperature, { minExclusive: true }),
    top_k: intField('top_k', 0, LIMITS.maxCodebookSize),
    top_p: numberField('top_p', 0, 1, { minExclusive: true }),
    prefixes: batch(
      'prefixes',
      z
        .array(intField('prefixes', 0, LIMITS.maxCodebookSize - 1), {
          error: () => "'prefixes' entries must be arrays of tokens",
        })
        .max(LIMITS.maxTokensPerImage - 1, {
          error: () => `'prefixes' entries must have at most ${LIMITS.maxTokensPerImage - 1} tokens`,
        }),
    ).optional(),
    return_images: boolField('return_images').optional(),
    format: ImageFormatSchema.optional(),
    request_id: patternField(
      'request_id',
      REQUEST_ID_RE,
      '1 to 128 characters of [A-Za-z0-9_-]',
      128,
    ).optional(),
    first_index: intField('first_index', 0, LIMITS.maxBackendBatch).optional(),
  })
  .superRefine((body, ctx) => {
    if (body.prefixes !== undefined && body.prefixes.length !== body.class_ids.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['prefixes'],
        message: `'prefixes' must have one entry per class_ids entry (${body.class_ids.length}), got ${body.prefixes.length}`,
      });
    }
  })
  .meta({
    id: 'BackendGenerateRequest',
    description:
      'Sample class_ids.length images; image i uses class_ids[i] (null: unconditional) and the uniforms of ' +
      '(seed, first_index + i), first_index 0 unless given: a long job split into several calls passes ' +
      "the index of its chunk's first image, so every image gets the tokens one call would give it. prefixes (variations): one array per image of its first tokens, 0 to T-1 of them, " +
      'returned as given; the sampled positions keep their own uniforms, so an empty prefix is plain ' +
      'generation. request_id lets POST /v1/generate/{request_id}/cancel stop it.',
  });
export type GenerateRequest = z.infer<typeof GenerateRequestSchema>;

/** The sampling fields of a /v1/generate request, as a generation's public parameters hold them. */
export type GenerateSampling = Pick<
  GenerateRequest,
  'seed' | 'cfg_scale' | 'cfg_schedule' | 'temperature' | 'top_k' | 'top_p'
>;

/** A generation's seed and sampling options, as the backend's /v1/generate takes them. */
export function generateSampling(params: GenerationParams): GenerateSampling {
  return {
    seed: params.seed,
    cfg_scale: params.cfg_scale,
    cfg_schedule: params.cfg_schedule,
    temperature: params.temperature,
    top_k: params.top_k,
    top_p: params.top_p,
  };
}

export const GenerateResponseSchema = z
  .strictObject({
    model: ModelIdSchema,
    seed: z.number().int().min(0).max(LIMITS.maxSeed),
    tokens: z.array(z.array(z.number().int().min(0))),
    images: z.array(EncodedImageSchema).optional(),
  })
  .meta({ id: 'BackendGenerateResponse', description: 'Sampled tokens per image, and images when asked.' });
export type GenerateResponse = z.infer<typeof GenerateResponseSchema>;

export const EmbedRequestSchema = z
  .strictObject({ model: ModelIdSchema, tokens: batch('tokens', TokenRowSchema) })
  .meta({
    id: 'BackendEmbedRequest',
    description:
      'AR representations of token rows (embed.onnx): the mean hidden state at layer n_layer/2 with the null ' +
      'class in front. Each row holds tokens_per_image tokens.',
  });
export type EmbedRequest = z.infer<typeof EmbedRequestSchema>;

export const EmbedResponseSchema = z
  .strictObject({
    model: ModelIdSchema,
    layer: z.number().int().min(0),
    dim: z.number().int().min(1),
    embeddings: z.array(z.array(z.number())),
  })
  .meta({ id: 'BackendEmbedResponse', description: 'One float32 vector per token row, in input order.' });
export type EmbedResponse = z.infer<typeof EmbedResponseSchema>;

export const RequestIdParamSchema = z.object({
  request_id: patternField('request_id', REQUEST_ID_RE, '1 to 128 characters of [A-Za-z0-9_-]', 128),
});
