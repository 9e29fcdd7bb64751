// The per-token sampling math against a float64 reference written independently here.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { SamplingParams } from '../src/generation/request.ts';
import { cfgAt, inverseCdf, probabilities, SamplerScratch } from '../src/generation/token-draw.ts';

/** Deterministic pseudo-random logits (a small LCG, so the test needs no seed plumbing). */
function randomLogits(n: number, seed: number, scale = 4): Float32Array {
  let x = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = ((x / 2 ** 32) * 2 - 1) * scale;
  }
  return out;
}

/** Float64 reference of the contract: mix, temperature, top-k, top-p (LlamaGen), softmax. */
function reference(cond: Float32Array, uncond: Float32Array, cfg: number, p: SamplingParams): number[] {
  const V = cond.length;
  let l = Array.from(cond, (c, j) => (uncond[j]! + (c - uncond[j]!) * cfg) / Math.max(p.temperature, 1e-5));
  if (p.topK > 0 && p.topK < V) {
    const kth = [...l].sort((a, b) => b - a)[p.topK - 1]!;
    l = l.map((v) => (v < kth ? Number.NEGATIVE_INFINITY : v));
  }
  if (p.topP < 1) {
    const ids = l.map((_, j) => j).sort((a, b) => l[b]! - l[a]! || a - b);
    const max = l[ids[0]!]!;
    const e = ids.map((j) => Math.exp(l[j]! - max));
    const s = e.reduce((a, b) => a + b, 0);
    let cum = 0;
    const keep = new Set<number>();
    for (const [r, j] of ids.entries()) {
      if (r === 0 || cum <= p.topP) keep.add(j);
      cum += e[r]! / s;
    }
    l = l.map((v, j) => (keep.has(j) ? v : Number.NEGATIVE_INFINITY));
  }
  const max = Math.max(...l);
  const e = l.map((v) => Math.exp(v - max));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

const base: SamplingParams = { cfgScale: 4, cfgSchedule: 'constant', temperature: 1, topK: 0, topP: 1 };

describe('guidance and filtering', () => {
  const cases: [string, number, SamplingParams][] = [
    ['plain guidance cfg 4', 4, base],
    ['no guidance cfg 1', 1, base],
    ['cfg 1.75, temperature 0.7', 1.75, { ...base, temperature: 0.7 }],
    ['top-k 10', 4, { ...base, topK: 10 }],
    ['top-p 0.5', 4, { ...base, topP: 0.5 }],
    ['top-k 50 then top-p 0.9, temperature 1.3', 2, { ...base, topK: 50, topP: 0.9, temperature: 1.3 }],
  ];
  for (const [name, cfg, params] of cases) {
    it(`matches the float64 reference within 1e-5: ${name}`, () => {
      const V = 256;
      const scratch = new SamplerScratch(V);
      for (let trial = 0; trial < 5; trial++) {
        const cond = randomLogits(V, 11 + trial);
        const uncond = randomLogits(V, 97 + trial);
        const got = probabilities(cond, 0, uncond, 0, cfg, params, scratch);
        const want = reference(cond, uncond, cfg, params);
        let maxDiff = 0;
        for (let j = 0; j < V; j++) maxDiff = Math.max(maxDiff, Math.abs(got[j]! - want[j]!));
        expect(maxDiff).toBeLessThan(1e-5);
        // Filtering removes exactly the tokens the reference removes.
        for (let j = 0; j < V; j++) expect(got[j] === 0).toBe(want[j] === 0);
      }
    });
  }

  it('reads both halves at their offsets (a doubled batch [cond; uncond] in one buffer)', () => {
    const V = 64;
    const cond = randomLogits(V, 5);
    const uncond = randomLogits(V, 6);
    const both = new Float32Array(2 * V);
    both.set(cond, 0);
    both.set(uncond, V);
    const a = Array.from(probabilities(cond, 0, uncond, 0, 3, base, new SamplerScratch(V)));
    const b = Array.from(probabilities(both, 0, both, V, 3, base, new SamplerScratch(V)));
    expect(b).toEqual(a);
  });

  it('makes guidance a no-op when both halves are equal (unconditional requests)', () => {
    const V = 128;
    const x = randomLogits(V, 9);
    const scratch = new SamplerScratch(V);
    const guided = Array.from(probabilities(x, 0, x, 0, 7.5, base, scratch));
    const plain = Array.from(probabilities(x, 0, x, 0, 1, base, scratch));
    expect(guided).toEqual(plain);
  });
});

describe('inverse-CDF draw', () => {
  it('returns the first token whose float32 cdf exceeds u', () => {
    const p = Float32Array.from([0.25, 0, 0.5, 0.25]);
    expect(inverseCdf(p, 0)).toBe(0);
    expect(inverseCdf(p, 0.2499)).toBe(0);
    expect(inverseCdf(p, 0.25)).toBe(2); // cdf[0] = 0.25 <= u, token 1 has no mass
    expect(inverseCdf(p, 0.74)).toBe(2);
    expect(inverseCdf(p, 0.75)).toBe(3);
    expect(inverseCdf(p, 0.99999994)).toBe(3);
  });

  it('clamps to the last token when rounding leaves the cdf below u', () => {
    expect(inverseCdf(Float32Array.from([0.5, 0.4999]), 0.99995)).toBe(1);
  });

  it('never picks a token removed by top-k', () => {
    const V = 100;
    const scratch = new SamplerScratch(V);
    const cond = randomLogits(V, 3);
    const probs = Float32Array.from(probabilities(cond, 0, cond, 0, 1, { ...base, topK: 5 }, scratch));
    const allowed = new Set([...probs.keys()].filter((j) => probs[j]! > 0));
    expect(allowed.size).toBe(5);
    for (let k = 0; k < 200; k++) expect(allowed.has(inverseCdf(probs, k / 200))).toBe(true);
  });
});

describe('cfg schedules', () => {
  it('constant keeps the scale at every step', () => {
    for (let i = 0; i < 32; i++) expect(cfgAt(4, 'constant', i, 32)).toBe(4);
  });

  it("step uses full cfg at step 0, 1.0 while (i+1)/T < 0.18, then full (GigaTok's schedule)", () => {
    const T = 256;
    const got = Array.from({ length: T }, (_, i) => cfgAt(1.75, 'step', i, T));
    expect(got[0]).toBe(1.75);
    // (i + 1) / 256 < 0.18  <=>  i + 1 <= 46
    for (let i = 1; i <= 45; i++) expect(got[i]).toBe(1);
    for (let i = 46; i < T; i++) expect(got[i]).toBe(1.75);
  });
});

/**
 * The stated float32 steps written plainly (full comparator sort, no pruning, no selection
 * algorithm), to check the fast paths bit for bit.
 */
function plainFloat32(
  cond: Float32Array,
  uncond: Float32Array,
  cfg: number,
  p: SamplingParams,
): Float32Array {
  const f = Math.fround;
  const V = cond.length;
  const l = new Float32Array(V);
  for (let j = 0; j < V; j++)
    l[j] = f(f(uncond[j]! + f(f(cond[j]! - uncond[j]!) * f(cfg))) / f(Math.max(p.temperature, 1e-5)));
  const softmax = (x: Float32Array) => {
    let m = Number.NEGATIVE_INFINITY;
    for (const v of x) m = Math.max(m, v);
    const e = x.map((v) => (v === Number.NEGATIVE_INFINITY ? 0 : f(Math.exp(f(v - m)))));
    let s = 0;
    for (const v of e) s = f(s + v);
    return e.map((v) => f(v / s));
  };
  if (p.topK > 0 && p.topK < V) {
    const kth = [...l].sort((a, b) => b - a)[p.topK - 1]!;
    for (let j = 0; j < V; j++) if (l[j]! < kth) l[j] = Number.NEGATIVE_INFINITY;
  }
  if (p.topP < 1) {
    const q = softmax(l);
    const ids = [...l.keys()].sort((a, b) => (l[b]! === l[a]! ? a - b : l[b]! > l[a]! ? 1 : -1));
    let cum = 0;
    const drop: number[] = [];
    for (const [r, j] of ids.entries()) {
      if (r > 0 && cum > f(p.topP)) drop.push(j);
      cum = f(cum + q[j]!);
    }
    for (const j of drop) l[j] = Number.NEGATIVE_INFINITY;
  }
  return softmax(l);
}

describe('fast filtering paths', () => {
  it('top-k selection and pruned top-p give exactly the plain float32 result (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 300 }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.double({ min: 0.05, max: 12, noNaN: true }),
        fc.integer({ min: 0, max: 40 }),
        fc.double({ min: 0.01, max: 1, noNaN: true }),
        fc.double({ min: 0.2, max: 3, noNaN: true }),
        fc.boolean(),
        (V, seed, scale, topK, topP, temperature, coarse) => {
          // `coarse` rounds logits to quarters, which makes many exact ties.
          const round = (x: Float32Array) => (coarse ? x.map((v) => Math.round(v * 4) / 4) : x);
          const cond = round(randomLogits(V, seed, scale));
          const uncond = round(randomLogits(V, seed ^ 0x5bd1e995, scale));
          const params: SamplingParams = { cfgScale: 2, cfgSchedule: 'constant', temperature, topK, topP };
          const got = probabilities(cond, 0, uncond, 0, 2, params, new SamplerScratch(V));
          expect(Array.from(got)).toEqual(Array.from(plainFloat32(cond, uncond, 2, params)));
        },
      ),
      { numRuns: 300, seed: 20260101 },
    );
  });
});

describe('top-p edge cases shared with generate.onnx (docs/model-contract.md)', () => {
  const base: SamplingParams = { cfgScale: 0, cfgSchedule: 'constant', temperature: 1, topK: 0, topP: 1 };

  it('treats +0 and -0 logits as a tie, so the lower id is visited first', () => {
    // cfg 0 gives l = uncond + (cond - uncond) * 0: -0 where cond - uncond < 0, +0 where > 0.
    const uncond = Float32Array.of(-0, -0, -100, -100);
    const cond = Float32Array.of(-1, 1, 0, 0);
    const scratch = new SamplerScratch(4);
    const q = probabilities(cond, 0, uncond, 0, 0, { ...base, topP: 0.3 }, scratch);
    // Ids 0 (-0) and 1 (+0) tie; id 0 comes first, carries ~0.5 > 0.3, so it alone survives.
    expect(Array.from(q)).toEqual([1, 0, 0, 0]);
  });

  it('does not filter when top_p rounds to 1 in float32', () => {
    const justBelow = 1 - 2 ** -30;
    expect(Math.fround(justBelow)).toBe(1);
    // Ten equal logits and one far below: the float32 running sum of ten f(1/10) is 1 + 2^-23 > 1,
    // so a filter with p = f(top_p) = 1 would drop the last token; top_p that rounds to 1 is "off".
    const cond = Float32Array.of(...new Array(10).fill(0), -30);
    const uncond = new Float32Array(11);
    const scratch = new SamplerScratch(11);
    const off = Array.from(probabilities(cond, 0, uncond, 0, 1, { ...base, topP: 1 }, scratch));
    expect(off[10]).toBeGreaterThan(0);
    const below = Array.from(probabilities(cond, 0, uncond, 0, 1, { ...base, topP: justBelow }, scratch));
    expect(below).toEqual(off);
  });
});
