import { describe, expect, it } from 'vitest';
import { ApiError } from './errors.ts';
import { formatIdempotencyKey, parseIdempotencyKey } from './idempotency-key.ts';
import { LIMITS } from './limits.ts';

const refusal = (header: string) => {
  try {
    parseIdempotencyKey(header);
  } catch (error) {
    if (error instanceof ApiError) return error;
    throw error;
  }
  throw new Error(`${JSON.stringify(header)} was accepted`);
};

describe('parseIdempotencyKey', () => {
  it('reads the structured-field string and the bare form as the same key', () => {
    expect(parseIdempotencyKey('"abc"')).toBe('abc');
    expect(parseIdempotencyKey('abc')).toBe('abc');
    expect(parseIdempotencyKey('"8e03978e-40d5-43e8-bc93-6894a57f9324"')).toBe(
      '8e03978e-40d5-43e8-bc93-6894a57f9324',
    );
    expect(parseIdempotencyKey('8e03978e-40d5-43e8-bc93-6894a57f9324')).toBe(
      '8e03978e-40d5-43e8-bc93-6894a57f9324',
    );
  });

  it('undoes the two sf-string escapes and keeps spaces inside quotes', () => {
    expect(parseIdempotencyKey(String.raw`"a\"b"`)).toBe('a"b');
    expect(parseIdempotencyKey(String.raw`"a\\b"`)).toBe('a\\b');
    expect(parseIdempotencyKey('"order 42"')).toBe('order 42');
  });

  it('ignores spaces and tabs around the value', () => {
    expect(parseIdempotencyKey(' \t"abc" ')).toBe('abc');
    expect(parseIdempotencyKey('  abc\t')).toBe('abc');
  });

  it('returns undefined when the header is absent', () => {
    expect(parseIdempotencyKey(undefined)).toBeUndefined();
    expect(parseIdempotencyKey(null)).toBeUndefined();
  });

  it('takes keys up to the limit, quoted or not, counting unescaped characters', () => {
    const max = 'k'.repeat(LIMITS.maxIdempotencyKeyLength);
    expect(parseIdempotencyKey(max)).toBe(max);
    expect(parseIdempotencyKey(`"${max}"`)).toBe(max);
    // 255 quotes need 510 characters escaped, and are still a 255-character key.
    const quotes = '"'.repeat(LIMITS.maxIdempotencyKeyLength);
    expect(parseIdempotencyKey(`"${quotes.replaceAll('"', '\\"')}"`)).toBe(quotes);
  });

  it.each([
    ['', "'Idempotency-Key' must not be empty; send 1 to 255 characters"],
    ['""', "'Idempotency-Key' must not be empty"],
    ['k'.repeat(256), "'Idempotency-Key' must be at most 255 characters, got 256"],
    [`"${'k'.repeat(300)}"`, "'Idempotency-Key' must be at most 255 characters, got 300"],
    ['"abc', "'Idempotency-Key' opens a string with a double quote but does not close it"],
    ['"', 'does not close it'],
    ['"abc"def', "'Idempotency-Key' has characters after the closing quote at offset 4"],
    ['"abc";a=1', 'has characters after the closing quote'],
    [
      String.raw`"a\nb"`,
      String.raw`has a backslash at offset 2 followed by "n"; a string escapes only \" and \\`,
    ],
    ['"abc\\', 'followed by the end of the value'],
    ['"caf\u00e9"', "'Idempotency-Key' may hold printable ASCII only (0x20 to 0x7e), got 0xe9 at offset 4"],
    ['"a\u0007b"', 'got 0x07 at offset 2'],
    [
      'has space',
      "'Idempotency-Key' without quotes may hold visible ASCII only (0x21 to 0x7e), got 0x20 at offset 3",
    ],
    ['caf\u00e9', 'got 0xe9 at offset 3'],
  ])('refuses %j, saying why', (header, message) => {
    const error = refusal(header);
    expect(error.message).toContain(message);
    expect(error).toMatchObject({
      status: 400,
      code: 'invalid_parameter',
      field: 'Idempotency-Key',
      limit: LIMITS.maxIdempotencyKeyLength,
    });
  });
});

describe('formatIdempotencyKey', () => {
  it('quotes and escapes a key so that parsing gives it back', () => {
    expect(formatIdempotencyKey('abc')).toBe('"abc"');
    expect(formatIdempotencyKey('a"b\\c d')).toBe(String.raw`"a\"b\\c d"`);
    for (const key of ['abc', 'a"b', 'x\\\\"', ' lead and trail ', '~!@#$%^&*()']) {
      expect(parseIdempotencyKey(formatIdempotencyKey(key))).toBe(key);
    }
  });

  it('refuses a key the header cannot carry', () => {
    expect(() => formatIdempotencyKey('caf\u00e9')).toThrow(/printable ASCII only/);
    expect(() => formatIdempotencyKey('')).toThrow(/must not be empty/);
  });
});
