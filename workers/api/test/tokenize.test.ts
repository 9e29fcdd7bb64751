// POST /v1/tokenize and GET /v1/tokens/{id}: input forms, the content-addressed cache, representations,
// conditional requests, tenant isolation, bad input and backend failures.

import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { decodeTokens, LIMITS, TOKENS_MEDIA_TYPE, toBase64, tokenSetId } from '@gigatok/shared';
import { GIF89A_1X1 } from '@gigatok/shared/testing/gif';
import { encodePng } from '@gigatok/shared/testing/png';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import worker from '../src/index.ts';
import { backend, NANO } from './backend-stub.ts';
import { api, newTenant, ORIGIN, postJson, type TestKey, testPng } from './helpers.ts';

let alice: TestKey;
let bob: TestKey;
let seed = 1000;

beforeAll(async () => {
  alice = await newTenant('alice');
  bob = await newTenant('bob');
});

afterEach(() => {
  backend.mode = 'up';
});

interface TokensBody {
  id: string;
  object: string;
  model: string;
  codebook_size: number;
  tokens_per_image: number;
  shape: [number, number];
  tokens: number[][];
}

function multipart(image: Uint8Array, type = 'image/png', model?: string): FormData {
  const form = new FormData();
  form.set('image', new File([image as Uint8Array<ArrayBuffer>], 'digit.png', { type }));
  if (model !== undefined) form.set('model', model);
  return form;
}

async function tokenizeRaw(key: string, image: Uint8Array, type = 'image/png', query = '') {
  return api(key, `/v1/tokenize${query}`, {
    method: 'POST',
    headers: { 'content-type': type },
    body: image as Uint8Array<ArrayBuffer>,
  });
}

describe('POST /v1/tokenize', () => {
  it('tokenizes a multipart upload and reports a miss, then a hit without calling the backend again', async () => {
    const image = testPng(seed++);
    const encodes = backend.count('/v1/encode');
    const first = await api(alice.key, '/v1/tokenize', { method: 'POST', body: multipart(image) });
    expect(first.status).toBe(200);
    expect(first.headers.get('x-cache')).toBe('miss');
    const body = (await first.json()) as TokensBody;
    expect(body).toMatchObject({
      object: 'tokens',
      model: 'gigatok-nano',
      codebook_size: 1024,
      tokens_per_image: 32,
      shape: [1, 32],
    });
    expect(body.tokens).toHaveLength(1);
    expect(body.tokens[0]).toHaveLength(32);
    expect(first.headers.get('location')).toBe(`/v1/tokens/${body.id}`);
    // The id is the content id of the tokens.
    expect(body.id).toBe(
      await tokenSetId({
        model: 'gigatok-nano',
        codebook_size: 1024,
        tokens_per_image: 32,
        tokens: body.tokens,
      }),
    );
    expect(backend.count('/v1/encode')).toBe(encodes + 1);

    const second = await api(alice.key, '/v1/tokenize', { method: 'POST', body: multipart(image) });
    expect(second.headers.get('x-cache')).toBe('hit');
    expect(await second.json()).toEqual(body);
    expect(backend.count('/v1/encode')).toBe(encodes + 1);
  });

  it('shares the cache across input forms: raw body and JSON base64 of the same bytes hit', async () => {
    const image = testPng(seed++);
    const raw = await tokenizeRaw(alice.key, image);
    expect(raw.headers.get('x-cache')).toBe('miss');
    const json = await postJson(alice.key, '/v1/tokenize', { image: toBase64(image) });
    expect(json.status).toBe(200);
    expect(json.headers.get('x-cache')).toBe('hit');
    expect(((await json.json()) as TokensBody).id).toBe(((await raw.json()) as TokensBody).id);
  });

  it('carries the preprocessing mode to the backend and keys the cache by it, in every input form', async () => {
    const image = testPng(seed++);
    const lastEncode = () => backend.calls.filter((call) => call.path === '/v1/encode').at(-1)?.body;
    const official = await tokenizeRaw(alice.key, image);
    expect(official.headers.get('x-cache')).toBe('miss');
    expect(lastEncode()).toMatchObject({ preprocessing: 'official' });
    // Another mode is another key: a miss, and the backend is asked for that mode.
    const normalized = await postJson(alice.key, '/v1/tokenize', {
      image: toBase64(image),
      preprocessing: 'normalized',
    });
    expect(normalized.headers.get('x-cache')).toBe('miss');
    expect(lastEncode()).toMatchObject({ preprocessing: 'normalized' });
    const encodes = backend.count('/v1/encode');
    const form = multipart(image);
    form.set('preprocessing', 'normalized');
    const again = await api(alice.key, '/v1/tokenize', { method: 'POST', body: form });
    expect(again.headers.get('x-cache')).toBe('hit');
    const explicit = await tokenizeRaw(alice.key, image, 'image/png', '?preprocessing=official');
    expect(explicit.headers.get('x-cache')).toBe('hit');
    expect(backend.count('/v1/encode')).toBe(encodes);
  });

  it('stores the token set in R2 as GTOK with model and shape metadata', async () => {
    const response = await tokenizeRaw(alice.key, testPng(seed++));
    const { id, tokens } = (await response.json()) as TokensBody;
    const object = await env.ARTIFACTS.get(`tokens/${id}`);
    expect(object?.httpMetadata?.contentType).toBe(TOKENS_MEDIA_TYPE);
    expect(object?.customMetadata).toMatchObject({
      model: 'gigatok-nano',
      shape: '1x32',
      codebook_size: '1024',
    });
    const set = decodeTokens(new Uint8Array(await object!.arrayBuffer()));
    expect(Array.from(set.tokens)).toEqual(tokens[0]);
  });

  it('answers the GTOK binary format when asked', async () => {
    const image = testPng(seed++);
    const response = await api(alice.key, '/v1/tokenize', {
      method: 'POST',
      headers: { accept: TOKENS_MEDIA_TYPE },
      body: multipart(image),
    });
    expect(response.headers.get('content-type')).toBe(TOKENS_MEDIA_TYPE);
    const set = decodeTokens(new Uint8Array(await response.arrayBuffer()));
    expect(set).toMatchObject({ model: 'gigatok-nano', codebookSize: 1024, tokensPerImage: 32, count: 1 });
  });

  it('uses the model named in a multipart field or the query', async () => {
    const image = testPng(seed++);
    const viaField = await api(alice.key, '/v1/tokenize', {
      method: 'POST',
      body: multipart(image, 'image/png', 'gigatok-nano'),
    });
    expect(viaField.status).toBe(200);
    const viaQuery = await tokenizeRaw(alice.key, image, 'image/png', '?model=gigatok-nano');
    expect(viaQuery.headers.get('x-cache')).toBe('hit');
  });

  it('sniffs the type from the bytes: a PNG declared as JPEG is accepted', async () => {
    const response = await tokenizeRaw(alice.key, testPng(seed++), 'image/jpeg');
    expect(response.status).toBe(200);
  });

  it('refuses an unacceptable Accept with 406 before doing any work', async () => {
    const encodes = backend.count('/v1/encode');
    const response = await api(alice.key, '/v1/tokenize', {
      method: 'POST',
      headers: { accept: 'text/html' },
      body: multipart(testPng(seed++)),
    });
    expect(response.status).toBe(406);
    expect(backend.count('/v1/encode')).toBe(encodes);
  });
});

describe('POST /v1/tokenize: bad input', () => {
  beforeAll(async () => {
    alice = await newTenant('alice-bad-input');
  });
  const problem = async (response: Response) => ({
    status: response.status,
    ...((await response.json()) as Record<string, unknown>),
  });

  it('refuses bytes that are not an image with 415, whatever content type they claim, before any backend call', async () => {
    const text = new TextEncoder().encode('definitely not a png, just text');
    const encodes = backend.count('/v1/encode');
    const refusal = {
      status: 415,
      code: 'unsupported_media_type',
      field: 'image',
      detail: "'image' is not a PNG, JPEG or WebP image",
    };
    expect(await problem(await tokenizeRaw(alice.key, text, 'image/png'))).toMatchObject(refusal);
    const form = multipart(text, 'image/png');
    expect(await problem(await api(alice.key, '/v1/tokenize', { method: 'POST', body: form }))).toMatchObject(
      refusal,
    );
    expect(await problem(await postJson(alice.key, '/v1/tokenize', { image: toBase64(text) }))).toMatchObject(
      refusal,
    );
    expect(backend.count('/v1/encode')).toBe(encodes);
  });

  it('refuses a valid GIF with 415 naming the accepted types, before any backend call', async () => {
    const encodes = backend.count('/v1/encode');
    const refusal = {
      status: 415,
      code: 'unsupported_media_type',
      field: 'image',
      detail: "'image' is a GIF image; send PNG, JPEG or WebP",
    };
    expect(await problem(await tokenizeRaw(alice.key, GIF89A_1X1, 'image/gif'))).toMatchObject(refusal);
    expect(await problem(await tokenizeRaw(alice.key, GIF89A_1X1, 'image/png'))).toMatchObject(refusal);
    const form = multipart(GIF89A_1X1, 'image/gif');
    expect(await problem(await api(alice.key, '/v1/tokenize', { method: 'POST', body: form }))).toMatchObject(
      refusal,
    );
    expect(
      await problem(await postJson(alice.key, '/v1/tokenize', { image: toBase64(GIF89A_1X1) })),
    ).toMatchObject(refusal);
    expect(backend.count('/v1/encode')).toBe(encodes);
  });

  it("refuses an unknown preprocessing mode with 400 naming 'preprocessing', in every input form", async () => {
    const image = testPng(seed++);
    const refusal = { status: 400, code: 'invalid_parameter', field: 'preprocessing' };
    expect(
      await problem(await tokenizeRaw(alice.key, image, 'image/png', '?preprocessing=lanczos')),
    ).toMatchObject(refusal);
    const form = multipart(image);
    form.set('preprocessing', 'sharp');
    expect(await problem(await api(alice.key, '/v1/tokenize', { method: 'POST', body: form }))).toMatchObject(
      refusal,
    );
    expect(
      await problem(await postJson(alice.key, '/v1/tokenize', { image: toBase64(image), preprocessing: 1 })),
    ).toMatchObject(refusal);
  });

  it('refuses a 65535x1 and a 1048576x1 PNG from the header with 422 naming the side limit, before any backend call', async () => {
    const encodes = backend.count('/v1/encode');
    const strip = encodePng(65_535, 1, () => [9, 9, 9]);
    expect(strip.length).toBeLessThan(1024);
    const longer = strip.slice();
    new DataView(longer.buffer).setUint32(16, 1_048_576);
    for (const [png, width] of [
      [strip, 65_535],
      [longer, 1_048_576],
    ] as const) {
      expect(await problem(await tokenizeRaw(alice.key, png))).toMatchObject({
        status: 422,
        code: 'image_dimensions_unsupported',
        field: 'image',
        limit: LIMITS.maxImageSide,
        detail: `'image' is ${width}x1: its longest side is ${width} pixels, the limit (maxImageSide) is 16384`,
      });
    }
    expect(backend.count('/v1/encode')).toBe(encodes);
  });

  it('refuses a shape past the aspect ratio limit with 422 naming it', async () => {
    const png = encodePng(LIMITS.maxImageAspectRatio + 1, 1, () => [9, 9, 9]);
    expect(await problem(await postJson(alice.key, '/v1/tokenize', { image: toBase64(png) }))).toMatchObject({
      status: 422,
      code: 'image_dimensions_unsupported',
      limit: LIMITS.maxImageAspectRatio,
    });
  });

  it('refuses an empty image', async () => {
    expect(await problem(await tokenizeRaw(alice.key, new Uint8Array(0)))).toMatchObject({
      status: 400,
      code: 'invalid_image',
    });
  });

  it('refuses a multipart body without an image part, or with a text part', async () => {
    const none = new FormData();
    none.set('model', 'gigatok-nano');
    expect(await problem(await api(alice.key, '/v1/tokenize', { method: 'POST', body: none }))).toMatchObject(
      {
        status: 400,
        code: 'missing_parameter',
        field: 'image',
      },
    );
    const text = new FormData();
    text.set('image', 'iVBORw0KGgo=');
    expect(await problem(await api(alice.key, '/v1/tokenize', { method: 'POST', body: text }))).toMatchObject(
      {
        code: 'invalid_parameter',
        field: 'image',
      },
    );
  });

  it('refuses bad JSON: malformed, wrong types, bad base64, unknown fields', async () => {
    const malformed = await api(alice.key, '/v1/tokenize', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"image": ',
    });
    expect(await problem(malformed)).toMatchObject({ status: 400, code: 'invalid_json' });
    expect(await problem(await postJson(alice.key, '/v1/tokenize', { image: 42 }))).toMatchObject({
      code: 'invalid_parameter',
      field: 'image',
    });
    expect(await problem(await postJson(alice.key, '/v1/tokenize', { image: 'not base64!' }))).toMatchObject({
      code: 'invalid_parameter',
      field: 'image',
    });
    expect(
      await problem(await postJson(alice.key, '/v1/tokenize', { image: 'AAAA', extra: 1 })),
    ).toMatchObject({ code: 'invalid_parameter', field: 'extra' });
    expect(await problem(await postJson(alice.key, '/v1/tokenize', {}))).toMatchObject({
      code: 'invalid_parameter',
      field: 'image',
    });
  });

  it('refuses a malformed model id and an unknown model', async () => {
    const image = testPng(seed++);
    expect(
      await problem(await tokenizeRaw(alice.key, image, 'image/png', '?model=Bad%20Model')),
    ).toMatchObject({
      status: 400,
      code: 'invalid_parameter',
      field: 'model',
    });
    expect(
      await problem(
        await postJson(alice.key, '/v1/tokenize', { image: toBase64(image), model: 'no-such-model' }),
      ),
    ).toMatchObject({
      status: 400,
      code: 'unknown_model',
      field: 'model',
    });
  });

  it('refuses other media types with 415', async () => {
    const response = await api(alice.key, '/v1/tokenize', {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'hello',
    });
    expect(await problem(response)).toMatchObject({ status: 415, code: 'unsupported_media_type' });
  });

  it('refuses an image over the size limit with 413, raw or in JSON', async () => {
    const png = testPng(seed++);
    const huge = new Uint8Array(LIMITS.maxImageBytes + 1);
    huge.set(png);
    expect(await problem(await tokenizeRaw(alice.key, huge))).toMatchObject({
      status: 413,
      code: 'image_too_large',
      limit: LIMITS.maxImageBytes,
    });
    // Within the base64 length limit, but decoding to 2 bytes over the image limit.
    const head = toBase64(png.subarray(0, 48));
    const atLimit = head + 'A'.repeat(LIMITS.maxImageBase64Chars - head.length);
    expect(await problem(await postJson(alice.key, '/v1/tokenize', { image: atLimit }))).toMatchObject({
      status: 413,
      code: 'image_too_large',
    });
    const over = await postJson(alice.key, '/v1/tokenize', {
      image: 'A'.repeat(LIMITS.maxImageBase64Chars + 4),
    });
    expect(await problem(over)).toMatchObject({ status: 413, code: 'image_too_large' });
  });

  it('refuses an oversize multipart body with 413', async () => {
    const huge = new Uint8Array(LIMITS.maxImageBytes + 128 * 1024);
    const response = await api(alice.key, '/v1/tokenize', { method: 'POST', body: multipart(huge) });
    expect(await problem(response)).toMatchObject({ status: 413, code: 'payload_too_large' });
  });
});

describe('POST /v1/tokenize: backend failures', () => {
  beforeAll(async () => {
    alice = await newTenant('alice-backend');
  });
  it('answers 503 with Retry-After when the backend cannot be reached', async () => {
    backend.mode = 'down';
    const response = await tokenizeRaw(alice.key, testPng(seed++));
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('5');
    expect(await response.json()).toMatchObject({ code: 'backend_unavailable' });
  });

  it('passes the backend Retry-After through while it loads models', async () => {
    backend.mode = 'loading';
    const response = await tokenizeRaw(alice.key, testPng(seed++));
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ code: 'backend_unavailable' });
  });

  it('answers 502 when the backend fails', async () => {
    backend.mode = 'error500';
    const response = await tokenizeRaw(alice.key, testPng(seed++));
    expect(response.status).toBe(502);
    expect(await response.json()).toMatchObject({ code: 'backend_error' });
  });

  it('answers 502, not 401, when the backend refuses the Worker signature', async () => {
    backend.mode = 'other-secret';
    const response = await tokenizeRaw(alice.key, testPng(seed++));
    expect(response.status).toBe(502);
    expect(await response.json()).toMatchObject({ code: 'backend_error' });
  });

  it('answers 504 when the backend does not answer in time', async () => {
    backend.mode = 'hang';
    const response = await tokenizeRaw(alice.key, testPng(seed++));
    expect(response.status).toBe(504);
    expect(await response.json()).toMatchObject({ code: 'backend_timeout' });
  });

  it('serves a cached image even while the backend is down', async () => {
    const image = testPng(seed++);
    expect((await tokenizeRaw(alice.key, image)).status).toBe(200);
    backend.mode = 'down';
    const response = await tokenizeRaw(alice.key, image);
    expect(response.status).toBe(200);
    expect(response.headers.get('x-cache')).toBe('hit');
  });
});

describe('GET /v1/tokens/{id}', () => {
  let id: string;
  let body: TokensBody;

  beforeAll(async () => {
    alice = await newTenant('alice-tokens');
    const response = await tokenizeRaw(alice.key, testPng(seed++));
    body = (await response.json()) as TokensBody;
    id = body.id;
  });

  it('returns the token set with a strong ETag and immutable private caching', async () => {
    const response = await api(alice.key, `/v1/tokens/${id}`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual(body);
    expect(response.headers.get('etag')).toBe(`"${id}"`);
    expect(response.headers.get('cache-control')).toBe('private, max-age=31536000, immutable');
    expect(response.headers.get('vary')).toBe('Accept');
  });

  it('answers 304 to a matching If-None-Match, also among several or weak tags', async () => {
    for (const tag of [`"${id}"`, `"other", "${id}"`, `W/"${id}"`, '*']) {
      const response = await api(alice.key, `/v1/tokens/${id}`, { headers: { 'if-none-match': tag } });
      expect(response.status).toBe(304);
      expect(response.headers.get('etag')).toBe(`"${id}"`);
      expect(await response.text()).toBe('');
    }
    const changed = await api(alice.key, `/v1/tokens/${id}`, { headers: { 'if-none-match': '"stale"' } });
    expect(changed.status).toBe(200);
  });

  it('returns GTOK with its own ETag for Accept: application/vnd.gigatok.tokens', async () => {
    const response = await api(alice.key, `/v1/tokens/${id}`, { headers: { accept: TOKENS_MEDIA_TYPE } });
    expect(response.headers.get('content-type')).toBe(TOKENS_MEDIA_TYPE);
    expect(response.headers.get('etag')).toBe(`"${id}.gtok"`);
    const set = decodeTokens(new Uint8Array(await response.arrayBuffer()));
    expect(Array.from(set.tokens)).toEqual(body.tokens[0]);
    const json304 = await api(alice.key, `/v1/tokens/${id}`, {
      headers: { accept: TOKENS_MEDIA_TYPE, 'if-none-match': `"${id}"` },
    });
    expect(json304.status).toBe(200); // the JSON validator does not validate the binary representation
  });

  it('answers 406 for an unacceptable Accept', async () => {
    expect((await api(alice.key, `/v1/tokens/${id}`, { headers: { accept: 'image/png' } })).status).toBe(406);
  });

  it('answers 404 to another tenant although the blob exists, even with a matching If-None-Match', async () => {
    expect(await env.ARTIFACTS.head(`tokens/${id}`)).not.toBeNull();
    const response = await api(bob.key, `/v1/tokens/${id}`, { headers: { 'if-none-match': `"${id}"` } });
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ code: 'not_found' });
  });

  it('gives the other tenant access once it tokenizes the same image itself, as its own miss', async () => {
    const image = testPng(seed++);
    const own = (await (await tokenizeRaw(alice.key, image)).json()) as TokensBody;
    expect((await api(bob.key, `/v1/tokens/${own.id}`)).status).toBe(404);
    // Bob's history has no such image: a miss, and the backend encodes it again (same tokens, same id).
    const encodes = backend.count('/v1/encode');
    const bobs = await tokenizeRaw(bob.key, image);
    expect(bobs.headers.get('x-cache')).toBe('miss');
    expect(((await bobs.json()) as TokensBody).id).toBe(own.id);
    expect(backend.count('/v1/encode')).toBe(encodes + 1);
    expect((await api(bob.key, `/v1/tokens/${own.id}`)).status).toBe(200);
    // Each tenant's own repeat is a hit.
    expect((await tokenizeRaw(bob.key, image)).headers.get('x-cache')).toBe('hit');
    expect((await tokenizeRaw(alice.key, image)).headers.get('x-cache')).toBe('hit');
    expect(backend.count('/v1/encode')).toBe(encodes + 1);
  });

  it('answers 404 for malformed and unknown ids', async () => {
    expect((await api(alice.key, '/v1/tokens/tok_nope')).status).toBe(404);
    expect((await api(alice.key, `/v1/tokens/tok_${'a'.repeat(32)}`)).status).toBe(404);
  });

  it('serves repeat reads from the colo cache after the ownership check', async () => {
    // The first read above cached the blob; remove it from R2 and the cached copy still answers.
    const response = await tokenizeRaw(alice.key, testPng(seed++));
    const { id: fresh } = (await response.json()) as TokensBody;
    // Through the Worker's own fetch, so the test can wait for the cache.put it leaves to waitUntil.
    const ctx = createExecutionContext();
    const first = await worker.fetch(
      new Request(`${ORIGIN}/v1/tokens/${fresh}`, { headers: { authorization: `Bearer ${alice.key}` } }),
      env,
      ctx,
    );
    expect(first.status).toBe(200);
    await waitOnExecutionContext(ctx);
    await env.ARTIFACTS.delete(`tokens/${fresh}`);
    expect((await api(alice.key, `/v1/tokens/${fresh}`)).status).toBe(200);
    expect((await api(bob.key, `/v1/tokens/${fresh}`)).status).toBe(404);
  });
});

describe('GET /v1/models', () => {
  it('lists the models the backend serves, from cache after the first call', async () => {
    const dave = await newTenant('dave');
    const response = await api(dave.key, '/v1/models');
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ object: 'list', data: [NANO] });
    const calls = backend.count('/v1/models');
    backend.mode = 'down';
    const cached = await api(dave.key, '/v1/models');
    expect(cached.status).toBe(200);
    expect(backend.count('/v1/models')).toBe(calls);
  });
});
