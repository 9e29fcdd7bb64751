// TEMPORARY: shared/src/index.ts does not export the manifest and backend API schemas yet; this file
// re-exports them from their modules and goes away once `@gigatok/shared` exports them.

export {
  DecodeRequestSchema,
  EncodeRequestSchema,
  GenerateRequestSchema,
  RequestIdParamSchema,
} from '../../shared/src/api/backend.ts';
export { checkSamplingForModel } from '../../shared/src/api/public.ts';
export { LIMITS } from '../../shared/src/limits.ts';
export {
  type ModelManifest,
  ModelManifestSchema,
  summarizeManifest,
} from '../../shared/src/model-manifest.ts';
