// The cached read path: API keys and ownership grants answered without D1 when warm, the revocation
// bound, per-tenant cache indexes (no tenant sees another's history as a hit), Server-Timing on every
// answer, and how many D1 queries a `Prefer: wait` generation costs.
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { GenerationSchema } from '@gigatok/shared';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import worker from '../src/index.ts';
import { backend } from './backend-stub.ts';
import { api, call, newTenant, ORIGIN, postJson, type TestKey, testPng } from './helpers.ts';

let alice: TestKey;
let bob: TestKey;
let seed = 70_000;

beforeAll(async () => {
  alice = await newTenant('alice');
  bob = await newTenant('bob');
});

afterEach(() => {
  vi.useRealTimers();
});

/** vitest.config.ts sets AUTH_CACHE_TTL_SECONDS = 1. */
const TTL_MS = 1000;

async function tokenize(key: string, image: Uint8Array): Promise<Response> {
  return api(key, '/v1/tokenize', {
    method: 'POST',
    headers: { 'content-type': 'image/png' },
    body: image as Uint8Array<ArrayBuffer>,
  });
}

/** Server-Timing as a map of metric -> { dur, desc }; throws when the header is not well formed. */
function serverTiming(response: Response): Map<string, { dur: number; desc?: string }> {
  const header = response.headers.get('server-timing');
  if (header === null) throw new Error('no Server-Timing header');
  const metrics = new Map<string, { dur: number; desc?: string }>();
  for (const entry of header.split(', ')) {
    const match = /^([a-z0-9]+);dur=(\d+(?:\.\d+)?)(?:;desc="([^"\\]*)")?$/.exec(entry);
    if (!match) throw new Error(`malformed Server-Timing entry '${entry}' in '${header}'`);
    metrics.set(match[1]!, { dur: Number(match[2]), ...(match[3] === undefined ? {} : { desc: match[3] }) });
  }
  return metrics;
}

async function revokeInD1(keyId: string): Promise<void> {
  // As a revocation made through another isolate or colo would: this isolate's cache is not told.
  await env.DB.prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ?').bind(Date.now(), keyId).run();
}

describe('API keys without D1 on the warm path', () => {
  it('keeps answering a key revoked elsewhere until the bound, and refuses it from then on', async () => {
    const key = await newTenant('revoked-elsewhere');
    // Well past the entry that creating the key left in the cache, so the first call asks D1.
    const start = Date.now() + 10 * TTL_MS;
    vi.useFakeTimers({ toFake: ['Date'], now: start });
    const first = await api(key.key, '/v1/models');
    expect(first.status).toBe(200);
    expect(serverTiming(first).get('auth')?.desc).toBe('d1');

    await revokeInD1(key.id);
    vi.setSystemTime(start + TTL_MS - 1);
    const inside = await api(key.key, '/v1/models');
    expect(inside.status).toBe(200);
    expect(serverTiming(inside).get('auth')?.desc).toBe('isolate');

    vi.setSystemTime(start + TTL_MS);
    const after = await api(key.key, '/v1/models');
    expect(after.status).toBe(401);
    expect(await after.json()).toMatchObject({ detail: 'the API key has been revoked' });
    for (const later of [TTL_MS + 1, 5 * TTL_MS, 120_000]) {
      vi.setSystemTime(start + later);
      expect((await api(key.key, '/v1/models')).status, `at +${later} ms`).toBe(401);
    }
  });

  it('refuses a key revoked through this API at once, though it was cached a moment ago', async () => {
    const key = await newTenant('revoked-here');
    expect((await api(key.key, '/v1/models')).status).toBe(200);
    expect(serverTiming(await api(key.key, '/v1/models')).get('auth')?.desc).toBe('isolate');
    const revoke = await call(`/v1/admin/keys/${key.id}/revoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` },
    });
    expect(revoke.status).toBe(200);
    const response = await api(key.key, '/v1/models');
    expect(response.status).toBe(401);
  });

  it('accepts a key created a moment ago at once, and never caches an unknown key as valid', async () => {
    const forged = `gtk_live_${'b'.repeat(32)}`;
    for (let i = 0; i < 3; i++) {
      const response = await api(forged, '/v1/models');
      expect(response.status).toBe(401);
      expect(serverTiming(response).get('auth')?.desc).toBe('d1');
    }
    const fresh = await newTenant('fresh');
    expect((await api(fresh.key, '/v1/models')).status).toBe(200);
  });
});

describe('ownership and per-tenant cache indexes', () => {
  it("keeps a token set tenant A just made readable by A at once and a 404 for B, before and after A's reads", async () => {
    const response = await tokenize(alice.key, testPng(seed++));
    const { id } = (await response.json()) as { id: string };
    expect((await api(bob.key, `/v1/tokens/${id}`)).status).toBe(404);
    const firstRead = await api(alice.key, `/v1/tokens/${id}`);
    expect(firstRead.status).toBe(200);
    // The grant made by the tokenize is already in this isolate: no D1 for the ownership check.
    expect(serverTiming(firstRead).get('own')?.desc).toBe('isolate');
    for (const accept of ['application/json', 'application/vnd.gigatok.tokens']) {
      expect((await api(alice.key, `/v1/tokens/${id}`, { headers: { accept } })).status).toBe(200);
      expect((await api(bob.key, `/v1/tokens/${id}`, { headers: { accept } })).status).toBe(404);
    }
  });

  it('answers a grant made in D1 by another isolate at once (a negative answer is never cached)', async () => {
    const response = await tokenize(alice.key, testPng(seed++));
    const { id } = (await response.json()) as { id: string };
    expect((await api(bob.key, `/v1/tokens/${id}`)).status).toBe(404);
    await env.DB.prepare('INSERT INTO objects (tenant_id, object_id, created_at) VALUES (?, ?, ?)')
      .bind(bob.tenantId, id, Date.now())
      .run();
    const read = await api(bob.key, `/v1/tokens/${id}`);
    expect(read.status).toBe(200);
    expect(serverTiming(read).get('own')?.desc).toBe('d1');
  });

  it("renders an image again for a tenant whose history does not have it, and each tenant's repeat is a hit", async () => {
    const image = testPng(seed++);
    const { id: tokenId } = (await (await tokenize(alice.key, image)).json()) as { id: string };
    await tokenize(bob.key, image);
    const decodes = backend.count('/v1/decode');
    const aliceFirst = await postJson(alice.key, '/v1/detokenize', { token_id: tokenId });
    expect(aliceFirst.headers.get('x-cache')).toBe('miss');
    expect((await postJson(alice.key, '/v1/detokenize', { token_id: tokenId })).headers.get('x-cache')).toBe(
      'hit',
    );
    const bobFirst = await postJson(bob.key, '/v1/detokenize', { token_id: tokenId });
    expect(bobFirst.headers.get('x-cache')).toBe('miss');
    expect(bobFirst.headers.get('x-image-id')).toBe(aliceFirst.headers.get('x-image-id'));
    expect((await postJson(bob.key, '/v1/detokenize', { token_id: tokenId })).headers.get('x-cache')).toBe(
      'hit',
    );
    expect(backend.count('/v1/decode')).toBe(decodes + 2);
  });

  it('answers embeddings from the cache only for the tenant that asked before', async () => {
    const image = testPng(seed++);
    const { id: tokenId } = (await (await tokenize(alice.key, image)).json()) as { id: string };
    await tokenize(bob.key, image);
    const first = await postJson(alice.key, '/v1/embeddings', { token_id: tokenId });
    expect(first.headers.get('x-cache')).toBe('miss');
    expect((await postJson(alice.key, '/v1/embeddings', { token_id: tokenId })).headers.get('x-cache')).toBe(
      'hit',
    );
    const bobs = await postJson(bob.key, '/v1/embeddings', { token_id: tokenId });
    expect(bobs.headers.get('x-cache')).toBe('miss');
    expect(await bobs.json()).toEqual(await first.json());
  });
});

describe('Server-Timing', () => {
  it('says where a cached read spent its time', async () => {
    const { id } = (await (await tokenize(alice.key, testPng(seed++))).json()) as { id: string };
    const json = serverTiming(await api(alice.key, `/v1/tokens/${id}`));
    expect([...json.keys()]).toEqual(['auth', 'own', 'blob', 'enc', 'total']);
    // Which layer answered the key depends on the 1 s test TTL against this machine's speed; the bound
    // itself is tested with a faked clock above.
    expect(json.get('auth')?.desc).toMatch(/^(isolate|colo|d1)$/);
    const gtok = serverTiming(
      await api(alice.key, `/v1/tokens/${id}`, { headers: { accept: 'application/vnd.gigatok.tokens' } }),
    );
    expect([...gtok.keys()]).toEqual(['auth', 'own', 'blob', 'total']);
    const miss = serverTiming(await tokenize(alice.key, testPng(seed++)));
    expect([...miss.keys()]).toEqual(expect.arrayContaining(['auth', 'backend', 'd1', 'blob', 'total']));
  });

  it('is present and well formed on error answers too', async () => {
    const answers = [
      await api(alice.key, `/v1/tokens/tok_${'a'.repeat(32)}`), // 404 problem
      await api('gtk_live_nope', '/v1/models'), // 401
      await call('/v1/nowhere'), // 404 without a route
      await postJson(alice.key, '/v1/generations', { top_k: -1 }), // 400
      await call('/v1/healthz', { method: 'DELETE' }), // 405
    ];
    for (const response of answers) {
      expect(response.status).toBeGreaterThanOrEqual(400);
      expect(response.headers.get('content-type')).toBe('application/problem+json');
      expect(serverTiming(response).has('total')).toBe(true);
    }
  });
});

/** A D1 binding that counts round trips: each first/run/all/raw, and each batch as one. */
function countingDb(db: D1Database): { db: D1Database; count: () => number } {
  let n = 0;
  const wrapStatement = (statement: D1PreparedStatement): D1PreparedStatement =>
    new Proxy(statement, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (typeof value !== 'function') return value;
        if (prop === 'bind') return (...args: unknown[]) => wrapStatement(value.apply(target, args));
        if (['first', 'run', 'all', 'raw'].includes(String(prop))) {
          return (...args: unknown[]) => {
            n += 1;
            return value.apply(target, args);
          };
        }
        return value.bind(target);
      },
    });
  const wrapped = new Proxy(db, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (prop === 'prepare') return (sql: string) => wrapStatement(target.prepare(sql));
      if (prop === 'batch') {
        return (statements: D1PreparedStatement[]) => {
          n += 1;
          return target.batch(statements);
        };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { db: wrapped, count: () => n };
}

describe('D1 on the waiting path', () => {
  it('reads the job at growing intervals while Prefer: wait holds the request', async () => {
    const counted = countingDb(env.DB);
    const ctx = createExecutionContext();
    const started = Date.now();
    const response = await worker.fetch(
      new Request(`${ORIGIN}/v1/generations`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${alice.key}`,
          'content-type': 'application/json',
          prefer: 'wait=30',
        },
        body: JSON.stringify({ class_id: 1, seed: seed++ }),
      }),
      { ...env, DB: counted.db },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    const elapsed = Date.now() - started;
    expect(response.status).toBe(201);
    expect(GenerationSchema.parse(await response.json()).status).toBe('succeeded');
    // Polls that fit in `elapsed` on the 250 ms x1.5 (at most 3 s) schedule, plus one that found it done.
    let polls = 0;
    for (let at = 0, step = 250; at <= elapsed; step = Math.min(step * 1.5, 3000)) {
      at += step;
      polls += 1;
    }
    // Auth (the key may already be cached), the queue bound, the insert, then the polls.
    expect(counted.count()).toBeLessThanOrEqual(3 + polls);
    expect(counted.count()).toBeGreaterThanOrEqual(3);
  });
});
