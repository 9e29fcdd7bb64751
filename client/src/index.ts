// @gigatok/client: the typed TypeScript client of the GigaTok Edge API, plus webhook verification
// re-exported from the shared contract so a webhook receiver needs this one package.

// From the shared contract: webhook verification (Standard Webhooks; the secret comes from
// getWebhookSecret()) and the GTOK token format, for .gtok files written by tokenize.
export {
  decodeTokens,
  encodeTokens,
  TokenFormatError,
  type TokenSet,
  type VerifyWebhookInput,
  verifyWebhook,
  WebhookVerificationError,
} from '@gigatok/shared';
export {
  type CreateGenerationOptions,
  DEFAULT_TIMEOUT_MS,
  type DetokenizeInput,
  type GenerateOptions,
  type GenerateProgress,
  type GenerationEventsOptions,
  type GenerationsResource,
  type GetTokensOptions,
  GigaTokClient,
  type GigaTokClientOptions,
  type ListOptions,
  type ListWebhookDeliveriesOptions,
  type RequestOptions,
  type TokenizeOptions,
} from './client.ts';
export {
  type CreateDatasetRequest,
  type Dataset,
  type DatasetImages,
  type DatasetList,
  type DatasetManifest,
  type DatasetOutput,
  DatasetsApi,
  type DatasetUploadResult,
  type DownloadedOutput,
  type WaitDatasetOptions,
} from './datasets.ts';
export {
  GigaTokApiError,
  GigaTokError,
  GigaTokNetworkError,
  GigaTokResponseError,
  GigaTokTimeoutError,
  type ProblemDetails,
} from './errors.ts';
export {
  type JobEventsOptions,
  type JobStreamEvent,
  parseEventStream,
  type SseMessage,
  StreamIdleError,
} from './events.ts';
export type { HttpResponse, RequestSpec, RetryEvent, RetryMode } from './http.ts';
export {
  type BinaryTokens,
  type ImageResult,
  isNotModified,
  type JsonTokens,
  type NotModified,
  type ResponseMeta,
  type TokenFormat,
  type TokensFor,
} from './responses.ts';
export { parseRetryAfter } from './retry.ts';
export {
  type CreateGenerationParams,
  type CreateVariationParams,
  type EmbeddingParams,
  type EmbeddingResponse,
  type Generation,
  type GenerationList,
  type GenerationStatus,
  type HealthResponse,
  isTerminal,
  type JobEvent,
  type JobEventType,
  type ModelInfo,
  type TerminalStatus,
  type TokensJson,
  type WebhookAttempt,
  type WebhookDelivery,
  type WebhookDeliveryList,
  type WebhookDeliveryStatus,
  type WebhookEventType,
  type WebhookSecretRotation,
} from './schemas.ts';
