// The shared contract as the client uses it: shared's zod schemas and inferred types under the
// names the client's signatures read best with. Nothing is redefined here; only re-exported.

import type { Generation } from '@gigatok/shared';
import {
  type EmbeddingRequestSchema,
  type GenerationRequestSchema,
  isTerminalJobStatus,
  type VariationRequestSchema,
} from '@gigatok/shared';

export {
  type EmbeddingResponse,
  EmbeddingResponseSchema,
  type Generation,
  type GenerationList,
  GenerationListSchema,
  GenerationSchema,
  type GenerationStatus,
  type HealthResponse,
  HealthResponseSchema,
  type ManifestSummary as ModelInfo,
  ModelListSchema,
  type TokensResponse as TokensJson,
  TokensResponseSchema as TokensJsonSchema,
  type WebhookAttempt,
  type WebhookDelivery,
  type WebhookDeliveryList,
  WebhookDeliveryListSchema,
  WebhookDeliverySchema,
  type WebhookDeliveryStatus,
  type WebhookEventType,
  WebhookSecretResponseSchema as WebhookSecretSchema,
  type WebhookSecretRotation,
  WebhookSecretRotationSchema,
} from '@gigatok/shared';

/** The body of POST /v1/generations as the caller writes it (zod input type: every field optional). */
export type CreateGenerationParams = (typeof GenerationRequestSchema)['_zod']['input'];

/** The body of POST /v1/variations (image as base64, or token_id; keep or keep_fraction). */
export type CreateVariationParams = (typeof VariationRequestSchema)['_zod']['input'];

/** The body of POST /v1/embeddings. */
export type EmbeddingParams = (typeof EmbeddingRequestSchema)['_zod']['input'];

export type TerminalStatus = 'succeeded' | 'failed' | 'canceled';

export function isTerminal(job: Pick<Generation, 'status'>): job is Generation & { status: TerminalStatus } {
  return isTerminalJobStatus(job.status);
}

/** What the client needs of a zod schema: safeParse. Structural, so the client needs no zod import. */
export interface Schema<T> {
  safeParse(
    value: unknown,
  ):
    | { success: true; data: T }
    | { success: false; error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] } };
}
