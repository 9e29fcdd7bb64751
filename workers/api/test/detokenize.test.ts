// POST /v1/detokenize and GET /v1/images/{id}: inline tokens or a token id -> a stored, content-addressed
// image; the cache, conditional requests, tenant isolation and bad tokens.

import { env } from 'cloudflare:workers';
import { imageId, sniffImageType, tokenSetId } from '@gigatok/shared';
import { beforeAll, describe, expect, it } from 'vitest';
import { backend } from './backend-stub.ts';
import { api, newTenant, postJson, type TestKey, testPng } from './helpers.ts';

let alice: TestKey;
let bob: TestKey;

beforeAll(async () => {
  alice = await newTenant('alice');
  bob = await newTenant('bob');
});

const row = (offset: number) => [...Array(32).keys()].map((i) => (i * 31 + offset) % 1024);

async function problem(response: Response) {
  return { status: response.status, ...((await response.json()) as Record<string, unknown>) };
}

describe('POST /v1/detokenize', () => {
  it('renders inline tokens as a PNG, stores it under its content id, then answers from R2', async () => {
    const tokens = row(1);
    const decodes = backend.count('/v1/decode');
    const first = await postJson(alice.key, '/v1/detokenize', { tokens });
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toBe('image/png');
    expect(first.headers.get('x-cache')).toBe('miss');
    const bytes = new Uint8Array(await first.arrayBuffer());
    expect(sniffImageType(bytes)).toBe('image/png');

    const tokenId = await tokenSetId({
      model: 'gigatok-nano',
      codebook_size: 1024,
      tokens_per_image: 32,
      tokens: [tokens],
    });
    const id = await imageId({ token_id: tokenId, format: 'png' });
    expect(first.headers.get('x-image-id')).toBe(id);
    expect(first.headers.get('x-token-id')).toBe(tokenId);
    expect(first.headers.get('location')).toBe(`/v1/images/${id}`);
    expect(first.headers.get('etag')).toBe(`"${id}"`);
    const stored = await env.ARTIFACTS.get(`images/${id}`);
    expect(stored?.customMetadata).toMatchObject({ model: 'gigatok-nano', token_id: tokenId, format: 'png' });

    const second = await postJson(alice.key, '/v1/detokenize', { tokens: [tokens], model: 'gigatok-nano' });
    expect(second.headers.get('x-cache')).toBe('hit');
    expect(new Uint8Array(await second.arrayBuffer())).toEqual(bytes);
    expect(backend.count('/v1/decode')).toBe(decodes + 1);
  });

  it('renders a stored token set by id, and the tokens become readable by the caller', async () => {
    const form = new FormData();
    form.set('image', new File([testPng(77) as Uint8Array<ArrayBuffer>], 'x.png'));
    const tokenized = (await (
      await api(alice.key, '/v1/tokenize', { method: 'POST', body: form })
    ).json()) as {
      id: string;
    };
    const response = await postJson(alice.key, '/v1/detokenize', { token_id: tokenized.id, format: 'webp' });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/webp');
    expect(response.headers.get('x-image-id')).toBe(
      await imageId({ token_id: tokenized.id, format: 'webp' }),
    );
    expect(sniffImageType(new Uint8Array(await response.arrayBuffer()))).toBe('image/webp');
  });

  it("answers 404 for another tenant's token id although the blob exists", async () => {
    const form = new FormData();
    form.set('image', new File([testPng(78) as Uint8Array<ArrayBuffer>], 'x.png'));
    const { id } = (await (await api(alice.key, '/v1/tokenize', { method: 'POST', body: form })).json()) as {
      id: string;
    };
    expect(await problem(await postJson(bob.key, '/v1/detokenize', { token_id: id }))).toMatchObject({
      status: 404,
      code: 'not_found',
      field: 'token_id',
    });
  });

  it('refuses a model that contradicts the token set', async () => {
    const tokens = row(2);
    const first = await postJson(alice.key, '/v1/detokenize', { tokens });
    const tokenId = first.headers.get('x-token-id')!;
    expect(
      await problem(await postJson(alice.key, '/v1/detokenize', { token_id: tokenId, model: 'other-model' })),
    ).toMatchObject({
      status: 400,
      code: 'invalid_parameter',
      field: 'model',
    });
  });

  it('answers 406 when the Accept header excludes the image format', async () => {
    const response = await postJson(
      alice.key,
      '/v1/detokenize',
      { tokens: row(3) },
      { accept: 'image/webp' },
    );
    expect(response.status).toBe(406);
  });
});

describe('POST /v1/detokenize: bad tokens', () => {
  let carol: TestKey;
  beforeAll(async () => {
    carol = await newTenant('carol');
  });

  it('refuses token ids at or above the codebook size, naming the entry', async () => {
    const tokens = row(4);
    tokens[7] = 1024;
    expect(await problem(await postJson(carol.key, '/v1/detokenize', { tokens }))).toMatchObject({
      status: 400,
      code: 'invalid_tokens',
      field: 'tokens.7',
    });
  });

  it('refuses the wrong number of tokens', async () => {
    expect(
      await problem(await postJson(carol.key, '/v1/detokenize', { tokens: row(5).slice(0, 31) })),
    ).toMatchObject({
      status: 400,
      code: 'invalid_tokens',
      limit: 32,
    });
    expect(
      await problem(await postJson(carol.key, '/v1/detokenize', { tokens: [...row(5), 1] })),
    ).toMatchObject({ code: 'invalid_tokens' });
  });

  it('refuses more than one row, negative, fractional and non-numeric tokens', async () => {
    for (const tokens of [
      [row(1), row(2)],
      [-1, ...row(1).slice(1)],
      [0.5, ...row(1).slice(1)],
      ['1', ...row(1).slice(1)],
      [],
    ]) {
      const response = await postJson(carol.key, '/v1/detokenize', { tokens });
      expect(response.status).toBe(400);
      expect(((await response.json()) as { code: string }).code).toMatch(/^invalid_(parameter|tokens)$/);
    }
  });

  it('requires exactly one of tokens and token_id', async () => {
    expect(await problem(await postJson(carol.key, '/v1/detokenize', {}))).toMatchObject({
      status: 400,
      code: 'invalid_parameter',
    });
    const both = { tokens: row(1), token_id: `tok_${'a'.repeat(32)}` };
    expect(await problem(await postJson(carol.key, '/v1/detokenize', both))).toMatchObject({
      status: 400,
      code: 'invalid_parameter',
    });
  });

  it('refuses an unknown format, an unknown model and unknown fields', async () => {
    expect(
      await problem(await postJson(carol.key, '/v1/detokenize', { tokens: row(1), format: 'gif' })),
    ).toMatchObject({
      code: 'invalid_parameter',
      field: 'format',
    });
    expect(
      await problem(await postJson(carol.key, '/v1/detokenize', { tokens: row(1), model: 'nope' })),
    ).toMatchObject({
      code: 'unknown_model',
    });
    expect(
      await problem(await postJson(carol.key, '/v1/detokenize', { tokens: row(1), scale: 2 })),
    ).toMatchObject({
      code: 'invalid_parameter',
      field: 'scale',
    });
  });
});

describe('GET /v1/images/{id}', () => {
  let id: string;
  let bytes: Uint8Array;

  beforeAll(async () => {
    const response = await postJson(alice.key, '/v1/detokenize', { tokens: row(9) });
    id = response.headers.get('x-image-id')!;
    bytes = new Uint8Array(await response.arrayBuffer());
  });

  it('returns the image with a strong ETag and immutable private caching', async () => {
    const response = await api(alice.key, `/v1/images/${id}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/png');
    expect(response.headers.get('etag')).toBe(`"${id}"`);
    expect(response.headers.get('cache-control')).toBe('private, max-age=31536000, immutable');
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(bytes);
  });

  it('answers 304 to a matching If-None-Match', async () => {
    const response = await api(alice.key, `/v1/images/${id}`, { headers: { 'if-none-match': `"${id}"` } });
    expect(response.status).toBe(304);
  });

  it('answers 404 to another tenant although the image exists', async () => {
    expect(await env.ARTIFACTS.head(`images/${id}`)).not.toBeNull();
    expect((await api(bob.key, `/v1/images/${id}`)).status).toBe(404);
    expect((await api(bob.key, `/v1/images/${id}`, { headers: { 'if-none-match': `"${id}"` } })).status).toBe(
      404,
    );
  });

  it('answers 404 for malformed ids and 406 for an unacceptable type', async () => {
    expect((await api(alice.key, '/v1/images/img_x')).status).toBe(404);
    expect((await api(alice.key, `/v1/images/${id}`, { headers: { accept: 'image/webp' } })).status).toBe(
      406,
    );
  });
});
