// Byte helpers shared by ids, signing and the token format: hex, base64, UTF-8, constant-time compare.
// Written against Web APIs only (TextEncoder, btoa, crypto) so they run unchanged in Node and workerd.

const HEX = '0123456789abcdef';
const utf8Encoder = new TextEncoder();

/** Lowercase hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += HEX[b >> 4]! + HEX[b & 15]!;
  return out;
}

/** Standard base64 (RFC 4648 section 4, with padding) of `bytes`. */
export function toBase64(bytes: Uint8Array): string {
  // btoa takes a "binary string"; build it in chunks so large inputs do not overflow the argument stack.
  let binary = '';
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) {
    binary += String.fromCharCode(...bytes.subarray(i, i + chunk));
  }
  return btoa(binary);
}

// Value of each base64 alphabet character (RFC 4648 section 4), -1 for anything else.
const BASE64_VALUES = (() => {
  const table = new Int8Array(128).fill(-1);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let i = 0; i < alphabet.length; i++) table[alphabet.charCodeAt(i)] = i;
  return table;
})();
const PAD = 0x3d; // '='

/**
 * Decodes standard padded base64; throws a TypeError on anything else (no whitespace, no URL alphabet).
 * One pass over the characters with a lookup table: linear time and constant stack whatever the size
 * (a validating regular expression with a repeated group overflowed V8's stack on multi-megabyte input).
 */
export function fromBase64(text: string): Uint8Array {
  const invalid = () => new TypeError('invalid base64: expected the standard alphabet with padding');
  const n = text.length;
  if (n % 4 !== 0) throw invalid();
  const pad = n === 0 ? 0 : text.charCodeAt(n - 1) !== PAD ? 0 : text.charCodeAt(n - 2) === PAD ? 2 : 1;
  const out = new Uint8Array((n / 4) * 3 - pad);
  const value = (i: number): number => {
    const code = text.charCodeAt(i);
    const v = code < 128 ? BASE64_VALUES[code]! : -1;
    if (v < 0) throw invalid();
    return v;
  };
  let o = 0;
  for (let i = 0; i < n; i += 4) {
    const last = i + 4 === n;
    const a = value(i);
    const b = value(i + 1);
    const c = last && pad === 2 ? 0 : value(i + 2);
    const d = last && pad >= 1 ? 0 : value(i + 3);
    const bits = (a << 18) | (b << 12) | (c << 6) | d;
    out[o++] = bits >>> 16;
    if (o < out.length) out[o++] = (bits >>> 8) & 0xff;
    if (o < out.length) out[o++] = bits & 0xff;
  }
  return out;
}

/** UTF-8 bytes of a string. */
export function utf8(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}

/** Views any binary body as bytes; strings are UTF-8 encoded. */
export function asBytes(body: string | Uint8Array | ArrayBuffer | null | undefined): Uint8Array {
  if (body === null || body === undefined) return new Uint8Array(0);
  if (typeof body === 'string') return utf8(body);
  if (body instanceof Uint8Array) return body;
  return new Uint8Array(body);
}

/**
 * Compares two byte strings in time that depends only on their lengths, never on where they differ,
 * so a signature check leaks nothing about how close a forgery came. Lengths of MACs are public.
 */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** `n` cryptographically random bytes (WebCrypto). */
export function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  // getRandomValues fills at most 65,536 bytes per call (WebCrypto spec, QuotaExceededError beyond).
  for (let i = 0; i < n; i += 65_536) crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65_536)));
  return out;
}

/** SHA-256 of bytes or of a string's UTF-8 encoding (WebCrypto, so it runs in Node and workerd). */
export async function sha256(data: string | Uint8Array): Promise<Uint8Array> {
  const bytes = typeof data === 'string' ? utf8(data) : data;
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
}

/** Lowercase hex SHA-256. */
export async function sha256Hex(data: string | Uint8Array): Promise<string> {
  return toHex(await sha256(data));
}
