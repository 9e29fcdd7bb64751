// GigaTokClient against the fake API over real loopback HTTP: retries and Retry-After, typed
// problems, GTOK round trips, conditional requests, pagination, and generate() polling/cancel.

import { decodeTokens, encodeTokens, signWebhook, tokenRows } from '@gigatok/shared';
import { encodePng, pngSize } from '@gigatok/shared/testing/png';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  GigaTokApiError,
  GigaTokClient,
  type GigaTokClientOptions,
  GigaTokNetworkError,
  GigaTokResponseError,
  GigaTokTimeoutError,
  isNotModified,
  verifyWebhook,
} from '../src/index.ts';
import { API_KEY, FakeApi, type FakeApiOptions, MODEL, problemBody, WEBHOOK_SECRET } from './fake-api.ts';

let api: FakeApi;

async function startApi(options: FakeApiOptions = {}): Promise<void> {
  await api?.close();
  api = await FakeApi.start(options);
}

function client(options: Partial<GigaTokClientOptions> = {}): GigaTokClient {
  // Tiny backoff so retries without Retry-After do not slow the suite.
  return new GigaTokClient({
    baseUrl: api.url,
    apiKey: API_KEY,
    backoff: { baseDelayMs: 5, maxDelayMs: 20 },
    ...options,
  });
}

const png = (seed: number) =>
  encodePng(
    4,
    4,
    Uint8Array.from({ length: 48 }, (_, i) => (i * seed) & 0xff),
  );
const onPath = (path: string) => (r: { path: string }) => r.path === path;
const requestsTo = (path: string) => api.requests.filter((r) => r.path === path);

beforeEach(async () => {
  await startApi();
});
afterEach(async () => {
  await api.close();
});

describe('retries', () => {
  it('gives up after maxRetries and throws the last problem with its retryAfter', async () => {
    const refusal = { status: 429, headers: { 'retry-after': '0' }, body: problemBody('rate_limited', 'no') };
    api.script(refusal, refusal, refusal);
    const error = await client({ maxRetries: 2 })
      .models()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GigaTokApiError);
    expect(error).toMatchObject({ status: 429, code: 'rate_limited', retryAfter: 0 });
    expect(requestsTo('/v1/models')).toHaveLength(3);
  });

  it('does not retry a 400', async () => {
    api.script({
      status: 400,
      headers: { 'content-type': 'application/problem+json' },
      body: problemBody('invalid_parameter', 'bad', 'limit'),
    });
    await expect(client().listGenerations({ limit: 5 })).rejects.toMatchObject({
      status: 400,
      field: 'limit',
    });
    expect(requestsTo('/v1/generations')).toHaveLength(1);
  });

  it('retries an idempotent GET after a dropped connection', async () => {
    api.script({ drop: true, match: onPath('/v1/models') });
    await expect(client().models()).resolves.toHaveLength(1);
    expect(requestsTo('/v1/models')).toHaveLength(2);
  });

  it('sends a given Idempotency-Key as the draft structured-field string, escaped, and refuses one the header cannot carry', async () => {
    await client().createGeneration({ class_id: 1 }, { idempotencyKey: 'order "42" \\ a' });
    expect(requestsTo('/v1/generations')[0]!.headers['idempotency-key']).toBe('"order \\"42\\" \\\\ a"');
    const error = await client()
      .createGeneration({ class_id: 1 }, { idempotencyKey: 'caf\u00e9' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RangeError);
    expect((error as Error).message).toContain("'Idempotency-Key' may hold printable ASCII only");
    expect(requestsTo('/v1/generations')).toHaveLength(1);
  });

  it('never resends a generation POST without an Idempotency-Key, even after a 503', async () => {
    api.script({
      status: 503,
      body: problemBody('backend_unavailable', 'down'),
      match: onPath('/v1/generations'),
    });
    const error = await client()
      .createGeneration({ class_id: 1 }, { idempotencyKey: false })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 503, code: 'backend_unavailable' });
    expect(requestsTo('/v1/generations')).toHaveLength(1);
    expect(requestsTo('/v1/generations')[0]!.headers['idempotency-key']).toBeUndefined();
  });

  it('resends a generation POST after a dropped connection with the same generated Idempotency-Key', async () => {
    api.script({ drop: true, match: onPath('/v1/generations') });
    const job = await client().createGeneration({ class_id: 3, count: 2, seed: 9 });
    expect(job.status).toBe('queued');
    const sent = requestsTo('/v1/generations');
    expect(sent).toHaveLength(2);
    // The draft's structured-field string: a quoted random UUID.
    expect(sent[0]!.headers['idempotency-key']).toMatch(/^"[0-9a-f-]{36}"$/);
    expect(sent[1]!.headers['idempotency-key']).toBe(sent[0]!.headers['idempotency-key']);
    expect(api.jobs.size).toBe(1);
  });

  it('reports a dropped connection on a non-idempotent request as a GigaTokNetworkError', async () => {
    api.script({ drop: true, match: onPath('/v1/generations') });
    const error = await client()
      .createGeneration({ class_id: 1 }, { idempotencyKey: false })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GigaTokNetworkError);
    expect(error).toMatchObject({ method: 'POST', timedOut: false });
  });

  it('times out a slow attempt and says so', async () => {
    api.script({ status: 200, delayMs: 2_000, body: '{}' });
    const error = await client({ timeoutMs: 100, maxRetries: 0 })
      .models()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GigaTokNetworkError);
    expect(error).toMatchObject({ timedOut: true });
  });
});

describe('errors', () => {
  it('turns a problem+json answer into a GigaTokApiError naming the field', async () => {
    const error = await client()
      .createGeneration({ class_id: 1, top_k: 5000 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GigaTokApiError);
    const apiError = error as GigaTokApiError;
    expect(apiError).toMatchObject({
      status: 400,
      code: 'invalid_parameter',
      field: 'top_k',
      retryAfter: null,
    });
    expect(apiError.detail).toBe("'top_k' must be in [0, 1024], got 5000");
    expect(apiError.problem.type).toBe('urn:gigatok:problem:invalid_parameter');
  });

  it('answers a wrong API key with an unauthorized GigaTokApiError', async () => {
    await expect(client({ apiKey: 'gtk_live_wrong' }).models()).rejects.toMatchObject({
      status: 401,
      code: 'unauthorized',
    });
  });

  it('keeps the status of an error body that is not problem+json', async () => {
    api.script({ status: 502, headers: { 'content-type': 'text/html' }, body: '<h1>Bad gateway</h1>' });
    await expect(client().models()).rejects.toMatchObject({
      status: 502,
      code: 'http_502',
      detail: '<h1>Bad gateway</h1>',
    });
  });

  it('rejects a success body that breaks the contract with a GigaTokResponseError', async () => {
    const job = await client().createGeneration({ class_id: 1 });
    api.script({
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: job.id, object: 'generation', status: 'exploded' }),
    });
    const error = await client()
      .getGeneration(job.id)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GigaTokResponseError);
    expect((error as Error).message).toMatch(/does not match the API contract at status/);
  });

  it('rejects a corrupt GTOK body with a GigaTokResponseError', async () => {
    const blob = encodeTokens({ model: MODEL.id, codebookSize: 1024, tokensPerImage: 2, tokens: [[1, 2]] });
    blob[blob.length - 1]! ^= 0xff; // break the CRC-32C
    api.script({ status: 200, headers: { 'content-type': 'application/vnd.gigatok.tokens' }, body: blob });
    const error = await client()
      .tokenize(png(1), { format: 'binary' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GigaTokResponseError);
    expect((error as Error).message).toMatch(/checksum_mismatch/);
  });
});

describe('tokens and images', () => {
  it('rejects token bodies whose values do not hash to the id they carry', async () => {
    const c = client();
    const { id } = await c.tokenize(png(11));
    const rows = api.tokens.get(id)!;
    const tampered = [rows[0]!.map((t, i) => (i === 0 ? (t + 1) % 1024 : t))];
    api.tokens.set(id, tampered); // the server now serves other tokens under the same id
    const asJson = await c.getTokens(id).catch((e: unknown) => e);
    expect(asJson).toBeInstanceOf(GigaTokResponseError);
    expect((asJson as Error).message).toMatch(new RegExp(`token set named ${id} holds the tokens of tok_`));
    await expect(c.getTokens(id, { format: 'binary' })).rejects.toBeInstanceOf(GigaTokResponseError);
  });

  it('round-trips binary tokens: tokenize as GTOK, read back as JSON, same values and id', async () => {
    const c = client();
    const binary = await c.tokenize(png(3), { format: 'binary' });
    expect(binary.id).toMatch(/^tok_[a-z2-7]{32}$/);
    expect(binary).toMatchObject({
      model: MODEL.id,
      codebookSize: 1024,
      tokensPerImage: 32,
      count: 1,
      cache: 'miss',
    });
    expect(decodeTokens(binary.bytes).tokens).toEqual(binary.tokens);
    const json = await c.getTokens(binary.id);
    expect(json.tokens).toEqual(tokenRows(binary.tokens, 32));
    const again = await c.getTokens(binary.id, { format: 'binary' });
    expect(again.bytes).toEqual(binary.bytes);
    // The multipart upload carried the image bytes and their sniffed type.
    expect(String(requestsTo('/v1/tokenize')[0]!.headers['content-type'])).toMatch(/^multipart\/form-data/);
  });

  it('reports a repeated tokenize as a cache hit with the same id', async () => {
    const first = await client().tokenize(png(5));
    const second = await client().tokenize(new Blob([png(5) as Uint8Array<ArrayBuffer>]));
    expect(second.id).toBe(first.id);
    expect([first.cache, second.cache]).toEqual(['miss', 'hit']);
  });

  it('answers a matching If-None-Match with notModified and a stale one with the body', async () => {
    const c = client();
    const { id } = await c.tokenize(png(7));
    const full = await c.getTokens(id);
    expect(full.etag).toBe(`"${id}"`);
    const cached = await c.getTokens(id, { ifNoneMatch: full.etag! });
    expect(isNotModified(cached)).toBe(true);
    expect(cached).toEqual({ notModified: true, etag: `"${id}"` });
    const binary = await c.getTokens(id, { format: 'binary', ifNoneMatch: full.etag! });
    expect(isNotModified(binary)).toBe(false); // the GTOK representation has its own validator
    expect(api.requests.at(-1)!.headers['if-none-match']).toBe(`"${id}"`);
  });

  it('detokenizes inline tokens and a token id to the same stored PNG', async () => {
    const c = client();
    const tokens = await c.tokenize(png(9), { format: 'binary' });
    const byValue = await c.detokenize({ tokens: tokens.tokens });
    const byId = await c.detokenize({ tokenId: tokens.id, format: 'png' });
    expect(byValue.imageId).toMatch(/^img_[a-z2-7]{32}$/);
    expect(byId.imageId).toBe(byValue.imageId);
    expect([byValue.tokenId, byId.tokenId]).toEqual([tokens.id, tokens.id]);
    expect(byValue.contentType).toBe('image/png');
    expect(pngSize(byValue.bytes)).toEqual({ width: 32, height: 32 });
    const fetched = await c.getImage(byValue.imageId);
    expect(fetched.bytes).toEqual(byValue.bytes);
    expect(await c.getImage(byValue.imageId, { ifNoneMatch: fetched.etag! })).toMatchObject({
      notModified: true,
    });
  });

  it('rejects detokenize input with both or neither of tokens and tokenId before sending', async () => {
    await expect(client().detokenize({})).rejects.toThrow(TypeError);
    await expect(client().detokenize({ tokens: [1], tokenId: 'tok_x' })).rejects.toThrow(TypeError);
    expect(requestsTo('/v1/detokenize')).toHaveLength(0);
  });
});

describe('generations', () => {
  it('pages through every generation, newest first, following next_cursor', async () => {
    const c = client();
    const created = [];
    for (let i = 0; i < 5; i++) created.push((await c.createGeneration({ class_id: i })).id);
    const seen = [];
    for await (const job of c.iterateGenerations({ limit: 2 })) seen.push(job.id);
    expect(seen).toEqual(created.reverse());
    const pages = requestsTo('/v1/generations').filter((r) => r.method === 'GET');
    expect(pages.map((r) => r.query.get('limit'))).toEqual(['2', '2', '2']);
    expect(pages[0]!.query.has('cursor')).toBe(false);
    expect(pages[1]!.query.get('cursor')).toBeTruthy();
  });

  it('generate() polls until the job succeeds and reports each status', async () => {
    await startApi({ pollsToFinish: 3 });
    const statuses: string[] = [];
    const job = await client().generate(
      { class_id: 7, count: 2, seed: 1 },
      { pollIntervalMs: 10, wait: 0, onProgress: ({ job }) => statuses.push(job.status) },
    );
    expect(job.status).toBe('succeeded');
    expect(job.result?.images.map((i) => i.class_id)).toEqual([7, 7]);
    expect(statuses).toEqual(['queued', 'running', 'running', 'succeeded']);
    expect(requestsTo(`/v1/generations/${job.id}`)).toHaveLength(3);
  });

  it('generate() sends Prefer: wait and returns at once when the server finished in time', async () => {
    await startApi({ pollsToFinish: 1 });
    const job = await client().generate({ class_id: 2 }, { wait: 5 });
    expect(job.status).toBe('succeeded');
    expect(requestsTo('/v1/generations')[0]!.headers.prefer).toBe('wait=5');
    expect(requestsTo(`/v1/generations/${job.id}`)).toHaveLength(0);
  });

  it('generate() resolves with a failed job and its problem', async () => {
    await startApi({ failJobs: true, pollsToFinish: 1 });
    const job = await client().generate({ class_id: 1 }, { pollIntervalMs: 10, wait: 0 });
    expect(job.status).toBe('failed');
    expect(job.error?.code).toBe('backend_error');
  });

  it('generate() cancels the job on the server when its signal aborts', async () => {
    await startApi({ pollsToFinish: 1_000 });
    const controller = new AbortController();
    const error = await client()
      .generate(
        { class_id: 4 },
        {
          pollIntervalMs: 10,
          wait: 0,
          signal: controller.signal,
          // Abort once the job is seen running: mid-poll, with a job on the server to cancel.
          onProgress: ({ job }) => job.status === 'running' && controller.abort(new Error('user gave up')),
        },
      )
      .catch((e: unknown) => e);
    expect((error as Error).message).toBe('user gave up');
    const [entry] = api.jobs.values();
    expect(entry!.job.status).toBe('canceled');
    expect(api.requests.filter((r) => r.path === `/v1/generations/${entry!.job.id}/cancel`)).toHaveLength(1);
  });

  it('generate() times out with GigaTokTimeoutError and leaves the job running', async () => {
    await startApi({ pollsToFinish: 1_000 });
    const error = await client()
      .generate({ class_id: 4 }, { pollIntervalMs: 10, wait: 0, waitTimeoutMs: 100 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GigaTokTimeoutError);
    const [entry] = api.jobs.values();
    expect((error as GigaTokTimeoutError).jobId).toBe(entry!.job.id);
    expect(['queued', 'running']).toContain(entry!.job.status);
    expect(api.requests.filter((r) => r.path.endsWith('/cancel'))).toHaveLength(0);
  });

  it('cancelGeneration of a finished job is a 409 not_cancelable', async () => {
    await startApi({ pollsToFinish: 1 });
    const job = await client().generate({ class_id: 1 }, { pollIntervalMs: 10, wait: 0 });
    await expect(client().cancelGeneration(job.id)).rejects.toMatchObject({
      status: 409,
      code: 'not_cancelable',
    });
  });
});

describe('health', () => {
  it('reads /v1/healthz without an API key', async () => {
    await expect(client({ apiKey: undefined }).health()).resolves.toEqual({ status: 'ok', backend: 'ready' });
  });
});

describe('webhooks', () => {
  it('verifies a delivery signed with the secret from getWebhookSecret', async () => {
    const { secret } = await client().getWebhookSecret();
    const body = JSON.stringify({
      type: 'generation.completed',
      timestamp: new Date().toISOString(),
      data: {},
    });
    const headers = { 'webhook-id': 'msg_1', 'webhook-timestamp': String(Math.floor(Date.now() / 1000)) };
    const signature = signWebhook({
      secret,
      id: headers['webhook-id'],
      timestamp: Number(headers['webhook-timestamp']),
      body,
    });
    const verified = verifyWebhook({
      secrets: [secret],
      headers: { ...headers, 'webhook-signature': signature },
      body,
    });
    expect(verified.id).toBe('msg_1');
    expect(() =>
      verifyWebhook({
        secrets: [secret],
        headers: { ...headers, 'webhook-signature': signature },
        body: `${body} `,
      }),
    ).toThrow();
  });
});

describe('webhook deliveries and secret rotation', () => {
  it('lists deliveries with their attempts, sending the filters as query parameters', async () => {
    const [failed] = api.seedDeliveries(2);
    const page = await client().listWebhookDeliveries({
      jobId: failed!.job_id!,
      event: 'generation.started',
      status: 'failed',
      limit: 5,
    });
    expect(page.data).toEqual([failed]);
    expect(page.data[0]!.attempts[0]).toMatchObject({ status_code: null, error: 'TypeError: fetch failed' });
    const [sent] = requestsTo('/v1/webhooks/deliveries');
    expect(Object.fromEntries(sent!.query)).toEqual({
      job_id: failed!.job_id,
      event: 'generation.started',
      status: 'failed',
      limit: '5',
    });
  });

  it('pages through every delivery, newest first, following next_cursor', async () => {
    const seeded = api.seedDeliveries(5).map((d) => d.id);
    const seen = [];
    for await (const delivery of client().iterateWebhookDeliveries({ limit: 2 })) seen.push(delivery.id);
    expect(seen).toEqual(seeded.reverse());
    expect(requestsTo('/v1/webhooks/deliveries').map((r) => r.query.has('cursor'))).toEqual([
      false,
      true,
      true,
    ]);
  });

  it('refuses a delivery list that does not match the contract', async () => {
    api.script({
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ object: 'list', data: [{ id: 'msg_x' }], next_cursor: null }),
    });
    await expect(client().listWebhookDeliveries()).rejects.toBeInstanceOf(GigaTokResponseError);
  });

  it('redelivers by id and returns the delivery with the manual attempt last; an unknown id is not_found', async () => {
    const [delivery] = api.seedDeliveries(1);
    const after = await client().redeliverWebhook(delivery!.id);
    expect(after.status).toBe('succeeded');
    expect(after.attempts.at(-1)).toMatchObject({ manual: true, status_code: 204 });
    expect(requestsTo(`/v1/webhooks/deliveries/${delivery!.id}/redeliver`).map((r) => r.method)).toEqual([
      'POST',
    ]);
    await expect(client().redeliverWebhook('msg_unknown')).rejects.toMatchObject({
      status: 404,
      code: 'not_found',
    });
  });

  it('rotates the secret, and does not send the rotation again after a lost reply', async () => {
    const rotation = await client().rotateWebhookSecret();
    expect(rotation.secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    expect(rotation.secret).not.toBe(WEBHOOK_SECRET);
    expect(Date.parse(rotation.previous_secret_expires_at!)).toBeGreaterThan(Date.now());
    expect(await client().getWebhookSecret()).toEqual({ secret: rotation.secret });
    api.script({ drop: true, match: onPath('/v1/webhooks/secret/rotate') });
    await expect(client().rotateWebhookSecret()).rejects.toBeInstanceOf(GigaTokNetworkError);
    expect(requestsTo('/v1/webhooks/secret/rotate')).toHaveLength(2);
  });
});

describe('variations and embeddings', () => {
  it('submits a variation to /v1/variations with an Idempotency-Key and Prefer: wait, and types its problems', async () => {
    api.script({
      status: 400,
      headers: { 'content-type': 'application/problem+json' },
      body: problemBody('invalid_parameter', "'keep' must be in [0, 31], got 40", 'keep'),
    });
    const tokenId = `tok_${'a'.repeat(32)}`;
    const error = await client()
      .createVariation({ token_id: tokenId, keep: 40 }, { wait: 5, idempotencyKey: 'k-1' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GigaTokApiError);
    expect(error).toMatchObject({ status: 400, code: 'invalid_parameter', field: 'keep' });
    const [sent] = requestsTo('/v1/variations');
    expect(sent!.method).toBe('POST');
    expect(sent!.headers['idempotency-key']).toBe('"k-1"');
    expect(sent!.headers.prefer).toBe('wait=5');
    expect(JSON.parse(new TextDecoder().decode(sent!.body))).toEqual({ token_id: tokenId, keep: 40 });
  });

  it('reads an embedding as a Float32Array and reports whether it was stored', async () => {
    const tokenId = `tok_${'b'.repeat(32)}`;
    const body = {
      object: 'embedding',
      model: MODEL.id,
      token_id: tokenId,
      layer: 2,
      dim: 3,
      embedding: [0.5, -1.25, 3],
    };
    api.script({
      status: 200,
      headers: { 'content-type': 'application/json', 'x-cache': 'hit' },
      body: JSON.stringify(body),
    });
    const result = await client().embedding({ token_id: tokenId });
    expect(result).toMatchObject({ model: MODEL.id, token_id: tokenId, layer: 2, dim: 3, cached: true });
    expect(result.embedding).toEqual(Float32Array.of(0.5, -1.25, 3));
    expect(requestsTo('/v1/embeddings')).toHaveLength(1);
  });
});
