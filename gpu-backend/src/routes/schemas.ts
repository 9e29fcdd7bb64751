// The backend API's request schemas and model summary, from the shared contract (shared/src/api/backend.ts).
export {
  checkSamplingForModel,
  DecodeRequestSchema,
  EncodeRequestSchema,
  GenerateRequestSchema,
  RequestIdParamSchema,
  summarizeManifest,
} from '../contract-shim.ts';
