// TEMPORARY: stand-ins for shared/src/model-manifest.ts and shared/src/api/backend.ts until they land.
// Replaced by direct imports from @gigatok/shared before this work is done.
import { z } from 'zod';

const id = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/);
export const modelManifestSchema = z.object({
  format_version: z.literal(1),
  model_id: id,
  description: z.string(),
  dtype: z.enum(['float32', 'float16']),
  tokenizer: z.object({
    config: z.string(),
    image_size: z.number().int().positive(),
    tokens_per_image: z.number().int().positive(),
    codebook_size: z.number().int().min(2),
    codebook_dim: z.number().int().positive(),
  }),
  ar: z.object({
    config: z.string(),
    num_classes: z.number().int().positive(),
    null_class_id: z.number().int().nonnegative(),
    n_layer: z.number().int().positive(),
    n_head: z.number().int().positive(),
    head_dim: z.number().int().positive(),
    embedding_layer: z.number().int().nonnegative(),
  }),
  graphs: z.object({
    encoder: z.object({ file: z.string() }),
    decoder: z.object({ file: z.string() }),
    ar_step: z.object({ file: z.string() }).optional(),
    generate: z.object({ file: z.string() }).optional(),
  }),
  files: z.array(
    z.object({ path: z.string(), sha256: z.string().regex(/^[0-9a-f]{64}$/), bytes: z.number().int() }),
  ),
  sampling_defaults: z.object({
    cfg_scale: z.number(),
    cfg_schedule: z.enum(['constant', 'step']),
    temperature: z.number(),
    top_k: z.number().int(),
    top_p: z.number(),
  }),
  class_labels: z.array(z.string()),
});
export type ModelManifest = z.infer<typeof modelManifestSchema>;

const model = z.string().min(1);
export const encodeRequestSchema = z.strictObject({ model, images: z.array(z.string()).min(1).max(64) });
export const decodeRequestSchema = z.strictObject({
  model,
  tokens: z.array(z.array(z.number().int())).min(1).max(64),
  format: z.enum(['png', 'webp']).optional(),
});
export const generateRequestSchema = z.strictObject({
  model,
  seed: z.number().int().min(0).max(0xffffffff),
  class_ids: z.array(z.number().int().min(0).nullable()).min(1).max(64),
  cfg_scale: z.number().min(0).max(20),
  cfg_schedule: z.enum(['constant', 'step']),
  temperature: z.number().gt(0).max(5),
  top_k: z.number().int().min(0),
  top_p: z.number().gt(0).max(1),
  return_images: z.boolean().optional(),
  format: z.enum(['png', 'webp']).optional(),
  request_id: z.string().min(1).max(128).optional(),
});
