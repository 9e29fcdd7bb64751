// Security properties of the real stack: tenant isolation on every route that takes an id, key
// revocation, secrets and MACs that differ in one byte (at every position) or in length refused, webhook
// SSRF refusals and redirects not followed (the attempt recorded with the 3xx), Standard Webhooks replay outside the window, the backend refusing unsigned,
// stale and tampered requests, and no secret in any answer or log line. Results go to
// test-output/reliability.json (security).
import { readFileSync } from 'node:fs';
import {
  BACKEND_SIGNATURE_HEADER,
  BACKEND_TIMESTAMP_HEADER,
  fromBase64,
  GenerationSchema,
  ProblemSchema,
  signBackendRequest,
  TokensResponseSchema,
  toBase64,
  verifyWebhook,
  WebhookDeliveryListSchema,
  WebhookVerificationError,
} from '@gigatok/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, postJson, stack, until } from '../lib/api.ts';
import { validImages } from '../lib/bad-inputs.ts';
import { findSecrets } from '../lib/probe.ts';
import { type Receiver, startReceiver } from '../lib/receiver.ts';
import { recordSection } from '../lib/report.ts';

interface Tenant {
  key: string;
  keyId: string;
  tenantId: string;
}

let alice: Tenant;
let bob: Tenant;
let model: { id: string; tokens_per_image: number; codebook_size: number; num_classes: number };
const checks: { check: string; result: string }[] = [];
/** Every answer body seen here, for the final secret scan. */
const answers: { where: string; text: string }[] = [];

async function mintKey(name: string, tenantId?: string): Promise<Tenant> {
  const res = await fetch(`${stack().apiUrl}/v1/admin/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack().adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(tenantId ? { tenant_id: tenantId } : { tenant_name: name }),
  });
  expect(res.status).toBe(201);
  const body = (await res.json()) as { key: string; id: string; tenant_id: string };
  return { key: body.key, keyId: body.id, tenantId: body.tenant_id };
}

/** The status and problem code of an answer, keeping its body for the secret scan. */
async function outcome(res: Response, where: string): Promise<{ status: number; code: string | null }> {
  const text = await res.text();
  answers.push({ where, text });
  if (res.status < 400) return { status: res.status, code: null };
  return { status: res.status, code: ProblemSchema.parse(JSON.parse(text)).code };
}

beforeAll(async () => {
  alice = await mintKey('security-alice');
  bob = await mintKey('security-bob');
  model = ((await (await api(alice.key, '/v1/models')).json()) as { data: (typeof model)[] }).data[0]!;
});

afterAll(() => {
  recordSection('security', { checks });
});

describe('tenant isolation', () => {
  it("answers 404 to every route given another tenant's token, image or generation id", async () => {
    const { png } = await validImages();
    const tokenized = await api(alice.key, `/v1/tokenize?model=${model.id}`, {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: new Uint8Array(png),
    });
    expect(tokenized.status).toBe(200);
    const tokenId = TokensResponseSchema.parse(await tokenized.json()).id;
    const rendered = await postJson(alice.key, '/v1/detokenize', { token_id: tokenId });
    expect(rendered.status).toBe(200);
    const imageId = rendered.headers.get('x-image-id')!;
    const generated = await postJson(
      alice.key,
      '/v1/generations',
      { model: model.id, class_id: 0, seed: 4242 },
      { prefer: 'wait=60', 'idempotency-key': 'security-shared-key' },
    );
    const job = GenerationSchema.parse(await generated.json());
    expect(job.status).toBe('succeeded');
    const genToken = job.result!.images[0]!.token_id;
    const genImage = job.result!.images[0]!.image_id!;
    const queued = GenerationSchema.parse(
      await (
        await postJson(alice.key, '/v1/generations', {
          model: model.id,
          class_id: Array.from({ length: 16 }, (_, i) => i % model.num_classes),
          seed: 4343,
        })
      ).json(),
    );

    // A webhook delivery of Alice's, for the redelivery route.
    const hookReceiver = await startReceiver();
    const hooked = await postJson(
      alice.key,
      '/v1/generations',
      {
        model: model.id,
        class_id: 0,
        seed: 4444,
        webhook: { url: hookReceiver.url, events: ['generation.completed'] },
      },
      { prefer: 'wait=60' },
    );
    const hookedJob = GenerationSchema.parse(await hooked.json());
    const deliveryId = await until(async () => {
      const page = (await (
        await api(alice.key, `/v1/webhooks/deliveries?job_id=${hookedJob.id}`)
      ).json()) as {
        data: { id: string }[];
      };
      return page.data[0]?.id ?? null;
    }, 60_000);
    await hookReceiver.close();

    const probes: [string, () => Promise<Response>][] = [
      ['GET /v1/tokens/{tokenize id}', () => api(bob.key, `/v1/tokens/${tokenId}`)],
      [
        'GET /v1/tokens/{id} with If-None-Match of the real ETag',
        () => api(bob.key, `/v1/tokens/${tokenId}`, { headers: { 'if-none-match': `"${tokenId}"` } }),
      ],
      ['GET /v1/tokens/{generated id}', () => api(bob.key, `/v1/tokens/${genToken}`)],
      ['GET /v1/images/{detokenized id}', () => api(bob.key, `/v1/images/${imageId}`)],
      [
        'GET /v1/images/{id} with If-None-Match',
        () => api(bob.key, `/v1/images/${imageId}`, { headers: { 'if-none-match': `"${imageId}"` } }),
      ],
      ['GET /v1/images/{generated id}', () => api(bob.key, `/v1/images/${genImage}`)],
      ['POST /v1/detokenize {token_id}', () => postJson(bob.key, '/v1/detokenize', { token_id: tokenId })],
      [
        'POST /v1/detokenize {generated token_id}',
        () => postJson(bob.key, '/v1/detokenize', { token_id: genToken }),
      ],
      ['GET /v1/generations/{id}', () => api(bob.key, `/v1/generations/${job.id}`)],
      [
        'POST /v1/generations/{id}/cancel (finished)',
        () => api(bob.key, `/v1/generations/${job.id}/cancel`, { method: 'POST' }),
      ],
      [
        'POST /v1/generations/{id}/cancel (queued)',
        () => api(bob.key, `/v1/generations/${queued.id}/cancel`, { method: 'POST' }),
      ],
      ['GET /v1/generations/{id}/events (finished)', () => api(bob.key, `/v1/generations/${job.id}/events`)],
      [
        'GET /v1/generations/{id}/events (queued) with Last-Event-ID',
        () => api(bob.key, `/v1/generations/${queued.id}/events`, { headers: { 'last-event-id': '0' } }),
      ],
      [
        'POST /v1/webhooks/deliveries/{id}/redeliver',
        () => api(bob.key, `/v1/webhooks/deliveries/${deliveryId}/redeliver`, { method: 'POST' }),
      ],
    ];
    for (const [name, request] of probes) {
      const got = await outcome(await request(), `isolation: ${name}`);
      expect(got, name).toEqual({ status: 404, code: 'not_found' });
      checks.push({ check: `isolation: ${name} as another tenant`, result: '404 not_found' });
    }
    // Bob's list holds none of Alice's jobs; Alice's queued job was not canceled by Bob's attempt.
    const list = (await (await api(bob.key, '/v1/generations?limit=100')).json()) as {
      data: { id: string }[];
    };
    expect(list.data.map((j) => j.id)).not.toContain(job.id);
    expect(list.data.map((j) => j.id)).not.toContain(queued.id);
    checks.push({
      check: "isolation: GET /v1/generations lists only the caller's jobs",
      result: 'none of the other tenant',
    });
    const bobsDeliveries = (await (await api(bob.key, '/v1/webhooks/deliveries?limit=100')).json()) as {
      data: { id: string }[];
    };
    expect(bobsDeliveries.data.map((d) => d.id)).not.toContain(deliveryId);
    checks.push({
      check: "isolation: GET /v1/webhooks/deliveries lists only the caller's deliveries",
      result: 'none of the other tenant',
    });
    const stillAlice = GenerationSchema.parse(
      await (await api(alice.key, `/v1/generations/${queued.id}`)).json(),
    );
    expect(stillAlice.status).not.toBe('canceled');
    // Idempotency keys are per tenant: Bob's use of Alice's key is a new job, not a replay of hers.
    const bobs = await postJson(
      bob.key,
      '/v1/generations',
      { model: model.id, class_id: 1 % model.num_classes, seed: 99 },
      { 'idempotency-key': 'security-shared-key' },
    );
    expect([201, 202]).toContain(bobs.status);
    expect(GenerationSchema.parse(await bobs.json()).id).not.toBe(job.id);
    checks.push({
      check: "isolation: another tenant's Idempotency-Key",
      result: 'a new job of its own (keys are per tenant)',
    });
  });
});

describe('API keys', () => {
  it('refuses a key with 401 once the admin route has revoked it, and the other keys keep working', async () => {
    const second = await mintKey('unused', alice.tenantId);
    expect((await api(second.key, '/v1/models')).status).toBe(200);
    const revoke = await fetch(`${stack().apiUrl}/v1/admin/keys/${second.keyId}/revoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack().adminToken}` },
    });
    expect(revoke.status).toBe(200);
    for (const pathname of ['/v1/models', '/v1/generations', `/v1/webhooks/secret`]) {
      const got = await outcome(await api(second.key, pathname), `revoked key: ${pathname}`);
      expect(got).toEqual({ status: 401, code: 'unauthorized' });
    }
    expect((await api(alice.key, '/v1/models')).status).toBe(200);
    checks.push({
      check: 'revoked API key (admin revoke)',
      result: '401 unauthorized on every route; other keys of the tenant unaffected',
    });
  });

  it('refuses the admin routes without the admin token, and unknown or malformed API keys', async () => {
    const adminWrong = await fetch(`${stack().apiUrl}/v1/admin/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack().adminToken}x`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(await outcome(adminWrong, 'admin with a wrong token')).toEqual({
      status: 401,
      code: 'unauthorized',
    });
    const forged = `gtk_live_${'a'.repeat(32)}`;
    expect(await outcome(await api(forged, '/v1/models'), 'unknown API key')).toEqual({
      status: 401,
      code: 'unauthorized',
    });
    expect(await outcome(await api('not-a-key', '/v1/models'), 'malformed API key')).toEqual({
      status: 401,
      code: 'unauthorized',
    });
    checks.push({ check: 'wrong admin token, unknown and malformed API keys', result: '401 unauthorized' });
  });
});

/** `bytes` with bit 0 of byte `at` flipped: a value that differs from the right one in exactly one byte. */
function flipByte(bytes: Uint8Array, at: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  out[at]! ^= 0x01;
  return out;
}

/** `text` with the character at `at` replaced by another of the same alphabet (same length). */
function flipChar(text: string, at: number, alphabet: string): string {
  const ch = text[at]!;
  const other = alphabet[(alphabet.indexOf(ch) + 1) % alphabet.length]!;
  return text.slice(0, at) + other + text.slice(at + 1);
}

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

describe('secret and MAC comparisons', () => {
  // What a comparison that stops early or compares prefixes would get wrong: a value equal to the right
  // one except in one byte (at each position), and values of other lengths, including prefixes.
  it('refuses an admin token that differs in one character at any position, or is a prefix or extension of it', async () => {
    const token = stack().adminToken;
    const wrong = [
      ...[...token].map((_, at) => flipChar(token, at, BASE64URL)),
      token.slice(0, -1),
      token.slice(0, 1),
      `${token}A`,
      `${token}${token}`,
      'x',
    ];
    for (const candidate of wrong) {
      const res = await fetch(`${stack().apiUrl}/v1/admin/keys`, {
        method: 'POST',
        headers: { authorization: `Bearer ${candidate}`, 'content-type': 'application/json' },
        body: JSON.stringify({ tenant_name: 'never-created' }),
      });
      expect(await outcome(res, 'admin with a near-miss token'), candidate).toEqual({
        status: 401,
        code: 'unauthorized',
      });
    }
    checks.push({
      check: `admin token: ${token.length} one-character changes, prefixes and extensions`,
      result: '401 unauthorized for each',
    });
  });

  it('refuses an API key that differs in one character at any position of its secret', async () => {
    const prefix = 'gtk_live_';
    const secret = alice.key.slice(prefix.length);
    for (let at = 0; at < secret.length; at++) {
      const candidate = prefix + flipChar(secret, at, BASE32);
      expect(
        await outcome(await api(candidate, '/v1/models'), 'near-miss API key'),
        `position ${at}`,
      ).toEqual({
        status: 401,
        code: 'unauthorized',
      });
    }
    expect((await api(alice.key, '/v1/models')).status).toBe(200);
    checks.push({
      check: `API key: one-character changes at each of its ${secret.length} secret positions`,
      result: '401 unauthorized for each; the real key 200',
    });
  });

  it('refuses a backend request whose MAC differs in one byte at any position, or is cut short', async () => {
    const { backendUrl, backendSecret } = stack();
    const body = JSON.stringify({ model: model.id, tokens: [new Array(model.tokens_per_image).fill(0)] });
    const headers = await signBackendRequest({
      secret: backendSecret,
      method: 'POST',
      path: '/v1/decode',
      body,
    });
    const mac = fromBase64(headers[BACKEND_SIGNATURE_HEADER]!.replace(/^v1=/, ''));
    const send = (signature: Uint8Array) =>
      fetch(`${backendUrl}/v1/decode`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...headers,
          [BACKEND_SIGNATURE_HEADER]: `v1=${toBase64(signature)}`,
        },
        body,
      });
    const wrong = [...mac.keys()].map((at) => flipByte(mac, at));
    wrong.push(mac.subarray(0, mac.length - 1), mac.subarray(0, 1), Uint8Array.from([...mac, 0]));
    for (const signature of wrong) {
      expect(await outcome(await send(signature), 'backend: near-miss MAC')).toEqual({
        status: 401,
        code: 'unauthorized',
      });
    }
    const right = await send(mac);
    expect(right.status).toBe(200);
    await right.arrayBuffer();
    checks.push({
      check: `backend request MAC: ${mac.length} one-byte changes, truncations and an extension`,
      result: '401 unauthorized for each; the right MAC 200',
    });
  });
});

describe('webhooks', () => {
  let first: Receiver;
  let second: Receiver;

  afterAll(async () => {
    await first?.close();
    await second?.close();
  });

  // Through the Worker (the stack runs with ALLOW_INSECURE_WEBHOOKS=1, which admits loopback hosts for
  // its own receivers; without it loopback is refused too, see shared/src/api/webhook-url.test.ts).
  const SSRF = [
    'https://10.0.0.1/hook',
    'https://167772161/hook', // 10.0.0.1 in decimal
    'https://0xa9fea9fe/latest/meta-data', // 169.254.169.254 in hex
    'https://0251.0376.0251.0376/', // 169.254.169.254 in octal
    'https://172.16.5.4/',
    'https://192.168.0.1/',
    'https://100.100.100.200/', // CGNAT (cloud metadata on some providers)
    'https://192.0.0.170/',
    'https://192.0.2.10/',
    'https://198.18.0.1/',
    'https://198.51.100.1/',
    'https://203.0.113.1/',
    'https://224.0.0.1/',
    'https://0.0.0.0/',
    'https://[::ffff:127.0.0.1]/', // IPv4-mapped loopback
    'https://[::ffff:169.254.169.254]/',
    'https://[64:ff9b::a9fe:a9fe]/', // NAT64 of the metadata address
    'https://[2002:a9fe:a9fe::]/', // 6to4 of the metadata address
    'https://[fd00:ec2::254]/',
    'https://[fe80::1]/',
    'https://[fec0::1]/',
    'https://[ff02::1]/',
    'https://[::]/',
    'https://metadata/',
    'https://metadata.google.internal/',
    'https://nas.home.arpa/',
    'https://printer.local/',
    'http://hooks.example.com/',
    'https://user:pass@hooks.example.com/',
    'ftp://hooks.example.com/',
  ];

  it.each(SSRF)('refuses the webhook URL %s with invalid_webhook_url', async (url) => {
    const res = await postJson(alice.key, '/v1/generations', {
      model: model.id,
      class_id: 0,
      webhook: { url, events: ['generation.completed'] },
    });
    expect(res.status).toBe(400);
    const problem = ProblemSchema.parse(await res.json());
    expect(problem.code).toBe('invalid_webhook_url');
    expect(problem.field).toBe('webhook.url');
  });

  it('records the SSRF refusals', () => {
    checks.push({
      check: `webhook SSRF: ${SSRF.length} private, link-local, decimal/hex/octal, IPv4-mapped, NAT64, 6to4, fec0::/10, multicast, 192.0.0.0/24, TEST-NET, 198.18/15, single-label, .internal/.home.arpa/.local, http, credential URLs`,
      result: '400 invalid_webhook_url (field webhook.url) for every one',
    });
  });

  it('does not follow a redirect from the webhook URL to another host, and records the 3xx as the attempt', async () => {
    first = await startReceiver();
    second = await startReceiver();
    const secret = ((await (await api(alice.key, '/v1/webhooks/secret')).json()) as { secret: string })
      .secret;
    first.secrets = [secret];
    first.status = 302;
    first.answerHeaders = { location: second.url };
    const res = await postJson(alice.key, '/v1/generations', {
      model: model.id,
      class_id: 0,
      seed: 777_001,
      webhook: { url: first.url, events: ['generation.completed'] },
    });
    expect([201, 202]).toContain(res.status);
    const job = GenerationSchema.parse(await res.json());
    // The Worker records an attempt once its fetch has returned; a fetch that followed the redirect
    // would have called the second receiver before that, and recorded its 204 instead of the 302.
    const attempts = await until(async () => {
      const page = WebhookDeliveryListSchema.parse(
        await (await api(alice.key, `/v1/webhooks/deliveries?job_id=${job.id}`)).json(),
      );
      const found = page.data[0]?.attempts ?? [];
      return found.length > 0 ? found : null;
    }, 60_000);
    expect(attempts[0]!.status_code).toBe(302);
    expect(first.deliveries.length).toBeGreaterThan(0);
    expect(first.deliveries[0]!.verified).toBe(true);
    expect(second.deliveries).toEqual([]);
    checks.push({
      check: 'webhook answered with 302 to another host',
      result: 'not followed (the target got nothing; the attempt is recorded with status 302, a failure)',
    });
  });

  it('refuses a delivery whose signature differs in one byte at any position, or is cut short', async () => {
    const delivery = first.deliveries[0]!;
    const stamp = Number(delivery.headers['webhook-timestamp']);
    const [version, encoded] = delivery.headers['webhook-signature']!.split(' ')[0]!.split(',');
    expect(version).toBe('v1');
    const signature = fromBase64(encoded!);
    const verdict = (bytes: Uint8Array) => {
      const headers = { ...delivery.headers, 'webhook-signature': `v1,${toBase64(bytes)}` };
      try {
        verifyWebhook({ secrets: first.secrets, headers, body: delivery.body, now: stamp });
        return 'accepted';
      } catch (error) {
        return error instanceof WebhookVerificationError ? error.reason : String(error);
      }
    };
    expect(verdict(signature)).toBe('accepted');
    const wrong = [...signature.keys()].map((at) => flipByte(signature, at));
    wrong.push(signature.subarray(0, signature.length - 1), Uint8Array.from([...signature, 0]));
    expect(wrong.map(verdict)).toEqual(wrong.map(() => 'no_matching_signature'));
    checks.push({
      check: `webhook signature: ${signature.length} one-byte changes, a truncation and an extension`,
      result: 'no_matching_signature for each; the delivered signature verifies',
    });
  });

  it('refuses a replayed delivery outside the 5-minute window, and a tampered one', async () => {
    const delivery = first.deliveries[0]!;
    const secrets = first.secrets;
    const stamp = Number(delivery.headers['webhook-timestamp']);
    expect(() =>
      verifyWebhook({ secrets, headers: delivery.headers, body: delivery.body, now: stamp + 299 }),
    ).not.toThrow();
    const reasons: string[] = [];
    const attempt = (input: Parameters<typeof verifyWebhook>[0]) => {
      try {
        verifyWebhook(input);
        reasons.push('accepted');
      } catch (error) {
        reasons.push(error instanceof WebhookVerificationError ? error.reason : String(error));
      }
    };
    attempt({ secrets, headers: delivery.headers, body: delivery.body, now: stamp + 301 });
    attempt({ secrets, headers: delivery.headers, body: delivery.body, now: stamp - 301 });
    // Replayed with a fresh timestamp: the signature covers the timestamp, so it no longer matches.
    attempt({
      secrets,
      headers: { ...delivery.headers, 'webhook-timestamp': String(stamp + 600) },
      body: delivery.body,
      now: stamp + 600,
    });
    attempt({
      secrets,
      headers: delivery.headers,
      body: delivery.body.replace('"succeeded"', '"failed"'),
      now: stamp,
    });
    expect(reasons).toEqual([
      'timestamp_too_old',
      'timestamp_too_new',
      'no_matching_signature',
      'no_matching_signature',
    ]);
    checks.push({
      check: 'webhook signature replay (shared verifyWebhook)',
      result:
        '+301 s: timestamp_too_old; -301 s: timestamp_too_new; re-stamped or altered body: no_matching_signature',
    });
  });
});

describe('backend authentication', () => {
  it('refuses unsigned, stale, future, wrongly keyed and tampered requests with 401, and serves a signed one', async () => {
    const { backendUrl, backendSecret } = stack();
    const body = JSON.stringify({ model: model.id, tokens: [new Array(model.tokens_per_image).fill(0)] });
    // Read at each case: the cases run one after another, and a stamp taken once would drift inside
    // the window on a slow machine.
    const now = () => Math.floor(Date.now() / 1000);
    const signed = (input: { secret?: string; timestamp?: number; path?: string; body?: string }) =>
      signBackendRequest({
        secret: input.secret ?? backendSecret,
        method: 'POST',
        path: input.path ?? '/v1/decode',
        body: input.body ?? body,
        ...(input.timestamp === undefined ? {} : { timestamp: input.timestamp }),
      });
    const send = async (headers: Record<string, string>, pathname = '/v1/decode', sent = body) =>
      fetch(`${backendUrl}${pathname}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: sent,
      });
    const cases: [string, () => Promise<Response>][] = [
      ['no signature headers', () => send({})],
      [
        'signature without timestamp',
        async () => send({ [BACKEND_SIGNATURE_HEADER]: (await signed({}))[BACKEND_SIGNATURE_HEADER]! }),
      ],
      ['timestamp 301 s old', async () => send(await signed({ timestamp: now() - 301 }))],
      ['timestamp 330 s ahead', async () => send(await signed({ timestamp: now() + 330 }))],
      [
        'timestamp not a number',
        async () => send({ ...(await signed({})), [BACKEND_TIMESTAMP_HEADER]: 'soon' }),
      ],
      ['another secret', async () => send(await signed({ secret: 'not-the-backend-secret-at-all' }))],
      [
        'body changed after signing',
        async () => send(await signed({}), '/v1/decode', body.replace('"tokens"', '"tokens" ')),
      ],
      [
        'path changed after signing',
        async () => send(await signed({ path: '/v1/decode' }), '/v1/decode?format=webp'),
      ],
      [
        'signature of a GET replayed on a POST',
        async () =>
          send(await signBackendRequest({ secret: backendSecret, method: 'GET', path: '/v1/decode', body })),
      ],
    ];
    for (const [name, request] of cases) {
      const res = await request();
      expect(await outcome(res, `backend: ${name}`), name).toEqual({ status: 401, code: 'unauthorized' });
    }
    const ok = await send(await signed({}));
    expect(ok.status).toBe(200);
    await ok.arrayBuffer();
    checks.push({
      check: `backend request signing: ${cases.map(([n]) => n).join('; ')}`,
      result: '401 unauthorized for each; the correctly signed request 200',
    });
  });
});

describe('secrets', () => {
  it('shows no backend secret, admin token or API key in any answer above or in the stack log', () => {
    const { backendSecret, adminToken, logFile } = stack();
    const secrets = [
      { name: 'backend secret', value: backendSecret },
      { name: 'admin token', value: adminToken },
      { name: "Alice's API key", value: alice.key },
      { name: "Bob's API key", value: bob.key },
    ];
    const found = findSecrets(
      [...answers, { where: 'the stack log', text: readFileSync(logFile, 'utf8') }],
      secrets,
    );
    expect(answers.length).toBeGreaterThan(20);
    expect(found).toEqual([]);
    checks.push({
      check: `secrets in ${answers.length} error bodies here and the whole stack log`,
      result: 'none found',
    });
  });
});
