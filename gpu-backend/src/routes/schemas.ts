// The request schemas of the backend API (shared/src/api/backend.ts) and the model summary of GET /v1/models.
import {
  decodeRequestSchema,
  encodeRequestSchema,
  generateRequestSchema,
  type ModelManifest,
} from '../contract-shim.ts';

export { decodeRequestSchema, encodeRequestSchema, generateRequestSchema };

export function modelSummary(m: ModelManifest, canGenerate: boolean) {
  return {
    id: m.model_id,
    description: m.description,
    image_size: m.tokenizer.image_size,
    tokens_per_image: m.tokenizer.tokens_per_image,
    codebook_size: m.tokenizer.codebook_size,
    num_classes: m.ar.num_classes,
    null_class_id: m.ar.null_class_id,
    class_labels: m.class_labels,
    sampling_defaults: m.sampling_defaults,
    tokenizer: m.tokenizer.config,
    ar: m.ar.config,
    dtype: m.dtype,
    can_generate: canGenerate,
  };
}
