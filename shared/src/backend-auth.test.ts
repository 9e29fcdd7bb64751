import { describe, expect, it } from 'vitest';
import {
  BACKEND_SIGNATURE_HEADER,
  BACKEND_TIMESTAMP_HEADER,
  BackendAuthError,
  type BackendAuthReason,
  pathWithQuery,
  signBackendRequest,
  verifyBackendRequest,
} from './backend-auth.ts';
import { sha256Hex, toBase64 } from './bytes.ts';

const SECRET = 'backend-secret-one';
const T = 1_700_000_000;
const body = JSON.stringify({ model: 'gigatok-nano', images: ['aGVsbG8='] });

async function reasonOf(p: Promise<void>): Promise<BackendAuthReason | 'ok'> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    if (err instanceof BackendAuthError) return err.reason;
    throw err;
  }
}

async function signed(overrides: Partial<Parameters<typeof signBackendRequest>[0]> = {}) {
  return signBackendRequest({
    secret: SECRET,
    method: 'POST',
    path: '/v1/encode',
    body,
    timestamp: T,
    ...overrides,
  });
}

describe('signBackendRequest', () => {
  it('signs METHOD, path with query, timestamp and hex sha256(body), newline-separated (checked with WebCrypto)', async () => {
    const headers = await signed({ method: 'post', path: '/v1/encode?x=1' });
    const message = `POST\n/v1/encode?x=1\n${T}\n${await sha256Hex(body)}`;
    const key = await crypto.subtle.importKey(
      'raw',
      new TextEncoder().encode(SECRET),
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['sign'],
    );
    const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(message)));
    expect(headers).toEqual({
      [BACKEND_TIMESTAMP_HEADER]: String(T),
      [BACKEND_SIGNATURE_HEADER]: `v1=${toBase64(mac)}`,
    });
  });

  it('writes one v1= value per secret', async () => {
    const headers = await signed({ secret: ['a', 'b'] });
    const values = headers[BACKEND_SIGNATURE_HEADER]!.split(' ');
    expect(values).toHaveLength(2);
    expect(values[1]).toBe((await signed({ secret: 'b' }))[BACKEND_SIGNATURE_HEADER]);
  });

  it('uses the clock when no timestamp is given', async () => {
    const before = Math.floor(Date.now() / 1000);
    const headers = await signBackendRequest({ secret: SECRET, method: 'GET', path: '/readyz' });
    expect(Number(headers[BACKEND_TIMESTAMP_HEADER])).toBeGreaterThanOrEqual(before);
  });

  it('rejects empty secrets and bad timestamps', async () => {
    await expect(signed({ secret: '' })).rejects.toThrow(TypeError);
    await expect(signed({ secret: [] })).rejects.toThrow(TypeError);
    await expect(signed({ timestamp: -5 })).rejects.toThrow(RangeError);
  });
});

describe('verifyBackendRequest', () => {
  const verify = async (
    headers: Record<string, string>,
    over: Partial<Parameters<typeof verifyBackendRequest>[0]> = {},
  ) =>
    reasonOf(
      verifyBackendRequest({
        secrets: [SECRET],
        method: 'POST',
        path: '/v1/encode',
        headers,
        body,
        now: T,
        ...over,
      }),
    );

  it('accepts a request it signed, with string, byte or absent bodies', async () => {
    expect(await verify(await signed())).toBe('ok');
    expect(await verify(await signed(), { body: new TextEncoder().encode(body) })).toBe('ok');
    const get = await signBackendRequest({ secret: SECRET, method: 'GET', path: '/v1/models', timestamp: T });
    expect(await verify(get, { method: 'GET', path: '/v1/models', body: null })).toBe('ok');
    expect(await verify(get, { method: 'GET', path: '/v1/models', body: '' })).toBe('ok');
  });

  it('reads a Fetch Headers object', async () => {
    expect(await verify({}, { headers: new Headers(await signed()) })).toBe('ok');
  });

  it('rejects a tampered method, path, query or body', async () => {
    const headers = await signed({ path: '/v1/encode?a=1' });
    const base = { path: '/v1/encode?a=1' };
    expect(await verify(headers, base)).toBe('ok');
    expect(await verify(headers, { ...base, method: 'PUT' })).toBe('bad_signature');
    expect(await verify(headers, { path: '/v1/decode?a=1' })).toBe('bad_signature');
    expect(await verify(headers, { path: '/v1/encode?a=2' })).toBe('bad_signature');
    expect(await verify(headers, { path: '/v1/encode' })).toBe('bad_signature');
    expect(await verify(headers, { ...base, body: `${body} ` })).toBe('bad_signature');
    expect(await verify(headers, { ...base, body: null })).toBe('bad_signature');
  });

  it('rejects a signature made with another secret or a changed timestamp', async () => {
    expect(await verify(await signed({ secret: 'other' }))).toBe('bad_signature');
    const headers = await signed();
    expect(await verify({ ...headers, [BACKEND_TIMESTAMP_HEADER]: String(T + 1) })).toBe('bad_signature');
  });

  it('rejects stale and future timestamps outside the 300 s window', async () => {
    const headers = await signed();
    expect(await verify(headers, { now: T + 300 })).toBe('ok');
    expect(await verify(headers, { now: T + 301 })).toBe('timestamp_too_old');
    expect(await verify(headers, { now: T - 300 })).toBe('ok');
    expect(await verify(headers, { now: T - 301 })).toBe('timestamp_too_new');
    expect(await verify(headers, { now: T + 20, windowSeconds: 10 })).toBe('timestamp_too_old');
  });

  it('rejects missing headers and timestamps that are not Unix seconds', async () => {
    const headers = await signed();
    expect(await verify({ [BACKEND_SIGNATURE_HEADER]: headers[BACKEND_SIGNATURE_HEADER]! })).toBe(
      'missing_headers',
    );
    expect(await verify({ [BACKEND_TIMESTAMP_HEADER]: String(T) })).toBe('missing_headers');
    expect(await verify({})).toBe('missing_headers');
    for (const stamp of ['soon', '1.7e9', '-1']) {
      expect(await verify({ ...headers, [BACKEND_TIMESTAMP_HEADER]: stamp })).toBe('bad_timestamp');
    }
  });

  it('accepts during a rotation: any v1= value against any secret, skipping malformed values', async () => {
    const both = await signed({ secret: ['old', 'new'] });
    expect(await verify(both, { secrets: ['new'] })).toBe('ok');
    expect(await verify(both, { secrets: ['old'] })).toBe('ok');
    expect(await verify(both, { secrets: ['third'] })).toBe('bad_signature');
    const one = await signed({ secret: 'new' });
    expect(await verify(one, { secrets: ['old', 'new'] })).toBe('ok');
    const messy = `v1=!!! v2=abc ${one[BACKEND_SIGNATURE_HEADER]}`;
    expect(await verify({ ...one, [BACKEND_SIGNATURE_HEADER]: messy }, { secrets: ['new'] })).toBe('ok');
  });
});

describe('pathWithQuery', () => {
  it('keeps the path and the query, drops origin and fragment', () => {
    expect(pathWithQuery('http://127.0.0.1:8080/v1/generate/abc/cancel?x=1&y=2#frag')).toBe(
      '/v1/generate/abc/cancel?x=1&y=2',
    );
    expect(pathWithQuery(new URL('http://h/v1/models'))).toBe('/v1/models');
  });
});
