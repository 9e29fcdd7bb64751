import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { base32Decode, base32Encode } from './base32.ts';

const ascii = (s: string) => new TextEncoder().encode(s);

describe('base32', () => {
  it('matches the RFC 4648 section 10 test vectors, lowercased and unpadded', () => {
    const vectors: [string, string][] = [
      ['', ''],
      ['f', 'my'],
      ['fo', 'mzxq'],
      ['foo', 'mzxw6'],
      ['foob', 'mzxw6yq'],
      ['fooba', 'mzxw6ytb'],
      ['foobar', 'mzxw6ytboi'],
    ];
    for (const [plain, encoded] of vectors) {
      expect(base32Encode(ascii(plain))).toBe(encoded);
      expect(base32Decode(encoded)).toEqual(ascii(plain));
    }
  });

  it('encodes 20 bytes as exactly 32 characters', () => {
    expect(base32Encode(new Uint8Array(20).fill(0xff))).toBe('7'.repeat(32));
    expect(base32Encode(new Uint8Array(20))).toBe('a'.repeat(32));
  });

  it('round trips any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        expect(base32Decode(base32Encode(b))).toEqual(b);
      }),
    );
  });

  it('rejects characters outside the alphabet and non-canonical endings', () => {
    for (const bad of ['mzx1', 'mz=', 'm', 'mzz', 'mzxw6yr'])
      expect(() => base32Decode(bad)).toThrow(TypeError);
  });
});
