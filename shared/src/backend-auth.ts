// Worker -> GPU backend request signing: HMAC-SHA256 (WebCrypto) over method, path with query, timestamp
// and the body's SHA-256, so the backend serves only the Worker and a captured request replays for 5 minutes at most.
import { asBytes, fromBase64, sha256Hex, toBase64, utf8 } from './bytes.ts';
import { getHeader, type HeaderSource } from './headers.ts';

export const BACKEND_TIMESTAMP_HEADER = 'x-gigatok-timestamp';
export const BACKEND_SIGNATURE_HEADER = 'x-gigatok-signature';
/** Largest accepted distance, either way, between the signed timestamp and the backend's clock. */
export const BACKEND_REPLAY_WINDOW_SECONDS = 300;

export type BackendAuthReason =
  | 'missing_headers'
  | 'bad_timestamp'
  | 'timestamp_too_old'
  | 'timestamp_too_new'
  | 'bad_signature';

export class BackendAuthError extends Error {
  override readonly name = 'BackendAuthError';
  readonly reason: BackendAuthReason;

  constructor(reason: BackendAuthReason, message: string) {
    super(message);
    this.reason = reason;
  }
}

export type BackendBody = string | Uint8Array | ArrayBuffer | null | undefined;

export interface SignBackendRequestInput {
  /** Shared secret(s); several produce several `v1=` values, for a rotation. */
  secret: string | readonly string[];
  method: string;
  /** Path with query, exactly as sent: `/v1/generate/abc/cancel`, `/v1/models?x=1`. */
  path: string;
  body?: BackendBody;
  /** Unix seconds; defaults to the clock. */
  timestamp?: number;
}

/** Path plus query of a URL, the form that is signed. */
export function pathWithQuery(url: string | URL): string {
  const u = typeof url === 'string' ? new URL(url) : url;
  return u.pathname + u.search;
}

/** METHOD "\n" path-with-query "\n" timestamp "\n" hex sha256(body). */
export async function backendSigningString(
  method: string,
  path: string,
  timestamp: number,
  body: BackendBody,
): Promise<string> {
  return `${method.toUpperCase()}\n${path}\n${timestamp}\n${await sha256Hex(asBytes(body))}`;
}

function hmacKey(secret: string, usage: 'sign' | 'verify'): Promise<CryptoKey> {
  if (typeof secret !== 'string' || secret.length === 0)
    throw new TypeError('a backend secret must be a non-empty string');
  return crypto.subtle.importKey(
    'raw',
    utf8(secret) as Uint8Array<ArrayBuffer>,
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    [usage],
  );
}

/** The two headers to add to a backend request. */
export async function signBackendRequest(input: SignBackendRequestInput): Promise<Record<string, string>> {
  const timestamp = input.timestamp ?? Math.floor(Date.now() / 1000);
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw new RangeError(`'timestamp' must be a non-negative integer of Unix seconds, got ${timestamp}`);
  }
  const secrets = typeof input.secret === 'string' ? [input.secret] : input.secret;
  if (secrets.length === 0) throw new TypeError("'secret' must name at least one secret");
  const message = utf8(await backendSigningString(input.method, input.path, timestamp, input.body));
  const values = await Promise.all(
    secrets.map(async (secret) => {
      const mac = await crypto.subtle.sign(
        'HMAC',
        await hmacKey(secret, 'sign'),
        message as Uint8Array<ArrayBuffer>,
      );
      return `v1=${toBase64(new Uint8Array(mac))}`;
    }),
  );
  return { [BACKEND_TIMESTAMP_HEADER]: String(timestamp), [BACKEND_SIGNATURE_HEADER]: values.join(' ') };
}

export interface VerifyBackendRequestInput {
  secrets: readonly string[];
  method: string;
  path: string;
  headers: HeaderSource;
  body?: BackendBody;
  /** Unix seconds; defaults to the clock. */
  now?: number;
  windowSeconds?: number;
}

/**
 * Accepts a request when its timestamp is within the window and any `v1=` value matches any secret;
 * throws BackendAuthError otherwise. The MAC check is crypto.subtle.verify, which compares in constant time.
 */
export async function verifyBackendRequest(input: VerifyBackendRequestInput): Promise<void> {
  const { secrets, windowSeconds = BACKEND_REPLAY_WINDOW_SECONDS } = input;
  if (secrets.length === 0) throw new TypeError("'secrets' must name at least one secret");
  const stamp = getHeader(input.headers, BACKEND_TIMESTAMP_HEADER);
  const signature = getHeader(input.headers, BACKEND_SIGNATURE_HEADER);
  if (!stamp || !signature) {
    const missing = [stamp ? null : BACKEND_TIMESTAMP_HEADER, signature ? null : BACKEND_SIGNATURE_HEADER];
    throw new BackendAuthError('missing_headers', `missing headers: ${missing.filter(Boolean).join(', ')}`);
  }
  if (!/^[0-9]{1,15}$/.test(stamp)) {
    throw new BackendAuthError('bad_timestamp', `'${BACKEND_TIMESTAMP_HEADER}' must be Unix seconds`);
  }
  const timestamp = Number(stamp);
  const now = input.now ?? Math.floor(Date.now() / 1000);
  if (now - timestamp > windowSeconds) {
    throw new BackendAuthError('timestamp_too_old', `request timestamp is ${now - timestamp} s old`);
  }
  if (timestamp - now > windowSeconds) {
    throw new BackendAuthError(
      'timestamp_too_new',
      `request timestamp is ${timestamp - now} s in the future`,
    );
  }
  const macs: Uint8Array[] = [];
  for (const part of signature.split(' ')) {
    if (!part.startsWith('v1=')) continue;
    try {
      macs.push(fromBase64(part.slice(3)));
    } catch {
      // A malformed value cannot match; others in the header still may.
    }
  }
  const message = utf8(await backendSigningString(input.method, input.path, timestamp, input.body));
  let match = false;
  for (const secret of secrets) {
    const key = await hmacKey(secret, 'verify');
    for (const mac of macs) {
      const ok = await crypto.subtle.verify(
        'HMAC',
        key,
        mac as Uint8Array<ArrayBuffer>,
        message as Uint8Array<ArrayBuffer>,
      );
      match = ok || match;
    }
  }
  if (!match) throw new BackendAuthError('bad_signature', 'no signature matches the secrets');
}
