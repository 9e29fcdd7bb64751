// Authentication, admin key minting, rate limits, the error boundary, health and the OpenAPI document.

import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { encodeTokens } from '@gigatok/shared';
import { beforeAll, describe, expect, it } from 'vitest';
import worker from '../src/index.ts';
import { backend } from './backend-stub.ts';
import { api, call, newTenant, ORIGIN, postJson, type TestKey } from './helpers.ts';

let alice: TestKey;

beforeAll(async () => {
  alice = await newTenant('alice');
});

async function expectProblem(response: Response, status: number, code: string) {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toBe('application/problem+json');
  expect(response.headers.get('cache-control')).toBe('no-store');
  const body = (await response.json()) as Record<string, unknown>;
  expect(body).toMatchObject({ status, code, type: `urn:gigatok:problem:${code}` });
  expect(typeof body.title).toBe('string');
  expect(typeof body.detail).toBe('string');
  return body;
}

describe('API keys', () => {
  it('accepts a valid key', async () => {
    const response = await api(alice.key, '/v1/webhooks/secret');
    expect(response.status).toBe(200);
    expect(((await response.json()) as { secret: string }).secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
  });

  it('refuses a request without a key with 401 and a Bearer challenge', async () => {
    const response = await call('/v1/webhooks/secret');
    await expectProblem(response, 401, 'unauthorized');
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer realm="gigatok"/);
  });

  it('refuses malformed, unknown and non-Bearer credentials', async () => {
    for (const header of [
      'Bearer nope',
      'Basic dXNlcjpwYXNz',
      `Bearer gtk_live_${'a'.repeat(32)}`, // well-formed, never issued
      `Bearer ${alice.key}x`,
      `Token ${alice.key}`,
    ]) {
      const response = await call('/v1/webhooks/secret', { headers: { authorization: header } });
      await expectProblem(response, 401, 'unauthorized');
    }
  });

  it('refuses a revoked key', async () => {
    const bob = await newTenant('bob');
    expect((await api(bob.key, '/v1/webhooks/secret')).status).toBe(200);
    const revoked = await call(`/v1/admin/keys/${bob.id}/revoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` },
    });
    expect(revoked.status).toBe(200);
    const body = await expectProblem(await api(bob.key, '/v1/webhooks/secret'), 401, 'unauthorized');
    expect(body.detail).toMatch(/revoked/);
  });

  it('stores only the hash of a key', async () => {
    const rows = await env.DB.prepare('SELECT key_hash, prefix FROM api_keys WHERE id = ?')
      .bind(alice.id)
      .all();
    const row = rows.results[0] as { key_hash: string; prefix: string };
    expect(row.key_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(row.key_hash).not.toContain(alice.key.slice(9));
    expect(alice.key.startsWith(row.prefix)).toBe(true);
  });

  it('gives every tenant its own webhook secret', async () => {
    const other = await newTenant('other');
    expect(other.secret).not.toBe(alice.secret);
  });
});

describe('admin routes', () => {
  it('refuse a wrong admin token', async () => {
    const response = await call('/v1/admin/keys', {
      method: 'POST',
      headers: { authorization: 'Bearer not-the-token', 'content-type': 'application/json' },
      body: '{}',
    });
    await expectProblem(response, 401, 'unauthorized');
  });

  it('refuse an API key in place of the admin token', async () => {
    const response = await api(alice.key, '/v1/admin/keys', { method: 'POST', body: '{}' });
    await expectProblem(response, 401, 'unauthorized');
  });

  it('add a key to an existing tenant', async () => {
    const response = await call('/v1/admin/keys', {
      method: 'POST',
      headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ tenant_id: alice.tenantId, name: 'second' }),
    });
    expect(response.status).toBe(201);
    const created = (await response.json()) as { key: string; tenant_id: string };
    expect(created.tenant_id).toBe(alice.tenantId);
    const secret = (await (await api(created.key, '/v1/webhooks/secret')).json()) as { secret: string };
    expect(secret.secret).toBe(alice.secret);
  });
});

describe('rate limits', () => {
  it('answers 429 with Retry-After once a key exceeds its limit, and counts keys separately', async () => {
    const flood = await newTenant('flood');
    const statuses: number[] = [];
    // The test config sets 50 a minute; newTenant already spent one request.
    for (let i = 0; i < 52; i++) statuses.push((await api(flood.key, '/v1/webhooks/secret')).status);
    expect(statuses.slice(0, 49).every((s) => s === 200)).toBe(true);
    expect(statuses.at(-1)).toBe(429);
    const limited = await api(flood.key, '/v1/webhooks/secret');
    await expectProblem(limited, 429, 'rate_limited');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await api(alice.key, '/v1/webhooks/secret')).status).toBe(200);
  });
});

describe('error boundary', () => {
  it('answers unknown paths with a 404 problem', async () => {
    await expectProblem(await api(alice.key, '/v1/nothing-here'), 404, 'not_found');
  });

  it('answers a known path with the wrong method with 405 and Allow', async () => {
    const response = await api(alice.key, '/v1/tokenize', { method: 'GET' });
    await expectProblem(response, 405, 'method_not_allowed');
    expect(response.headers.get('allow')).toBe('POST');
  });

  it('answers an unexpected failure with a generic 500 that leaks nothing', async () => {
    // A corrupt blob under a token id the tenant owns: decoding it throws inside the route.
    const id = `tok_${'b'.repeat(32)}`;
    const gtok = encodeTokens({
      model: 'gigatok-nano',
      codebookSize: 1024,
      tokensPerImage: 4,
      tokens: [[1, 2, 3, 4]],
    });
    gtok[gtok.length - 1]! ^= 0xff;
    await env.ARTIFACTS.put(`tokens/${id}`, gtok);
    await env.DB.prepare('INSERT INTO objects (tenant_id, object_id, created_at) VALUES (?, ?, 0)')
      .bind(alice.tenantId, id)
      .run();
    const response = await api(alice.key, `/v1/tokens/${id}`);
    const body = await expectProblem(response, 500, 'internal');
    expect(body.detail).toBe('an internal error occurred');
    expect(JSON.stringify(body)).not.toMatch(/checksum|crc|stack|TokenFormat/i);
  });

  it('answers malformed JSON with invalid_json', async () => {
    const response = await api(alice.key, '/v1/generations', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"count": 1,',
    });
    await expectProblem(response, 400, 'invalid_json');
  });

  it('answers a JSON route sent another media type with 415', async () => {
    const response = await api(alice.key, '/v1/generations', {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: '{}',
    });
    await expectProblem(response, 415, 'unsupported_media_type');
  });

  it('refuses an oversize JSON body with 413 before reading it', async () => {
    const response = await postJson(alice.key, '/v1/generations', { pad: 'x'.repeat(70 * 1024) });
    const body = await expectProblem(response, 413, 'payload_too_large');
    expect(body.limit).toBe(64 * 1024);
  });
});

describe('public routes', () => {
  it('reports health without a key', async () => {
    const response = await call('/v1/healthz');
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('reports backend readiness when asked, staying alive while the backend loads or is down', async () => {
    expect(await (await call('/v1/healthz?backend=1')).json()).toEqual({ status: 'ok', backend: 'ready' });
    try {
      backend.mode = 'loading';
      expect(await (await call('/v1/healthz?backend=1')).json()).toEqual({
        status: 'ok',
        backend: 'loading',
      });
      backend.mode = 'down';
      const down = await call('/v1/healthz?backend=1');
      expect(down.status).toBe(200);
      expect(await down.json()).toEqual({ status: 'ok', backend: 'unavailable' });
    } finally {
      backend.mode = 'up';
    }
  });

  it('answers 503 service_unavailable as problem+json when the database cannot be reached', async () => {
    const broken = {
      prepare: () => {
        throw new Error('D1 is down');
      },
    } as unknown as D1Database;
    const ctx = createExecutionContext();
    const response = await worker.fetch(new Request(`${ORIGIN}/v1/healthz`), { ...env, DB: broken }, ctx);
    await waitOnExecutionContext(ctx);
    expect(response.status).toBe(503);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(await response.json()).toMatchObject({
      status: 503,
      code: 'service_unavailable',
      detail: 'the database is unreachable',
    });
  });

  it('serves the OpenAPI 3.1 document without a key', async () => {
    const response = await call('/v1/openapi.json');
    expect(response.status).toBe(200);
    const doc = (await response.json()) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toContain('/v1/generations/{id}/cancel');
  });
});
