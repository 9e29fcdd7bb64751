// The Worker builds its OpenAPI 3.1 document from these schemas: every named schema must convert to JSON
// Schema, under a unique id.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ManifestSummarySchema, ModelManifestSchema } from '../model-manifest.ts';
import * as backend from './backend.ts';
import * as publicApi from './public.ts';

const exported: unknown[] = [
  ...Object.values(publicApi),
  ...Object.values(backend),
  ModelManifestSchema,
  ManifestSummarySchema,
];
const schemas = exported.filter((value): value is z.ZodType => value instanceof z.ZodType);
const named = schemas.filter((s) => z.globalRegistry.get(s)?.id !== undefined);

describe('OpenAPI metadata', () => {
  it('names the main request and response schemas', () => {
    const ids = new Set(named.map((s) => z.globalRegistry.get(s)?.id));
    for (const id of [
      'TokenizeJsonRequest',
      'TokenizeResponse',
      'DetokenizeRequest',
      'GenerationRequest',
      'Generation',
      'GenerationList',
      'GenerationParams',
      'Problem',
      'WebhookPayload',
      'ModelList',
      'ModelSummary',
      'BackendEncodeRequest',
      'BackendGenerateRequest',
      'BackendDecodeResponse',
      'VariationRequest',
      'EmbeddingRequest',
      'Embedding',
      'BackendEmbedRequest',
      'BackendEmbedResponse',
    ]) {
      expect(ids.has(id), id).toBe(true);
    }
    expect(z.globalRegistry.get(publicApi.TokensResponseSchema)?.description).toMatch(/token set/);
  });

  it('converts every exported schema to JSON Schema, for requests (input) and responses (output)', () => {
    for (const schema of schemas) {
      const io = z.toJSONSchema(schema, { io: 'input' });
      expect(io).toBeTypeOf('object');
      if (schema !== publicApi.ListGenerationsQuerySchema) z.toJSONSchema(schema, { io: 'output' });
    }
  });

  it('keeps ranges in the JSON Schema', () => {
    const json = z.toJSONSchema(publicApi.GenerationRequestSchema, { io: 'input' }) as {
      $defs: Record<string, { properties: Record<string, { minimum?: number; maximum?: number }> }>;
    };
    const props = json.$defs.GenerationRequest!.properties;
    expect(props.count).toMatchObject({ minimum: 1, maximum: 16 });
    expect(props.top_p).toMatchObject({ maximum: 1 });
  });
});
