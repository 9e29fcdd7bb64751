import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { philox4x32, uniform, uniforms } from './random.ts';

const words = (text: string) => text.split(' ').map((h) => Number.parseInt(h, 16));

/** Philox4x32-10 written again with BigInt arithmetic, as an independent reference. */
function philoxBigInt(counter: number[], key: number[]): number[] {
  const mask = 0xffffffffn;
  let c = counter.map(BigInt);
  let k = key.map(BigInt);
  for (let r = 0; r < 10; r++) {
    const p0 = 0xd2511f53n * c[0]!;
    const p1 = 0xcd9e8d57n * c[2]!;
    c = [((p1 >> 32n) ^ c[1]! ^ k[0]!) & mask, p1 & mask, ((p0 >> 32n) ^ c[3]! ^ k[1]!) & mask, p0 & mask];
    k = [(k[0]! + 0x9e3779b9n) & mask, (k[1]! + 0xbb67ae85n) & mask];
  }
  return c.map(Number);
}

describe('philox4x32', () => {
  // Random123 tests/kat_vectors, "philox4x32 10" lines: counter, key, expected output.
  const KAT: [string, string, string][] = [
    ['00000000 00000000 00000000 00000000', '00000000 00000000', '6627e8d5 e169c58d bc57ac4c 9b00dbd8'],
    ['ffffffff ffffffff ffffffff ffffffff', 'ffffffff ffffffff', '408f276d 41c83b0e a20bc7c6 6d5451fd'],
    ['243f6a88 85a308d3 13198a2e 03707344', 'a4093822 299f31d0', 'd16cfe09 94fdcceb 5001e420 24126ea1'],
  ];

  it('reproduces the Random123 known-answer vectors', () => {
    for (const [counter, key, expected] of KAT) {
      const out = philox4x32(
        words(counter) as [number, number, number, number],
        words(key) as [number, number],
      );
      expect(out).toEqual(words(expected));
    }
  });

  it('agrees with a BigInt implementation on random counters and keys', () => {
    const u32 = fc.integer({ min: 0, max: 0xffffffff });
    fc.assert(
      fc.property(fc.tuple(u32, u32, u32, u32), fc.tuple(u32, u32), (counter, key) => {
        expect(philox4x32(counter, key)).toEqual(philoxBigInt(counter, key));
      }),
      { numRuns: 300 },
    );
  });
});

describe('uniform', () => {
  const u32 = fc.integer({ min: 0, max: 0xffffffff });

  it('is the top 24 bits of the first word of counter (image, step, 0, 0), key (seed, 0), over 2^24', () => {
    const [w] = philoxBigInt([3, 17, 0, 0], [12345, 0]);
    expect(uniform(12345, 3, 17)).toBe(Math.floor(w! / 256) / 2 ** 24);
    const [z] = words('6627e8d5');
    expect(uniform(0, 0, 0)).toBe(Math.floor(z! / 256) / 2 ** 24);
  });

  it('lies in [0, 1), is exact in float32 and is the same for the same arguments', () => {
    fc.assert(
      fc.property(u32, u32, fc.integer({ min: 0, max: 1 << 20 }), (seed, image, step) => {
        const u = uniform(seed, image, step);
        expect(u).toBeGreaterThanOrEqual(0);
        expect(u).toBeLessThan(1);
        expect(Math.fround(u)).toBe(u);
        expect(uniform(seed, image, step)).toBe(u);
      }),
    );
  });

  it('depends on each of seed, image index and step', () => {
    const u = uniform(42, 1, 2);
    expect(uniform(43, 1, 2)).not.toBe(u);
    expect(uniform(42, 2, 2)).not.toBe(u);
    expect(uniform(42, 1, 3)).not.toBe(u);
  });

  it('looks uniform: mean and deciles of 20,000 draws', () => {
    const draws = uniforms(2024, 0, 20, 1000);
    const mean = draws.reduce((a, b) => a + b, 0) / draws.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01);
    const bins = new Array<number>(10).fill(0);
    for (const u of draws) bins[Math.floor(u * 10)]!++;
    for (const n of bins) expect(Math.abs(n - 2000)).toBeLessThan(200);
  });

  it('rejects arguments outside u32', () => {
    for (const bad of [-1, 2 ** 32, 1.5, Number.NaN]) {
      expect(() => uniform(bad, 0, 0)).toThrow(/'seed' must be an integer in \[0, 4294967295\]/);
      expect(() => uniform(0, bad, 0)).toThrow(RangeError);
      expect(() => uniform(0, 0, bad)).toThrow(RangeError);
    }
  });
});

describe('uniforms', () => {
  it('lays out [count, steps] from firstIndex, equal to uniform() one by one', () => {
    const out = uniforms(99, 5, 3, 7);
    expect(out).toBeInstanceOf(Float32Array);
    expect(out.length).toBe(21);
    for (let i = 0; i < 3; i++)
      for (let s = 0; s < 7; s++) expect(out[i * 7 + s]).toBe(uniform(99, 5 + i, s));
  });

  it('gives image i the same values whatever the batch it is drawn in', () => {
    const whole = uniforms(7, 0, 4, 16);
    const alone = uniforms(7, 2, 1, 16);
    expect(Array.from(alone)).toEqual(Array.from(whole.subarray(32, 48)));
  });

  it('rejects an image range past 2^32 - 1', () => {
    expect(() => uniforms(1, 0xffffffff, 2, 1)).toThrow(RangeError);
    expect(uniforms(1, 0xffffffff, 1, 1).length).toBe(1);
  });
});
