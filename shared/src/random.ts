// Seeded uniforms for token sampling: Philox4x32-10 (Salmon et al., "Parallel Random Numbers: As Easy as
// 1, 2, 3", SC11), counter-based, so u(seed, image, step) is a pure function any backend or verifier can recompute.

// Multipliers and Weyl key increments of Philox4x32 (Random123 philox.h).
const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;
const ROUNDS = 10;
const MAX_U32 = 0xffffffff;
/** 2^-24: 24-bit integers scaled by it are exact in float32, and the largest is 1 - 2^-24 < 1. */
const INV_2_24 = 1 / 16_777_216;

/**
 * High 32 bits of the 64-bit product of two u32s, exact. Doubles hold only 53 bits, so split b into
 * 16-bit halves: a*b = a*bh*2^16 + a*bl, each partial product < 2^48, and recombine with exact carries.
 */
function mulhi32(a: number, b: number): number {
  const bh = b >>> 16;
  const bl = b & 0xffff;
  const high = a * bh; // < 2^48, exact
  const low = a * bl; // < 2^48, exact
  // a*b = high*2^16 + low; floor((high*2^16 + low) / 2^32), computed without ever exceeding 2^53:
  const highHi = Math.floor(high / 65_536); // high = highHi*2^16 + highLo
  const highLo = high - highHi * 65_536;
  // high*2^16 + low = highHi*2^32 + (highLo*2^16 + low); the bracket is < 2^32 + 2^48, exact.
  return (highHi + Math.floor((highLo * 65_536 + low) / 4_294_967_296)) >>> 0;
}

/**
 * Philox4x32-10: four output words for a 128-bit counter and a 64-bit key, as in Random123.
 * Each round: (c0, c1, c2, c3) -> (hi(M1*c2) ^ c1 ^ k0, lo(M1*c2), hi(M0*c0) ^ c3 ^ k1, lo(M0*c0)),
 * then the key advances by the Weyl constants (W0, W1).
 */
export function philox4x32(
  counter: readonly [number, number, number, number],
  key: readonly [number, number],
): [number, number, number, number] {
  let [c0, c1, c2, c3] = counter.map((w) => w >>> 0) as [number, number, number, number];
  let k0 = key[0] >>> 0;
  let k1 = key[1] >>> 0;
  for (let round = 0; round < ROUNDS; round++) {
    const hi0 = mulhi32(M0, c0);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi32(M1, c2);
    const lo1 = Math.imul(M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  return [c0, c1, c2, c3];
}

function checkU32(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > MAX_U32) {
    throw new RangeError(`'${name}' must be an integer in [0, ${MAX_U32}], got ${value}`);
  }
}

/**
 * The uniform in [0, 1) used to draw token `step` of image `imageIndex` of a request with `seed`:
 * Philox4x32-10 with key (seed, 0) and counter (imageIndex, step, 0, 0); the first output word's top
 * 24 bits times 2^-24, so the value is exactly representable in float32 and never rounds up to 1.
 */
export function uniform(seed: number, imageIndex: number, step: number): number {
  checkU32('seed', seed);
  checkU32('imageIndex', imageIndex);
  checkU32('step', step);
  const [word] = philox4x32([imageIndex, step, 0, 0], [seed, 0]);
  return (word >>> 8) * INV_2_24;
}

/**
 * Uniforms for images firstIndex .. firstIndex+count-1, steps 0 .. steps-1, laid out [count, steps]:
 * out[i * steps + s] = uniform(seed, firstIndex + i, s).
 */
export function uniforms(seed: number, firstIndex: number, count: number, steps: number): Float32Array {
  checkU32('seed', seed);
  checkU32('firstIndex', firstIndex);
  checkU32('count', count);
  checkU32('steps', steps);
  if (count > 0 && firstIndex + count - 1 > MAX_U32) {
    throw new RangeError(
      `'firstIndex' + 'count' - 1 must be at most ${MAX_U32}, got ${firstIndex + count - 1}`,
    );
  }
  const out = new Float32Array(count * steps);
  for (let i = 0; i < count; i++) {
    for (let s = 0; s < steps; s++) {
      const [word] = philox4x32([firstIndex + i, s, 0, 0], [seed, 0]);
      out[i * steps + s] = (word >>> 8) * INV_2_24;
    }
  }
  return out;
}
