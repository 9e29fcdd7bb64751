// The OpenAPI 3.1 document, generated from shared's schemas, checked by a real OpenAPI validator.
import { validate } from '@readme/openapi-parser';
import { describe, expect, it } from 'vitest';
import { openApiDocument } from '../src/lib/openapi/document.ts';

type Doc = {
  openapi: string;
  paths: Record<string, Record<string, { responses: Record<string, unknown>; requestBody?: unknown }>>;
  components: { schemas: Record<string, Record<string, unknown>> };
};

describe('OpenAPI document', () => {
  const doc = openApiDocument() as Doc;

  it('is a valid OpenAPI 3.1 document with every $ref resolvable', async () => {
    const result = await validate(structuredClone(doc) as never);
    if (!result.valid) throw new Error(JSON.stringify(result.errors, null, 2));
    expect(result.valid).toBe(true);
    expect(result.specification).toBe('OpenAPI');
    expect(doc.openapi).toBe('3.1.0');
  });

  it('describes every public route', () => {
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/v1/detokenize',
      '/v1/embeddings',
      '/v1/generations',
      '/v1/generations/{id}',
      '/v1/generations/{id}/cancel',
      '/v1/healthz',
      '/v1/images/{id}',
      '/v1/models',
      '/v1/tokenize',
      '/v1/tokens/{id}',
      '/v1/variations',
      '/v1/webhooks/secret',
    ]);
  });

  it('takes its schemas from shared, ranges included, without internal backend schemas', () => {
    const schemas = doc.components.schemas;
    expect(Object.keys(schemas)).toEqual(
      expect.arrayContaining([
        'Generation',
        'GenerationRequest',
        'Problem',
        'TokenizeResponse',
        'VariationRequest',
        'EmbeddingRequest',
        'Embedding',
      ]),
    );
    expect(Object.keys(schemas).filter((id) => id.startsWith('Backend'))).toEqual([]);
    const request = schemas.GenerationRequest as {
      properties: Record<string, { minimum?: number; maximum?: number }>;
    };
    expect(request.properties.count).toMatchObject({ minimum: 1, maximum: 16 });
    for (const schema of Object.values(schemas)) expect(schema).not.toHaveProperty('$id');
  });

  it('documents a problem+json answer for client errors on every operation', () => {
    for (const [path, operations] of Object.entries(doc.paths)) {
      if (path === '/v1/healthz') continue;
      for (const operation of Object.values(operations)) {
        const statuses = Object.keys(operation.responses);
        expect(
          statuses.some((s) => s.startsWith('4')),
          path,
        ).toBe(true);
      }
    }
  });
});
