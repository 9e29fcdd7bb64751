// /v1/generations through the real local queue: job creation, Prefer: wait, seeds, the parameters cache,
// Idempotency-Key, listing, canceling, tenant isolation, the per-tenant queue cap and bad input.

import { env } from 'cloudflare:workers';
import {
  type Generation,
  GenerationListSchema,
  GenerationSchema,
  generationParamsKey,
} from '@gigatok/shared';
import { beforeAll, describe, expect, it } from 'vitest';
import { backend, NANO } from './backend-stub.ts';
import { api, newTenant, postJson, type TestKey, waitFor } from './helpers.ts';

let alice: TestKey;
let bob: TestKey;
let nextSeed = 50_000;

beforeAll(async () => {
  alice = await newTenant('alice');
  bob = await newTenant('bob');
});

async function create(key: string, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const response = await postJson(key, '/v1/generations', body, headers);
  return { response, job: response.ok ? GenerationSchema.parse(await response.json()) : null };
}

async function finished(key: string, id: string): Promise<Generation> {
  return waitFor(async () => {
    const job = GenerationSchema.parse(await (await api(key, `/v1/generations/${id}`)).json());
    return ['succeeded', 'failed', 'canceled'].includes(job.status) ? job : null;
  });
}

describe('POST /v1/generations', () => {
  it('accepts a job with 202, resolves defaults and reports the random seed, then the queue completes it', async () => {
    const { response, job } = await create(alice.key, { class_id: 3 });
    expect(response.status).toBe(202);
    expect(response.headers.get('location')).toBe(`/v1/generations/${job!.id}`);
    expect(job).toMatchObject({
      object: 'generation',
      status: 'queued',
      model: 'gigatok-nano',
      cached: false,
      result: null,
    });
    expect(job!.params).toMatchObject({
      class_ids: [3],
      // The model's own defaults, as the backend's /v1/models reports them.
      ...NANO.sampling_defaults,
      output: { images: true, format: 'png' },
    });
    expect(Number.isInteger(job!.params.seed)).toBe(true);
    expect(job!.params_key).toBe(await generationParamsKey({ model: 'gigatok-nano', ...job!.params }));

    const done = await finished(alice.key, job!.id);
    expect(done).toMatchObject({ status: 'succeeded', attempts: 1, error: null });
    expect(done.started_at).not.toBeNull();
    const image = done.result!.images[0]!;
    expect(image).toMatchObject({ index: 0, class_id: 3, tokens_url: `/v1/tokens/${image.token_id}` });
    // The result's artifacts belong to the caller.
    expect((await api(alice.key, image.tokens_url)).status).toBe(200);
    const png = await api(alice.key, image.image_url!);
    expect(png.headers.get('content-type')).toBe('image/png');
    expect((await api(bob.key, image.image_url!)).status).toBe(404);
  });

  it('answers 201 with the result when it finishes within Prefer: wait', async () => {
    const seed = nextSeed++;
    const { response, job } = await create(
      alice.key,
      { seed, class_id: [1, null, 2] },
      { prefer: 'wait=10' },
    );
    expect(response.status).toBe(201);
    expect(response.headers.get('preference-applied')).toBe('wait=10');
    expect(job).toMatchObject({ status: 'succeeded', params: { seed, class_ids: [1, null, 2] } });
    expect(job!.result!.images.map((i) => i.class_id)).toEqual([1, null, 2]);
    // One token set per image, each its own id.
    expect(new Set(job!.result!.images.map((i) => i.token_id)).size).toBe(3);
  });

  it('serves the same parameters and seed from R2 without calling the backend again', async () => {
    const seed = nextSeed++;
    const body = { seed, class_id: 5, count: 2, cfg_scale: 2.5, top_k: 100 };
    const first = await create(alice.key, body, { prefer: 'wait=10' });
    expect(first.job).toMatchObject({ status: 'succeeded', cached: false });
    expect(backend.generateCalls(seed)).toHaveLength(1);

    const again = await create(alice.key, body);
    expect(again.response.status).toBe(201);
    expect(again.job).toMatchObject({ status: 'succeeded', cached: true, params_key: first.job!.params_key });
    expect(again.job!.id).not.toBe(first.job!.id);
    expect(again.job!.result).toEqual(first.job!.result);
    expect(backend.generateCalls(seed)).toHaveLength(1);

    // Another tenant's identical request is not answered from Alice's history: the backend runs it
    // again (cached: false), with the same tokens; Bob's own repeat is then his cache hit.
    const other = await create(bob.key, body, { prefer: 'wait=10' });
    expect(other.job).toMatchObject({ status: 'succeeded', cached: false });
    expect(other.job!.result).toEqual(first.job!.result);
    expect(backend.generateCalls(seed)).toHaveLength(2);
    expect((await api(bob.key, other.job!.result!.images[0]!.image_url!)).status).toBe(200);
    const bobAgain = await create(bob.key, body);
    expect(bobAgain.job).toMatchObject({ status: 'succeeded', cached: true });
    expect(backend.generateCalls(seed)).toHaveLength(2);
  });

  it('gives the same tokens for the same seed even when only the output options differ', async () => {
    const seed = nextSeed++;
    const png = await create(alice.key, { seed, class_id: 7 }, { prefer: 'wait=10' });
    const tokensOnly = await create(
      alice.key,
      { seed, class_id: 7, output: { images: false } },
      { prefer: 'wait=10' },
    );
    expect(tokensOnly.job!.result!.images[0]).toMatchObject({ image_id: null, image_url: null });
    expect(tokensOnly.job!.result!.images[0]!.token_id).toBe(png.job!.result!.images[0]!.token_id);
  });
});

describe('Idempotency-Key', () => {
  let carol: TestKey;
  beforeAll(async () => {
    carol = await newTenant('carol');
  });

  it('returns the same job for the same key and body', async () => {
    const key = `order-${crypto.randomUUID()}`;
    const body = { class_id: 4 }; // no seed: the replay must not draw a new one
    const first = await create(carol.key, body, { 'idempotency-key': key });
    const second = await create(carol.key, { class_id: 4 }, { 'idempotency-key': key });
    expect(second.job!.id).toBe(first.job!.id);
    expect(second.job!.params.seed).toBe(first.job!.params.seed);
    expect(second.response.headers.get('idempotent-replayed')).toBe('true');
  });

  it('treats bodies that differ only in key order as the same request', async () => {
    const key = `order-${crypto.randomUUID()}`;
    const first = await create(carol.key, { seed: 1, class_id: 2 }, { 'idempotency-key': key });
    const second = await create(carol.key, { class_id: 2, seed: 1 }, { 'idempotency-key': key });
    expect(second.job!.id).toBe(first.job!.id);
  });

  it('refuses the same key with a different body with 422', async () => {
    const key = `order-${crypto.randomUUID()}`;
    await create(carol.key, { class_id: 4 }, { 'idempotency-key': key });
    const { response } = await create(carol.key, { class_id: 5 }, { 'idempotency-key': key });
    expect(response.status).toBe(422);
    expect(await response.json()).toMatchObject({ code: 'idempotency_key_reused' });
  });

  it('scopes keys to the tenant', async () => {
    const key = `shared-${crypto.randomUUID()}`;
    const mine = await create(carol.key, { class_id: 1 }, { 'idempotency-key': key });
    const theirs = await create(bob.key, { class_id: 9 }, { 'idempotency-key': key });
    expect(theirs.response.status).toBe(202);
    expect(theirs.job!.id).not.toBe(mine.job!.id);
  });

  it('refuses a malformed key', async () => {
    const { response } = await create(carol.key, { class_id: 1 }, { 'idempotency-key': 'has spaces in it' });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ code: 'invalid_parameter', field: 'Idempotency-Key' });
  });
});

describe('POST /v1/generations: bad input', () => {
  let dave: TestKey;
  beforeAll(async () => {
    dave = await newTenant('dave');
  });

  it.each([
    [{ class_id: 10 }, 'class_id'], // the nano model has 10 classes
    [{ class_id: [1, 10] }, 'class_id.1'],
    [{ class_id: -1 }, 'class_id'],
    [{ class_id: 'cat' }, 'class_id'],
    [{ class_id: [] }, 'class_id'],
    [{ top_k: 1025 }, 'top_k'], // above the codebook size
    [{ top_k: 1.5 }, 'top_k'],
    [{ count: 0 }, 'count'],
    [{ count: 17 }, 'count'],
    [{ class_id: [1, 2], count: 3 }, 'count'],
    [{ seed: -1 }, 'seed'],
    [{ seed: 2 ** 32 }, 'seed'],
    [{ seed: '42' }, 'seed'],
    [{ temperature: 0 }, 'temperature'],
    [{ cfg_scale: 21 }, 'cfg_scale'],
    [{ top_p: 0 }, 'top_p'],
    [{ cfg_schedule: 'linear' }, 'cfg_schedule'],
    [{ output: { format: 'gif' } }, 'output.format'],
    [{ colour: 'red' }, 'colour'],
  ])('refuses %j naming %s', async (body, field) => {
    const { response } = await create(dave.key, body);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ code: 'invalid_parameter', field });
  });

  it('refuses a body that is not an object', async () => {
    for (const body of [[], 'text', 42, null]) {
      const { response } = await create(dave.key, body as never);
      expect(response.status).toBe(400);
    }
  });

  it('refuses an unknown model', async () => {
    const { response } = await create(dave.key, { model: 'gigatok-xxl' });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ code: 'unknown_model', field: 'model' });
  });

  it.each([
    'http://hooks.example.com/x', // not https
    'https://127.0.0.1/x',
    'https://localhost/x',
    'https://2130706433/x', // 127.0.0.1 as a decimal number
    'https://0x7f000001/x', // hex
    'https://0177.0.0.1/x', // octal
    'https://[::1]/x',
    'https://[::ffff:127.0.0.1]/x',
    'https://169.254.169.254/latest/meta-data',
    'https://10.1.2.3/x',
    'https://192.168.0.10/x',
    'https://172.20.0.1/x',
    'https://[fd12::1]/x',
    'https://[fe80::1]/x',
    'https://0.0.0.0/x',
    'https://user:pass@hooks.example.com/x',
    'ftp://hooks.example.com/x',
  ])('refuses the webhook URL %s', async (url) => {
    const { response } = await create(dave.key, { webhook: { url } });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ field: 'webhook.url' });
  });

  it('refuses unknown webhook events', async () => {
    const { response } = await create(dave.key, {
      webhook: { url: 'https://hooks.example.com/x', events: ['job.done'] },
    });
    expect(response.status).toBe(400);
  });
});

describe('listing, reading and canceling', () => {
  let erin: TestKey;
  beforeAll(async () => {
    erin = await newTenant('erin');
  });

  it('lists newest first with a cursor, pages without overlap', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await create(erin.key, { class_id: i })).job!.id);
    const page1 = GenerationListSchema.parse(await (await api(erin.key, '/v1/generations?limit=2')).json());
    expect(page1.data.map((j) => j.id)).toEqual([ids[2], ids[1]]);
    expect(page1.next_cursor).not.toBeNull();
    const page2 = GenerationListSchema.parse(
      await (await api(erin.key, `/v1/generations?limit=2&cursor=${page1.next_cursor}`)).json(),
    );
    expect(page2.data.map((j) => j.id)).toEqual([ids[0]]);
    expect(page2.next_cursor).toBeNull();
  });

  it('refuses a bad limit or cursor', async () => {
    for (const query of ['limit=0', 'limit=101', 'limit=ten', 'cursor=garbage']) {
      const response = await api(erin.key, `/v1/generations?${query}`);
      expect(response.status).toBe(400);
      expect(((await response.json()) as { field: string }).field).toMatch(/^(limit|cursor)$/);
    }
  });

  it("hides one tenant's jobs from another", async () => {
    const { job } = await create(erin.key, { class_id: 1 });
    expect((await api(bob.key, `/v1/generations/${job!.id}`)).status).toBe(404);
    expect((await api(bob.key, `/v1/generations/${job!.id}/cancel`, { method: 'POST' })).status).toBe(404);
    const list = GenerationListSchema.parse(await (await api(bob.key, '/v1/generations?limit=100')).json());
    expect(list.data.map((j) => j.id)).not.toContain(job!.id);
  });

  it('cancels an unfinished job, and a finished one answers 409', async () => {
    // The backend answers 503 for this seed, so the job stays queued (retrying) until canceled.
    const seed = nextSeed++;
    backend.generateModes.set(seed, 'loading');
    try {
      const { job } = await create(erin.key, { class_id: 2, seed });
      const canceled = await api(erin.key, `/v1/generations/${job!.id}/cancel`, { method: 'POST' });
      expect(canceled.status).toBe(200);
      expect(await canceled.json()).toMatchObject({ id: job!.id, status: 'canceled' });
      const again = await api(erin.key, `/v1/generations/${job!.id}/cancel`, { method: 'POST' });
      expect(again.status).toBe(409);
      expect(await again.json()).toMatchObject({ code: 'not_cancelable' });
      // Whatever the consumer does with the queued message now, the job stays canceled.
      backend.generateModes.delete(seed);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const after = GenerationSchema.parse(await (await api(erin.key, `/v1/generations/${job!.id}`)).json());
      expect(after).toMatchObject({ status: 'canceled', result: null });
    } finally {
      backend.generateModes.delete(seed);
    }
  });

  it('answers 404 for unknown and malformed job ids', async () => {
    expect((await api(erin.key, `/v1/generations/job_${'a'.repeat(32)}`)).status).toBe(404);
    expect((await api(erin.key, '/v1/generations/nope')).status).toBe(404);
  });
});

describe('queue cap', () => {
  it('answers 429 queue_full once a tenant has too many jobs in flight', async () => {
    const frank = await newTenant('frank');
    const insert = env.DB.prepare(
      `INSERT INTO jobs (id, tenant_id, status, model, params, params_key, created_at)
       VALUES (?, ?, 'queued', 'gigatok-nano', '{}', 'gpk_x', ?)`,
    );
    await env.DB.batch(
      [...Array(Number(env.MAX_QUEUED_JOBS_PER_TENANT)).keys()].map((i) =>
        insert.bind(`fake-${frank.tenantId}-${i}`, frank.tenantId, i),
      ),
    );
    const { response } = await create(frank.key, { class_id: 1 });
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('10');
    expect(await response.json()).toMatchObject({
      code: 'queue_full',
      limit: Number(env.MAX_QUEUED_JOBS_PER_TENANT),
    });
  });
});
