import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32c } from './crc32c.ts';
import {
  bitsPerToken,
  decodeTokens,
  encodedTokensLength,
  encodeTokens,
  MAX_CODEBOOK_SIZE,
  TOKEN_FORMAT_VERSION,
  TokenFormatError,
  type TokenFormatErrorReason,
  tokenRows,
} from './token-format.ts';

const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
const fromHex = (text: string) => Uint8Array.from(text.match(/../g) ?? [], (h) => Number.parseInt(h, 16));

/** Rewrites the trailing CRC so that a deliberately altered blob gets past the checksum. */
function reseal(blob: Uint8Array): Uint8Array {
  const out = blob.slice();
  new DataView(out.buffer).setUint32(out.length - 4, crc32c(out.subarray(0, out.length - 4)), true);
  return out;
}

function reasonOf(bytes: Uint8Array): TokenFormatErrorReason | 'ok' {
  try {
    decodeTokens(bytes);
    return 'ok';
  } catch (err) {
    if (err instanceof TokenFormatError) return err.reason;
    throw err;
  }
}

function expectReason(bytes: Uint8Array, reason: TokenFormatErrorReason, message?: RegExp) {
  try {
    decodeTokens(bytes);
  } catch (err) {
    expect(err).toBeInstanceOf(TokenFormatError);
    expect((err as TokenFormatError).reason).toBe(reason);
    expect((err as TokenFormatError).name).toBe('TokenFormatError');
    if (message) expect((err as Error).message).toMatch(message);
    return;
  }
  throw new Error(`expected ${reason}, but the blob decoded`);
}

/** Random token sets: codebook sizes across the whole allowed range, with a bias towards small ones. */
const tokenSetArb = fc
  .record({
    codebookSize: fc.oneof(
      fc.integer({ min: 2, max: 70 }),
      fc.integer({ min: 2, max: 65_536 }),
      fc.integer({ min: 2, max: MAX_CODEBOOK_SIZE }),
    ),
    tokensPerImage: fc.integer({ min: 1, max: 64 }),
    count: fc.integer({ min: 1, max: 4 }),
    model: fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,63}$/),
  })
  .chain((h) =>
    fc.record({
      model: fc.constant(h.model),
      codebookSize: fc.constant(h.codebookSize),
      tokensPerImage: fc.constant(h.tokensPerImage),
      tokens: fc.array(
        fc.array(
          fc.oneof(
            fc.constant(0),
            fc.constant(h.codebookSize - 1),
            fc.integer({ min: 0, max: h.codebookSize - 1 }),
          ),
          { minLength: h.tokensPerImage, maxLength: h.tokensPerImage },
        ),
        { minLength: h.count, maxLength: h.count },
      ),
    }),
  );

// Worked example of docs/token-format.md: codebook 1024 (10 bits), one image of tokens [1, 2, 1023].
const EXAMPLE = { model: 'gigatok-nano', codebookSize: 1024, tokensPerImage: 3, tokens: [[1, 2, 1023]] };
// A version 1 blob frozen when the format was written (its CRC computed by a separate bitwise CRC-32C);
// it must keep decoding forever, whatever later versions add.
const EXAMPLE_V1_HEX =
  '47544f4b01000c' + // "GTOK", version 1, flags 0, model id length 12
  '67696761746f6b2d6e616e6f' + // "gigatok-nano"
  '00040000' + // codebook size 1024
  '03000000' + // tokens per image 3
  '01000000' + // image count 1
  '0a' + // bits per token 10
  '0108f03f' + // payload: 1, 2, 1023 packed LSB-first in 30 bits + 2 zero padding bits
  '590e9ab6'; // CRC-32C 0xb69a0e59, little-endian

describe('bitsPerToken', () => {
  it('is ceil(log2(codebook size)), at least 1', () => {
    const cases: [number, number][] = [
      [2, 1],
      [3, 2],
      [4, 2],
      [5, 3],
      [1000, 10],
      [1024, 10],
      [1025, 11],
      [16_384, 14],
      [16_385, 15],
      [65_536, 16],
      [MAX_CODEBOOK_SIZE, 24],
    ];
    for (const [size, bits] of cases) expect(bitsPerToken(size)).toBe(bits);
  });

  it('rejects codebook sizes outside [2, 2^24]', () => {
    for (const size of [1, 0, -4, 2.5, MAX_CODEBOOK_SIZE + 1, Number.NaN]) {
      expect(() => bitsPerToken(size)).toThrow(TokenFormatError);
    }
  });
});

describe('encodeTokens / decodeTokens round trip', () => {
  it('returns the same tokens, header and count for random sets', () => {
    fc.assert(
      fc.property(tokenSetArb, (input) => {
        const blob = encodeTokens(input);
        const out = decodeTokens(blob);
        expect(out.model).toBe(input.model);
        expect(out.codebookSize).toBe(input.codebookSize);
        expect(out.tokensPerImage).toBe(input.tokensPerImage);
        expect(out.count).toBe(input.tokens.length);
        expect(tokenRows(out.tokens, out.tokensPerImage)).toEqual(input.tokens);
        expect(blob.length).toBe(
          encodedTokensLength(input.model, input.codebookSize, input.tokensPerImage, input.tokens.length),
        );
      }),
      { numRuns: 300 },
    );
  });

  it('round trips the edge values 0 and codebook-1 for odd and power-of-two sizes', () => {
    for (const size of [2, 3, 5, 1000, 1024, 16_384, 16_385, 65_535, 65_536, MAX_CODEBOOK_SIZE]) {
      const row = [0, size - 1, 0, size - 1, Math.floor(size / 2), size - 1, 0];
      const blob = encodeTokens({
        model: 'm',
        codebookSize: size,
        tokensPerImage: row.length,
        tokens: [row, row],
      });
      expect(tokenRows(decodeTokens(blob).tokens, row.length)).toEqual([row, row]);
    }
  });

  it('accepts a flat Uint32Array with several images, equal to the row form', () => {
    const rows = [
      [5, 6, 7, 8],
      [9, 10, 11, 12],
      [0, 0, 0, 1],
    ];
    const flat = Uint32Array.from(rows.flat());
    const a = encodeTokens({ model: 'm', codebookSize: 13, tokensPerImage: 4, tokens: flat });
    const b = encodeTokens({ model: 'm', codebookSize: 13, tokensPerImage: 4, tokens: rows });
    expect(hex(a)).toBe(hex(b));
    const out = decodeTokens(a);
    expect(out.count).toBe(3);
    expect(Array.from(out.tokens)).toEqual(rows.flat());
  });

  it('decodes a blob that sits at an offset inside a larger buffer', () => {
    const blob = encodeTokens(EXAMPLE);
    const big = new Uint8Array(blob.length + 11);
    big.set(blob, 5);
    expect(Array.from(decodeTokens(big.subarray(5, 5 + blob.length)).tokens)).toEqual([1, 2, 1023]);
  });

  it('packs 256 tokens of a 16,384-code book in 14 bits each: 448 payload bytes', () => {
    const model = 'gigatok-s-s';
    const tokens = [Array.from({ length: 256 }, (_, i) => (i * 977) % 16_384)];
    const blob = encodeTokens({ model, codebookSize: 16_384, tokensPerImage: 256, tokens });
    const header = 4 + 1 + 1 + 1 + model.length + 4 + 4 + 4 + 1;
    expect(header).toBe(31);
    expect(blob.length).toBe(header + 448 + 4);
    expect(blob[header - 1]).toBe(14);
  });
});

describe('layout (docs/token-format.md)', () => {
  it('writes the worked example byte for byte', () => {
    expect(hex(encodeTokens(EXAMPLE))).toBe(EXAMPLE_V1_HEX);
  });

  it('keeps reading the frozen version 1 blob', () => {
    const out = decodeTokens(fromHex(EXAMPLE_V1_HEX));
    expect(out).toEqual({
      model: 'gigatok-nano',
      codebookSize: 1024,
      tokensPerImage: 3,
      count: 1,
      tokens: Uint32Array.from([1, 2, 1023]),
    });
    expect(TOKEN_FORMAT_VERSION).toBe(1);
  });

  it('puts token k at stream bits [k*b, (k+1)*b), least significant bit first', () => {
    // One 3-bit token per value 1 << j, placed at position k, lands on exactly one set bit k*3 + j.
    for (let k = 0; k < 6; k++) {
      for (let j = 0; j < 3; j++) {
        const row = new Array<number>(6).fill(0);
        row[k] = 1 << j;
        const blob = encodeTokens({ model: 'm', codebookSize: 8, tokensPerImage: 6, tokens: [row] });
        const payload = blob.subarray(21, blob.length - 4);
        const bit = k * 3 + j;
        const expected = new Uint8Array(3);
        expected[bit >> 3] = 1 << (bit & 7);
        expect(hex(payload)).toBe(hex(expected));
      }
    }
  });
});

describe('decodeTokens rejects corrupt blobs with a precise reason', () => {
  const valid = encodeTokens({
    model: 'gigatok-nano',
    codebookSize: 1000,
    tokensPerImage: 5,
    tokens: [
      [0, 999, 500, 1, 2],
      [3, 4, 998, 0, 7],
    ],
  });
  const header = 7 + 12 + 13;

  it('bad_magic for other file types', () => {
    expectReason(fromHex('89504e470d0a1a0a0000'), 'bad_magic');
    const blob = valid.slice();
    blob[3] = 0x58; // "GTOX"
    expectReason(blob, 'bad_magic');
    expectReason(fromHex('48'), 'bad_magic');
  });

  it('unsupported_version for any version but 1, naming the versions it knows', () => {
    for (const version of [0, 2, 255]) {
      const blob = valid.slice();
      blob[4] = version;
      expectReason(reseal(blob), 'unsupported_version', new RegExp(`version ${version}.*\\[1\\]`));
    }
  });

  it('bad_flags for nonzero flags', () => {
    for (const flags of [1, 0x80]) {
      const blob = valid.slice();
      blob[5] = flags;
      expectReason(reseal(blob), 'bad_flags');
    }
  });

  it('truncated at every cut point of a valid blob', () => {
    for (let cut = 0; cut < valid.length; cut++) expectReason(valid.subarray(0, cut), 'truncated');
  });

  it('trailing_bytes when anything follows the checksum', () => {
    for (const extra of [1, 3, 100]) {
      const blob = new Uint8Array(valid.length + extra);
      blob.set(valid);
      expectReason(blob, 'trailing_bytes', new RegExp(`${extra} bytes after`));
    }
  });

  it('checksum_mismatch for every single-bit flip in the payload or the checksum', () => {
    for (let i = header; i < valid.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const blob = valid.slice();
        blob[i]! ^= 1 << bit;
        expect(reasonOf(blob), `byte ${i} bit ${bit}`).toBe('checksum_mismatch');
      }
    }
  });

  it('never accepts a single-bit flip in the header, and names magic, version and flags damage', () => {
    const expectedAt: Record<number, TokenFormatErrorReason> = {
      0: 'bad_magic',
      1: 'bad_magic',
      2: 'bad_magic',
      3: 'bad_magic',
      4: 'unsupported_version',
      5: 'bad_flags',
    };
    for (let i = 0; i < header; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const blob = valid.slice();
        blob[i]! ^= 1 << bit;
        const reason = reasonOf(blob);
        expect(reason, `byte ${i} bit ${bit}`).not.toBe('ok');
        if (expectedAt[i]) expect(reason, `byte ${i} bit ${bit}`).toBe(expectedAt[i]);
      }
    }
  });

  it('token_out_of_range when a well-sealed blob holds a token >= codebook size', () => {
    // Codebook 1000 needs 10 bits, so 1000..1023 are representable but invalid.
    const bits = encodeTokens({ model: 'm', codebookSize: 1024, tokensPerImage: 3, tokens: [[4, 1023, 5]] });
    const blob = bits.slice();
    const at = 7 + 1;
    new DataView(blob.buffer).setUint32(at, 1000, true); // same 10 bits per token, smaller book
    expectReason(reseal(blob), 'token_out_of_range', /token \[0\]\[1\] must be in \[0, 999\], got 1023/);
  });

  it('bad_header when bits per token does not match the codebook size', () => {
    for (const bits of [0, 9, 11, 24]) {
      const blob = valid.slice();
      blob[header - 1] = bits;
      expectReason(reseal(blob), 'bad_header', /bits per token must be 10 for codebook size 1000/);
    }
  });

  it('bad_header for codebook sizes outside [2, 2^24], zero tokens per image, zero images, empty model', () => {
    const set = (offset: number, value: number) => {
      const blob = valid.slice();
      new DataView(blob.buffer).setUint32(offset, value, true);
      return reseal(blob);
    };
    expectReason(set(19, 1), 'bad_header', /codebook size/);
    expectReason(set(19, 0), 'bad_header', /codebook size/);
    expectReason(set(19, MAX_CODEBOOK_SIZE + 1), 'bad_header', /codebook size/);
    expectReason(set(23, 0), 'bad_header', /tokens per image/);
    expectReason(set(27, 0), 'bad_header', /image count/);
    const noModel = valid.slice();
    noModel[6] = 0;
    expectReason(noModel, 'bad_header', /model id length/);
  });

  it('bad_header for a model id that is not UTF-8', () => {
    const blob = valid.slice();
    blob[7] = 0xff;
    expectReason(reseal(blob), 'bad_header', /UTF-8/);
  });

  it('truncated, not a crash, when a hostile header announces 2^64 tokens', () => {
    const blob = valid.slice();
    new DataView(blob.buffer).setUint32(23, 0xffffffff, true);
    new DataView(blob.buffer).setUint32(27, 0xffffffff, true);
    expectReason(reseal(blob), 'truncated');
  });

  it('bad_padding when a padding bit is set under a valid checksum', () => {
    // 3 tokens of 10 bits leave 2 padding bits in the last payload byte.
    const blob = encodeTokens(EXAMPLE).slice();
    blob[blob.length - 5]! |= 0x80;
    expectReason(reseal(blob), 'bad_padding');
  });
});

describe('the order of rejections (docs/token-format.md, "Rejections")', () => {
  // Model "m", V = 1000 (b = 10), T = 3, N = 1: 21 header bytes, 4 payload bytes, 4 CRC bytes. The
  // payload [1, 2, 1023] is a token >= V; 0x80 in its last byte sets a padding bit.
  interface Parts {
    magic?: string;
    version?: number;
    flags?: number;
    modelLength?: number;
    codebookSize?: number;
    payload?: number[];
    crc?: 'right' | 'wrong';
    extra?: number;
    keep?: number;
  }
  function gtok(parts: Parts = {}): Uint8Array {
    const payload = parts.payload ?? [0x01, 0x08, 0x70, 0x3e]; // [1, 2, 999]
    const out = new Uint8Array(21 + payload.length + 4 + (parts.extra ?? 0));
    const view = new DataView(out.buffer);
    out.set(new TextEncoder().encode(parts.magic ?? 'GTOK'), 0);
    out[4] = parts.version ?? 1;
    out[5] = parts.flags ?? 0;
    out[6] = parts.modelLength ?? 1;
    out[7] = 0x6d; // "m"
    view.setUint32(8, parts.codebookSize ?? 1000, true);
    view.setUint32(12, 3, true);
    view.setUint32(16, 1, true);
    out[20] = 10;
    out.set(payload, 21);
    const crc = crc32c(out.subarray(0, 25));
    view.setUint32(25, parts.crc === 'wrong' ? crc ^ 1 : crc, true);
    return out.subarray(0, parts.keep ?? out.length);
  }

  it('the reference blob decodes, so each case below fails for the reason it is built for', () => {
    expect(tokenRows(decodeTokens(gtok()).tokens, 3)).toEqual([[1, 2, 999]]);
  });

  it('reports the first problem met, each step winning over every later one', () => {
    const worst = { payload: [0x01, 0x08, 0xf0, 0xbf], crc: 'wrong' as const }; // bad padding, token 1023, bad CRC
    const ladder: [string, Uint8Array, TokenFormatErrorReason | 'ok'][] = [
      ['a byte of the magic differs, the blob also cut short', new TextEncoder().encode('GX'), 'bad_magic'],
      ['the blob ends inside the magic', new TextEncoder().encode('GT'), 'truncated'],
      ['the blob ends before the version', new TextEncoder().encode('GTOK'), 'truncated'],
      [
        'unknown version of a truncated blob with bad flags',
        gtok({ version: 2, flags: 1, keep: 7 }),
        'unsupported_version',
      ],
      ['unknown version, whole blob, bad checksum', gtok({ version: 9, ...worst }), 'unsupported_version'],
      ['the blob ends before the flags', gtok({ keep: 5 }), 'truncated'],
      ['nonzero flags, the blob cut after them', gtok({ flags: 1, keep: 6 }), 'bad_flags'],
      ['nonzero flags, whole blob, bad checksum', gtok({ flags: 1, ...worst }), 'bad_flags'],
      ['the blob ends before the model id length', gtok({ keep: 6 }), 'truncated'],
      ['model id length 0, the blob cut in the header', gtok({ modelLength: 0, keep: 10 }), 'bad_header'],
      ['the blob ends inside the header', gtok({ keep: 20 }), 'truncated'],
      [
        'codebook size 1, the blob cut in the payload, bad checksum',
        gtok({ codebookSize: 1, keep: 23, ...worst }),
        'bad_header',
      ],
      ['the blob cut in the payload, bad checksum', gtok({ keep: 27, ...worst }), 'truncated'],
      ['a byte after the checksum, bad checksum', gtok({ extra: 1, ...worst }), 'trailing_bytes'],
      ['bad checksum over a set padding bit and a token >= V', gtok(worst), 'checksum_mismatch'],
      ['a set padding bit and a token >= V, sealed', gtok({ payload: worst.payload }), 'bad_padding'],
      ['a token >= V, sealed', gtok({ payload: [0x01, 0x08, 0xf0, 0x3f] }), 'token_out_of_range'],
    ];
    for (const [name, bytes, reason] of ladder) expect(reasonOf(bytes), name).toBe(reason);
  });
});

describe('encodeTokens rejects bad arguments', () => {
  const base = { model: 'm', codebookSize: 16, tokensPerImage: 2 };

  it('token_out_of_range for tokens >= codebook size, negative or fractional', () => {
    expect(() => encodeTokens({ ...base, tokens: [[0, 16]] })).toThrow(
      /token \[0\]\[1\] must be in \[0, 15\], got 16/,
    );
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 32]) {
      try {
        encodeTokens({ ...base, tokens: [[0, bad]] });
        throw new Error('accepted');
      } catch (err) {
        expect((err as TokenFormatError).reason).toBe('token_out_of_range');
      }
    }
    expect(() => encodeTokens({ ...base, tokens: Uint32Array.from([3, 99]) })).toThrow(TokenFormatError);
  });

  it('bad_header for ragged rows, no images, bad sizes or model ids', () => {
    const reason = (input: Parameters<typeof encodeTokens>[0]) => {
      try {
        encodeTokens(input);
        return 'ok';
      } catch (err) {
        return (err as TokenFormatError).reason;
      }
    };
    expect(reason({ ...base, tokens: [[1, 2, 3]] })).toBe('bad_header');
    expect(reason({ ...base, tokens: [] })).toBe('bad_header');
    expect(reason({ ...base, tokens: Uint32Array.from([1, 2, 3]) })).toBe('bad_header');
    expect(reason({ ...base, codebookSize: 1, tokens: [[0, 0]] })).toBe('bad_header');
    expect(reason({ ...base, tokensPerImage: 0, tokens: [[]] })).toBe('bad_header');
    expect(reason({ ...base, model: '', tokens: [[0, 0]] })).toBe('bad_header');
    expect(reason({ ...base, model: 'x'.repeat(256), tokens: [[0, 0]] })).toBe('bad_header');
  });
});
