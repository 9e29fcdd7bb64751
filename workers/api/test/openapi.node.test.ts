// The OpenAPI 3.1 document, built from the app's real routes and shared's schemas, checked by two
// independent OpenAPI validators.
import { validate } from '@readme/openapi-parser';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Hono } from 'hono';
import { expect, it, describe as suite } from 'vitest';
import { app } from '../src/app.ts';
import { describe } from '../src/lib/openapi/describe.ts';
import { openApiDocument, openApiPath } from '../src/lib/openapi/document.ts';

type Doc = {
  openapi: string;
  paths: Record<string, Record<string, { responses: Record<string, unknown>; requestBody?: unknown }>>;
  components: { schemas: Record<string, Record<string, unknown>>; responses: Record<string, unknown> };
};

suite('OpenAPI document', () => {
  const doc = openApiDocument(app.routes) as Doc;

  it('is a valid OpenAPI 3.1 document with every $ref resolvable (@readme/openapi-parser)', async () => {
    const result = await validate(structuredClone(doc) as never);
    if (!result.valid) throw new Error(JSON.stringify(result.errors, null, 2));
    expect(result.valid).toBe(true);
    expect(result.specification).toBe('OpenAPI');
    expect(doc.openapi).toBe('3.1.0');
  });

  it("is valid under OpenAPI 3.1's own JSON Schema too (@seriousme/openapi-schema-validator)", async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc) as never);
    if (!result.valid) throw new Error(JSON.stringify(result.errors, null, 2));
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it("describes exactly the app's routes: every method and path it serves, and nothing else", () => {
    const served = new Set<string>();
    for (const route of app.routes) {
      if (route.method === 'ALL' || route.path.startsWith('/v1/admin')) continue;
      served.add(`${route.method.toLowerCase()} ${openApiPath(route.path)}`);
    }
    const documented = new Set<string>();
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const method of Object.keys(item)) documented.add(`${method} ${path}`);
    }
    expect([...documented].sort()).toEqual([...served].sort());
    // The public surface, spelled out once so that removing a route is a visible change here too.
    expect(served.size).toBe(27);
  });

  it('refuses to build for an app with a route that carries no operation, naming it', () => {
    const other = new Hono()
      .get('/v1/documented', describe({ operationId: 'x', summary: 'x', responses: {} }), (c) => c.text('x'))
      .post('/v1/forgotten', (c) => c.text('y'));
    expect(() => openApiDocument(other.routes)).toThrow(
      'routes without an OpenAPI operation (add describe(...)): POST /v1/forgotten',
    );
  });

  it('lists Server-Timing on every response', () => {
    const responses = [
      ...Object.values(doc.paths).flatMap((item) =>
        Object.values(item).flatMap((op) => Object.values(op.responses)),
      ),
      ...Object.values(doc.components.responses),
    ] as { $ref?: string; headers?: Record<string, unknown> }[];
    for (const response of responses) {
      if (response.$ref) continue;
      expect(response.headers).toHaveProperty('Server-Timing');
    }
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
      if (path === '/v1/healthz' || path === '/v1/openapi.json') continue;
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
