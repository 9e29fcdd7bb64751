// The Idempotency-Key request header as draft-ietf-httpapi-idempotency-key-header defines it: an
// RFC 8941 structured-field Item whose value is an sf-string (`Idempotency-Key: "8e03978e-40d5"`).
// The bare form many clients send (`Idempotency-Key: 8e03978e-40d5`) is read too, and names the same
// key: `"abc"` and `abc` are one key, so a client that switches forms keeps its replays.
import { ApiError, ErrorCode } from './errors.ts';
import { LIMITS } from './limits.ts';

export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';

const HEADER = `'${IDEMPOTENCY_KEY_HEADER}'`;
const MAX = LIMITS.maxIdempotencyKeyLength;

function refuse(detail: string): ApiError {
  return new ApiError(ErrorCode.invalid_parameter, `${HEADER} ${detail}`, {
    field: IDEMPOTENCY_KEY_HEADER,
    limit: MAX,
  });
}

const hex = (code: number) => `0x${code.toString(16).padStart(2, '0')}`;

/**
 * The key an Idempotency-Key header value names, or undefined when the header is absent. Reads the
 * sf-string form (RFC 8941 section 3.3.3: printable ASCII 0x20-0x7E between double quotes, where `\"`
 * and `\\` are the only escapes) and the bare form (visible ASCII 0x21-0x7E, taken literally).
 * Surrounding spaces and tabs are ignored, as an HTTP field value's are. The key, unescaped, must be
 * 1 to LIMITS.maxIdempotencyKeyLength characters. Throws an ApiError (invalid_parameter, field
 * `Idempotency-Key`) saying what is wrong and where.
 */
export function parseIdempotencyKey(header: string | null | undefined): string | undefined {
  if (header === null || header === undefined) return undefined;
  const value = header.replace(/^[ \t]+|[ \t]+$/g, '');
  const key = value.startsWith('"') ? readString(value) : readBare(value);
  if (key.length === 0) throw refuse(`must not be empty; send 1 to ${MAX} characters, e.g. "a4f1-22b"`);
  if (key.length > MAX) throw refuse(`must be at most ${MAX} characters, got ${key.length}`);
  return key;
}

function readString(value: string): string {
  let key = '';
  for (let i = 1; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code === 0x5c) {
      const next = value[i + 1];
      if (next !== '"' && next !== '\\') {
        const got = next === undefined ? 'the end of the value' : JSON.stringify(next);
        throw refuse(`has a backslash at offset ${i} followed by ${got}; a string escapes only \\" and \\\\`);
      }
      key += next;
      i++;
    } else if (code === 0x22) {
      if (i !== value.length - 1) {
        throw refuse(
          `has characters after the closing quote at offset ${i}; send one string, e.g. "a4f1-22b"`,
        );
      }
      return key;
    } else if (code < 0x20 || code > 0x7e) {
      throw refuse(`may hold printable ASCII only (0x20 to 0x7e), got ${hex(code)} at offset ${i}`);
    } else {
      key += value[i];
    }
  }
  throw refuse('opens a string with a double quote but does not close it');
}

function readBare(value: string): string {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x21 || code > 0x7e) {
      throw refuse(
        `without quotes may hold visible ASCII only (0x21 to 0x7e), got ${hex(code)} at offset ${i}; ` +
          'quote a key that holds spaces, e.g. "a b"',
      );
    }
  }
  return value;
}

/** `key` as the draft's sf-string, quoted and escaped: what a client sends. Checks it as the parser would. */
export function formatIdempotencyKey(key: string): string {
  const quoted = `"${key.replace(/[\\"]/g, (ch) => `\\${ch}`)}"`;
  if (parseIdempotencyKey(quoted) !== key) throw refuse(`cannot hold ${JSON.stringify(key)}`);
  return quoted;
}
