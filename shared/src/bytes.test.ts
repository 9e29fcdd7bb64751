import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { asBytes, fromBase64, randomBytes, sha256Hex, timingSafeEqual, toBase64, toHex } from './bytes.ts';

describe('bytes', () => {
  it('writes lowercase hex', () => {
    expect(toHex(Uint8Array.from([0, 1, 0xab, 0xff]))).toBe('0001abff');
  });

  it('round trips base64 and matches RFC 4648 vectors', { timeout: 30_000 }, () => {
    expect(toBase64(new TextEncoder().encode('foobar'))).toBe('Zm9vYmFy');
    expect(toBase64(new TextEncoder().encode('fooba'))).toBe('Zm9vYmE=');
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (b) => {
        expect(fromBase64(toBase64(b))).toEqual(b);
      }),
    );
    const big = randomBytes(200_000);
    expect(fromBase64(toBase64(big))).toEqual(big);
  });

  it('rejects base64 that is unpadded, URL-safe or has whitespace', () => {
    for (const bad of [
      'Zm9vYmE',
      'Zm9v_mE=',
      'Zm9v YmE=',
      '=',
      '====',
      'Zm=v',
      'Zm9v\u00e9mE=',
      'Zm9vYmE=Zm9v',
    ])
      expect(() => fromBase64(bad)).toThrow(TypeError);
  });

  it('decodes a 14 MB base64 string (a 10 MiB image) without overflowing the stack', {
    timeout: 30_000,
  }, () => {
    // "AAEC" is the bytes 00 01 02; repeated it makes a large input whose decoding is known.
    const text = 'AAEC'.repeat(3_500_000);
    expect(text.length).toBe(14_000_000);
    const bytes = fromBase64(text);
    expect(bytes.length).toBe(10_500_000);
    let wrong = 0;
    for (let i = 0; i < bytes.length; i++) if (bytes[i] !== i % 3) wrong++;
    expect(wrong).toBe(0);
    // An invalid character at the very end is still found.
    expect(() => fromBase64(`${text.slice(0, -4)}AA-=`)).toThrow(TypeError);
  });

  it('gives the FIPS 180-2 SHA-256 of "abc" and of nothing', async () => {
    expect(await sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(await sha256Hex(new Uint8Array(0))).toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
  });

  it('compares bytes for equality without early exit', () => {
    expect(timingSafeEqual(Uint8Array.from([1, 2, 3]), Uint8Array.from([1, 2, 3]))).toBe(true);
    expect(timingSafeEqual(Uint8Array.from([1, 2, 3]), Uint8Array.from([1, 2, 4]))).toBe(false);
    expect(timingSafeEqual(Uint8Array.from([1, 2, 3]), Uint8Array.from([1, 2]))).toBe(false);
    fc.assert(
      fc.property(
        fc.uint8Array(),
        fc.uint8Array(),
        (a, b) => timingSafeEqual(a, b) === (toHex(a) === toHex(b)),
      ),
    );
  });

  it('views strings, buffers and null as bytes', () => {
    expect(asBytes('é')).toEqual(Uint8Array.from([0xc3, 0xa9]));
    expect(asBytes(null).length).toBe(0);
    expect(asBytes(Uint8Array.from([7]).buffer)).toEqual(Uint8Array.from([7]));
  });
});
