// Standard Webhooks (https://www.standardwebhooks.com, spec "Verifying webhook authenticity") signing and
// verification: HMAC-SHA256 over "<webhook-id>.<webhook-timestamp>.<body>", header "v1,<base64>".
// The HMAC comes from the reference `standardwebhooks` package (pure JS: fast-sha256 + @stablelib/base64,
// so it runs in Node and workerd); header parsing, the clock and the comparison are ours, because the
// package's verify() reads Date.now() and fixes the tolerance at 5 minutes.
import { Webhook } from 'standardwebhooks';
import { timingSafeEqual, utf8 } from './bytes.ts';
import { getHeader, type HeaderSource } from './headers.ts';

export const WEBHOOK_ID_HEADER = 'webhook-id';
export const WEBHOOK_TIMESTAMP_HEADER = 'webhook-timestamp';
export const WEBHOOK_SIGNATURE_HEADER = 'webhook-signature';
/** Spec recommendation for the allowed distance between the timestamp and the receiver's clock. */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

export type WebhookVerificationReason =
  | 'missing_headers'
  | 'bad_timestamp'
  | 'timestamp_too_old'
  | 'timestamp_too_new'
  | 'no_matching_signature';

export class WebhookVerificationError extends Error {
  override readonly name = 'WebhookVerificationError';
  readonly reason: WebhookVerificationReason;

  constructor(reason: WebhookVerificationReason, message: string) {
    super(message);
    this.reason = reason;
  }
}

export type WebhookBody = string | Uint8Array;

export interface SignWebhookInput {
  /** `whsec_...`; several during a rotation, each adding one signature to the header. */
  secret: string | readonly string[];
  /** The `webhook-id`, `msg_...`. */
  id: string;
  /** Unix seconds. */
  timestamp: number;
  /** The exact body bytes sent. */
  body: WebhookBody;
}

const utf8Fatal = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

function bodyText(body: WebhookBody): string {
  // The package signs a string's UTF-8 bytes; a byte body must therefore be valid UTF-8 to round-trip.
  return typeof body === 'string' ? body : utf8Fatal.decode(body);
}

function signer(secret: string): Webhook {
  if (typeof secret !== 'string' || !/^(whsec_)?[A-Za-z0-9+/]+={0,2}$/.test(secret)) {
    throw new TypeError('a webhook secret must be "whsec_" followed by base64');
  }
  return new Webhook(secret);
}

function checkTimestamp(timestamp: number): void {
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw new RangeError(`'timestamp' must be a non-negative integer of Unix seconds, got ${timestamp}`);
  }
}

function checkMessageId(id: string): void {
  // The id is part of the signed content and is joined with '.', so keep it to a plain token.
  if (typeof id !== 'string' || !/^[A-Za-z0-9_-]{1,128}$/.test(id)) {
    throw new TypeError(`'id' must be 1 to 128 characters of [A-Za-z0-9_-], got ${JSON.stringify(id)}`);
  }
}

/** The `webhook-signature` header value: "v1,<base64>" per secret, space-separated. */
export function signWebhook(input: SignWebhookInput): string {
  checkMessageId(input.id);
  checkTimestamp(input.timestamp);
  const secrets = typeof input.secret === 'string' ? [input.secret] : input.secret;
  if (secrets.length === 0) throw new TypeError("'secret' must name at least one secret");
  const text = bodyText(input.body);
  const when = new Date(input.timestamp * 1000);
  return secrets.map((secret) => signer(secret).sign(input.id, when, text)).join(' ');
}

/** The three headers of a delivery. */
export function webhookHeaders(input: SignWebhookInput): Record<string, string> {
  return {
    [WEBHOOK_ID_HEADER]: input.id,
    [WEBHOOK_TIMESTAMP_HEADER]: String(input.timestamp),
    [WEBHOOK_SIGNATURE_HEADER]: signWebhook(input),
  };
}

export interface VerifyWebhookInput {
  /** Every secret currently accepted (old and new during a rotation). */
  secrets: readonly string[];
  headers: HeaderSource;
  body: WebhookBody;
  toleranceSeconds?: number;
  /** Unix seconds; defaults to the clock. */
  now?: number;
}

/**
 * Verifies a delivery and returns its id and timestamp; throws WebhookVerificationError with a reason.
 * Accepts when any `v1` signature in the header matches any of `secrets` (spec: several signatures may
 * be sent, e.g. during a secret rotation); other versions are ignored.
 */
export function verifyWebhook(input: VerifyWebhookInput): { id: string; timestamp: number } {
  const { secrets, headers, toleranceSeconds = WEBHOOK_TOLERANCE_SECONDS } = input;
  if (secrets.length === 0) throw new TypeError("'secrets' must name at least one secret");
  const id = getHeader(headers, WEBHOOK_ID_HEADER);
  const stamp = getHeader(headers, WEBHOOK_TIMESTAMP_HEADER);
  const signature = getHeader(headers, WEBHOOK_SIGNATURE_HEADER);
  const missing = [
    id ? null : WEBHOOK_ID_HEADER,
    stamp ? null : WEBHOOK_TIMESTAMP_HEADER,
    signature ? null : WEBHOOK_SIGNATURE_HEADER,
  ].filter((h) => h !== null);
  if (missing.length > 0 || !id || !stamp || !signature) {
    throw new WebhookVerificationError('missing_headers', `missing headers: ${missing.join(', ')}`);
  }
  if (!/^[0-9]{1,15}$/.test(stamp)) {
    throw new WebhookVerificationError('bad_timestamp', `'${WEBHOOK_TIMESTAMP_HEADER}' must be Unix seconds`);
  }
  const timestamp = Number(stamp);
  const now = input.now ?? Math.floor(Date.now() / 1000);
  if (now - timestamp > toleranceSeconds) {
    throw new WebhookVerificationError('timestamp_too_old', `timestamp is ${now - timestamp} s old`);
  }
  if (timestamp - now > toleranceSeconds) {
    throw new WebhookVerificationError(
      'timestamp_too_new',
      `timestamp is ${timestamp - now} s in the future`,
    );
  }
  let text: string;
  try {
    text = bodyText(input.body);
  } catch {
    throw new WebhookVerificationError('no_matching_signature', 'body is not valid UTF-8');
  }
  const expected = secrets.map((secret) => utf8(signer(secret).sign(id, new Date(timestamp * 1000), text)));
  const offered = signature
    .split(' ')
    .filter((part) => part.startsWith('v1,'))
    .map((part) => utf8(part));
  // Compare every pair without stopping early, so timing does not tell which secret or signature matched.
  let match = false;
  for (const want of expected) {
    for (const got of offered) match = timingSafeEqual(want, got) || match;
  }
  if (!match) throw new WebhookVerificationError('no_matching_signature', 'no signature matches the secrets');
  return { id, timestamp };
}
