// POST /v1/variations and POST /v1/embeddings through the real local queue, R2 and D1, with the backend
// stub (test/backend-stub.ts): sources by image and by token id, prefixes sent to the backend and kept in
// the result, keep 0 = /v1/generations, the generation semantics (Prefer: wait, Idempotency-Key, cache),
// embeddings in JSON and binary, cached by token set, tenant isolation and bad input.
import { type Generation, GenerationSchema, toBase64 } from '@gigatok/shared';
import { encodePng } from '@gigatok/shared/testing/png';
import { beforeAll, describe, expect, it } from 'vitest';
import { backend } from './backend-stub.ts';
import { api, newTenant, postJson, type TestKey, testPng } from './helpers.ts';

let alice: TestKey;
let bob: TestKey;
let nextSeed = 70_000;

beforeAll(async () => {
  alice = await newTenant('alice-variations');
  bob = await newTenant('bob-variations');
});

/** Tokenizes a fresh PNG for `key`; its token id and row. */
async function tokenized(key: string, seed: number): Promise<{ id: string; row: number[] }> {
  const res = await postJson(key, '/v1/tokenize', { image: toBase64(testPng(seed)) });
  const body = (await res.json()) as { id: string; tokens: number[][] };
  return { id: body.id, row: body.tokens[0]! };
}

async function variation(key: string, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const response = await postJson(key, '/v1/variations', body, { prefer: 'wait=10', ...headers });
  const text = await response.text();
  return { response, text, job: response.status < 300 ? GenerationSchema.parse(JSON.parse(text)) : null };
}

async function rowsOf(key: string, job: Generation): Promise<number[][]> {
  return Promise.all(
    job.result!.images.map(async (image) => {
      const body = (await (await api(key, image.tokens_url)).json()) as { tokens: number[][] };
      return body.tokens[0]!;
    }),
  );
}

describe('POST /v1/variations', () => {
  it('keeps the first `keep` tokens of a token set and samples the rest, as a generation job', async () => {
    const source = await tokenized(alice.key, 1);
    const seed = nextSeed++;
    const { response, job } = await variation(alice.key, {
      token_id: source.id,
      keep: 8,
      count: 3,
      seed,
      class_id: 2,
    });
    expect(response.status).toBe(201);
    expect(response.headers.get('location')).toBe(`/v1/generations/${job!.id}`);
    expect(job).toMatchObject({ object: 'generation', status: 'succeeded', model: 'gigatok-nano' });
    expect(job!.params).toMatchObject({
      seed,
      class_ids: [2, 2, 2],
      variation: { source_token_id: source.id, keep: 8 },
    });
    // The backend got the source's first 8 tokens as every image's prefix.
    const [call] = backend.generateCalls(seed);
    expect((call!.body as { prefixes: number[][] }).prefixes).toEqual(
      [0, 1, 2].map(() => source.row.slice(0, 8)),
    );
    const rows = await rowsOf(alice.key, job!);
    for (const row of rows) {
      expect(row.slice(0, 8)).toEqual(source.row.slice(0, 8));
      expect(row.slice(8)).not.toEqual(source.row.slice(8));
    }
    // Polling by id works as for any generation.
    expect((await api(alice.key, `/v1/generations/${job!.id}`)).status).toBe(200);
  });

  it('takes an uploaded image: tokenizes it (the caller owns the tokens), and keep_fraction of its tokens', async () => {
    const png = toBase64(testPng(2));
    const seed = nextSeed++;
    const { job } = await variation(alice.key, { image: png, keep_fraction: 0.25, seed });
    const source = await tokenized(alice.key, 2);
    expect(job!.params.variation).toEqual({ source_token_id: source.id, keep: 8 });
    expect(job!.params.class_ids).toEqual([null]);
    expect((await rowsOf(alice.key, job!))[0]!.slice(0, 8)).toEqual(source.row.slice(0, 8));
  });

  it('takes an image whose base64 is over 64 KiB (a 256x256 photo), as a variation and for an embedding', async () => {
    // Noise does not compress: about 192 KiB of PNG, 256 KiB of base64 (the 64 KiB JSON bound refused it).
    let state = 12345;
    const noisy = encodePng(256, 256, () => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return [state >>> 24, (state >>> 16) & 0xff, (state >>> 8) & 0xff];
    });
    const image = toBase64(noisy);
    expect(image.length).toBeGreaterThan(128 * 1024);
    const { response, job } = await variation(alice.key, { image, keep: 4, seed: nextSeed++ });
    expect(response.status).toBe(201);
    expect(job!.params.variation!.keep).toBe(4);
    const embedding = await postJson(alice.key, '/v1/embeddings', { image });
    expect(embedding.status).toBe(200);
    expect((await embedding.json()) as { token_id: string }).toMatchObject({
      token_id: job!.params.variation!.source_token_id,
    });
  });

  it('with keep 0 gives the tokens /v1/generations gives for the same seed and class', async () => {
    const source = await tokenized(alice.key, 3);
    const seed = nextSeed++;
    const { job } = await variation(alice.key, { token_id: source.id, keep: 0, seed, class_id: 4, count: 2 });
    const plain = await postJson(
      alice.key,
      '/v1/generations',
      { seed, class_id: 4, count: 2 },
      { prefer: 'wait=10' },
    );
    const generated = GenerationSchema.parse(await plain.json());
    expect(job!.result!.images.map((i) => i.token_id)).toEqual(
      generated.result!.images.map((i) => i.token_id),
    );
    expect(job!.params_key).not.toBe(generated.params_key);
  });

  it('serves the same parameters from R2 and replays an Idempotency-Key, without the backend', async () => {
    const source = await tokenized(alice.key, 4);
    const seed = nextSeed++;
    const body = { token_id: source.id, keep: 5, seed };
    const first = await variation(alice.key, body, { 'idempotency-key': `var-${seed}` });
    const replay = await variation(alice.key, body, { 'idempotency-key': `var-${seed}` });
    expect(replay.response.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.job!.id).toBe(first.job!.id);
    const again = await variation(alice.key, body);
    expect(again.job).toMatchObject({ status: 'succeeded', cached: true });
    expect(again.job!.id).not.toBe(first.job!.id);
    expect(backend.generateCalls(seed)).toHaveLength(1);
    const other = await variation(alice.key, { ...body, keep: 6 }, { 'idempotency-key': `var-${seed}` });
    expect(other.response.status).toBe(422);
  });

  it("refuses another tenant's token set, keep beyond the model, and two sources, naming the field", async () => {
    const source = await tokenized(alice.key, 5);
    const stolen = await variation(bob.key, { token_id: source.id });
    expect(stolen.response.status).toBe(404);
    expect(JSON.parse(stolen.text)).toMatchObject({ code: 'not_found', field: 'token_id' });
    const tooMany = await variation(alice.key, { token_id: source.id, keep: 32 });
    expect(tooMany.response.status).toBe(400);
    expect(JSON.parse(tooMany.text)).toMatchObject({ code: 'invalid_parameter', field: 'keep', limit: 31 });
    const both = await variation(alice.key, { token_id: source.id, image: 'AAAA' });
    expect(JSON.parse(both.text)).toMatchObject({ code: 'invalid_parameter', field: 'token_id' });
    const notImage = await variation(alice.key, { image: 'AAAA' });
    expect(JSON.parse(notImage.text)).toMatchObject({ code: 'unsupported_media_type', field: 'image' });
  });
});

describe('POST /v1/embeddings', () => {
  it('answers the vector as JSON, stores it under the token set id and serves it again without the backend', async () => {
    const source = await tokenized(alice.key, 10);
    const before = backend.count('/v1/embed');
    const res = await postJson(alice.key, '/v1/embeddings', { token_id: source.id });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-cache')).toBe('miss');
    const body = (await res.json()) as { embedding: number[] };
    const used = source.row.slice(0, -1);
    const sum = used.reduce((a, b) => a + b, 0);
    expect(body).toEqual({
      object: 'embedding',
      model: 'gigatok-nano',
      token_id: source.id,
      layer: 2,
      dim: 4,
      embedding: [sum / used.length, used[0]! / 1024, Math.fround(Math.sin(sum)), -1.5].map(Math.fround),
    });
    const again = await postJson(alice.key, '/v1/embeddings', { token_id: source.id });
    expect(again.headers.get('x-cache')).toBe('hit');
    expect(await again.json()).toEqual(body);
    // The same image uploaded is the same token set: the same stored vector.
    const byImage = await postJson(alice.key, '/v1/embeddings', { image: toBase64(testPng(10)) });
    expect(byImage.headers.get('x-cache')).toBe('hit');
    expect(await byImage.json()).toEqual(body);
    expect(backend.count('/v1/embed') - before).toBe(1);
  });

  it('answers little-endian float32 bytes with Accept: application/octet-stream', async () => {
    const source = await tokenized(alice.key, 11);
    const json = (await (await postJson(alice.key, '/v1/embeddings', { token_id: source.id })).json()) as {
      embedding: number[];
    };
    const res = await postJson(
      alice.key,
      '/v1/embeddings',
      { token_id: source.id },
      { accept: 'application/octet-stream' },
    );
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect(res.headers.get('x-embedding-dim')).toBe('4');
    expect(res.headers.get('x-token-id')).toBe(source.id);
    const view = new DataView(await res.arrayBuffer());
    expect(view.byteLength).toBe(16);
    expect([0, 1, 2, 3].map((i) => view.getFloat32(i * 4, true))).toEqual(json.embedding);
  });

  it("refuses another tenant's token set, unacceptable types and a missing source", async () => {
    const source = await tokenized(alice.key, 12);
    expect((await postJson(bob.key, '/v1/embeddings', { token_id: source.id })).status).toBe(404);
    expect(
      (await postJson(alice.key, '/v1/embeddings', { token_id: source.id }, { accept: 'image/png' })).status,
    ).toBe(406);
    const missing = await postJson(alice.key, '/v1/embeddings', {});
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ field: 'image' });
  });
});
