import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { fromBase64, toBase64 } from './bytes.ts';
import { generateWebhookSecret } from './ids.ts';
import {
  signWebhook,
  verifyWebhook,
  WebhookVerificationError,
  type WebhookVerificationReason,
  webhookHeaders,
} from './webhooks.ts';

// The example of the Standard Webhooks specification and its reference libraries' tests.
const SPEC = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

function reasonOf(fn: () => unknown): WebhookVerificationReason | 'ok' {
  try {
    fn();
    return 'ok';
  } catch (err) {
    if (err instanceof WebhookVerificationError) return err.reason;
    throw err;
  }
}

const specHeaders = (signature = SPEC.signature) => ({
  'webhook-id': SPEC.id,
  'webhook-timestamp': String(SPEC.timestamp),
  'webhook-signature': signature,
});

describe('signWebhook', () => {
  it('reproduces the published Standard Webhooks example signature', () => {
    expect(signWebhook(SPEC)).toBe(SPEC.signature);
  });

  it('is HMAC-SHA256 of "id.timestamp.body" under the base64-decoded secret (checked with WebCrypto)', async () => {
    const secret = generateWebhookSecret();
    const body = JSON.stringify({ type: 'generation.completed', data: { id: 'job_x', é: 1 } });
    const key = await crypto.subtle.importKey(
      'raw',
      fromBase64(secret.slice(6)) as Uint8Array<ArrayBuffer>,
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['sign'],
    );
    const mac = await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(`msg_1.1700000000.${body}`));
    expect(signWebhook({ secret, id: 'msg_1', timestamp: 1_700_000_000, body })).toBe(
      `v1,${toBase64(new Uint8Array(mac))}`,
    );
  });

  it('signs a byte body the same as its UTF-8 string', () => {
    const bytes = new TextEncoder().encode(SPEC.body);
    expect(signWebhook({ ...SPEC, body: bytes })).toBe(SPEC.signature);
  });

  it('writes one signature per secret, space-separated, during a rotation', () => {
    const next = generateWebhookSecret();
    const header = signWebhook({ ...SPEC, secret: [SPEC.secret, next] });
    const parts = header.split(' ');
    expect(parts).toHaveLength(2);
    expect(parts[0]).toBe(SPEC.signature);
    expect(parts[1]).toBe(signWebhook({ ...SPEC, secret: next }));
  });

  it('builds the three delivery headers', () => {
    expect(webhookHeaders(SPEC)).toEqual(specHeaders());
  });

  it('rejects bad ids, timestamps and secrets', () => {
    expect(() => signWebhook({ ...SPEC, id: 'a.b' })).toThrow(TypeError);
    expect(() => signWebhook({ ...SPEC, id: '' })).toThrow(TypeError);
    expect(() => signWebhook({ ...SPEC, timestamp: -1 })).toThrow(RangeError);
    expect(() => signWebhook({ ...SPEC, timestamp: 1.5 })).toThrow(RangeError);
    expect(() => signWebhook({ ...SPEC, secret: 'whsec_not base64!' })).toThrow(TypeError);
    expect(() => signWebhook({ ...SPEC, secret: [] })).toThrow(TypeError);
  });

  it('produces deliveries the reference library accepts', () => {
    const secret = generateWebhookSecret();
    const timestamp = Math.floor(Date.now() / 1000);
    const body = '{"type":"generation.completed"}';
    const headers = webhookHeaders({ secret, id: 'msg_abc', timestamp, body });
    expect(new Webhook(secret).verify(body, headers)).toEqual({ type: 'generation.completed' });
  });
});

describe('verifyWebhook', () => {
  const now = SPEC.timestamp;

  it('accepts the published example and returns its id and timestamp', () => {
    expect(verifyWebhook({ secrets: [SPEC.secret], headers: specHeaders(), body: SPEC.body, now })).toEqual({
      id: SPEC.id,
      timestamp: SPEC.timestamp,
    });
  });

  it('reads a Fetch Headers object and header names in any case', () => {
    const headers = new Headers(specHeaders());
    expect(reasonOf(() => verifyWebhook({ secrets: [SPEC.secret], headers, body: SPEC.body, now }))).toBe(
      'ok',
    );
    const upper = {
      'Webhook-Id': SPEC.id,
      'WEBHOOK-TIMESTAMP': String(now),
      'webhook-Signature': SPEC.signature,
    };
    expect(
      reasonOf(() => verifyWebhook({ secrets: [SPEC.secret], headers: upper, body: SPEC.body, now })),
    ).toBe('ok');
  });

  it('accepts any matching signature among several, with any of several secrets (rotation)', () => {
    const old = generateWebhookSecret();
    const next = generateWebhookSecret();
    const both = signWebhook({ ...SPEC, secret: [old, next] });
    const verify = (secrets: string[], signature: string) =>
      reasonOf(() => verifyWebhook({ secrets, headers: specHeaders(signature), body: SPEC.body, now }));
    expect(verify([old], both)).toBe('ok');
    expect(verify([next], both)).toBe('ok');
    expect(verify([generateWebhookSecret(), next], signWebhook({ ...SPEC, secret: next }))).toBe('ok');
    expect(verify([generateWebhookSecret()], both)).toBe('no_matching_signature');
  });

  it('ignores signatures of other versions', () => {
    const sig = SPEC.signature.slice(3);
    const verify = (signature: string) =>
      reasonOf(() =>
        verifyWebhook({ secrets: [SPEC.secret], headers: specHeaders(signature), body: SPEC.body, now }),
      );
    expect(verify(`v1a,${sig} ${SPEC.signature}`)).toBe('ok');
    expect(verify(`v2,${sig}`)).toBe('no_matching_signature');
    expect(verify(sig)).toBe('no_matching_signature');
  });

  it('rejects a tampered body, id or timestamp, and a signature off by one character', () => {
    const base = { secrets: [SPEC.secret], headers: specHeaders(), body: SPEC.body, now };
    expect(reasonOf(() => verifyWebhook({ ...base, body: '{"test": 2432232315}' }))).toBe(
      'no_matching_signature',
    );
    expect(reasonOf(() => verifyWebhook({ ...base, body: `${SPEC.body} ` }))).toBe('no_matching_signature');
    expect(
      reasonOf(() => verifyWebhook({ ...base, headers: { ...specHeaders(), 'webhook-id': 'msg_other' } })),
    ).toBe('no_matching_signature');
    const later = { ...specHeaders(), 'webhook-timestamp': String(SPEC.timestamp + 1) };
    expect(reasonOf(() => verifyWebhook({ ...base, headers: later }))).toBe('no_matching_signature');
    const flipped = `${SPEC.signature.slice(0, -2)}A=`;
    expect(reasonOf(() => verifyWebhook({ ...base, headers: specHeaders(flipped) }))).toBe(
      'no_matching_signature',
    );
  });

  it('enforces the tolerance in both directions, 300 s by default', () => {
    const at = (clock: number, toleranceSeconds?: number) =>
      reasonOf(() =>
        verifyWebhook({
          secrets: [SPEC.secret],
          headers: specHeaders(),
          body: SPEC.body,
          now: clock,
          toleranceSeconds,
        }),
      );
    expect(at(now + 300)).toBe('ok');
    expect(at(now + 301)).toBe('timestamp_too_old');
    expect(at(now - 300)).toBe('ok');
    expect(at(now - 301)).toBe('timestamp_too_new');
    expect(at(now + 60, 30)).toBe('timestamp_too_old');
    expect(
      reasonOf(() => verifyWebhook({ secrets: [SPEC.secret], headers: specHeaders(), body: SPEC.body })),
    ).toBe('timestamp_too_old');
  });

  it('names each missing header', () => {
    for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
      const headers: Record<string, string> = specHeaders();
      delete headers[name];
      expect(() => verifyWebhook({ secrets: [SPEC.secret], headers, body: SPEC.body, now })).toThrow(name);
      expect(reasonOf(() => verifyWebhook({ secrets: [SPEC.secret], headers, body: SPEC.body, now }))).toBe(
        'missing_headers',
      );
    }
  });

  it('rejects timestamps that are not plain Unix seconds', () => {
    for (const stamp of ['abc', '1614265330.5', '-1614265330', '1614265330abc', ' 1614265330']) {
      const headers = { ...specHeaders(), 'webhook-timestamp': stamp };
      expect(reasonOf(() => verifyWebhook({ secrets: [SPEC.secret], headers, body: SPEC.body, now }))).toBe(
        'bad_timestamp',
      );
    }
  });

  it('rejects a body that is not UTF-8', () => {
    const body = Uint8Array.from([0xff, 0xfe]);
    expect(reasonOf(() => verifyWebhook({ secrets: [SPEC.secret], headers: specHeaders(), body, now }))).toBe(
      'no_matching_signature',
    );
  });
});
