// The per-token sampling math of the contract, in float32: classifier-free guidance mix, temperature,
// top-k, top-p, softmax and the inverse-CDF draw. Pure functions; generate.onnx implements the same
// steps inside the graph, so both generate paths draw the same tokens.

import type { CfgSchedule, SamplingParams } from './request.ts';

/**
 * Guidance scale for token `step` (0-based) of `tokens`. `step` is GigaTok's schedule (its
 * generate code): the first token uses the full scale, then 1.0 while (i + 1) / T < 0.18, the
 * full scale after.
 */
export function cfgAt(scale: number, schedule: CfgSchedule, step: number, tokens: number): number {
  if (schedule === 'constant' || step === 0) return scale;
  return (step + 1) / tokens < 0.18 ? 1.0 : scale;
}

const f = Math.fround;

/** Scratch buffers for one vocabulary size, reused across draws to keep the loop allocation-free. */
export class SamplerScratch {
  readonly logits: Float32Array;
  readonly work: Float32Array;
  readonly probs: Float32Array;
  readonly keys: Float64Array;
  readonly keep: Uint8Array;
  constructor(readonly vocab: number) {
    this.logits = new Float32Array(vocab);
    this.work = new Float32Array(vocab);
    this.probs = new Float32Array(vocab);
    this.keys = new Float64Array(vocab);
    this.keep = new Uint8Array(vocab);
  }
}

/**
 * Draws one token from a conditional and an unconditional logits row (float32, length V), every
 * operation rounded to float32 and every sum taken in a stated order, so any implementation that
 * follows the same steps (the later single-graph sampler in ONNX) agrees bit for bit:
 *   1. mix     l = uncond + (cond - uncond) * cfg
 *   2. scale   l = l / max(temperature, 1e-5)
 *   3. top-k   (0 < k < V) logits below the k-th largest become -inf (ties with it are kept)
 *   4. top-p   (f(p) < 1) q = softmax(l) as in step 5; visit tokens by descending logit (ties: lower
 *              id first) accumulating q in float32; a token is dropped (-inf) when the tokens
 *              before it already sum to more than p; the first always stays (LlamaGen's
 *              top_k_top_p_filtering, with the softmax taken in id order)
 *   5. softmax m = max, e = exp(l - m), s = sum of e in id order, p = e / s
 *   6. draw    cdf = running float32 sum of p in id order; token = min(count(cdf <= u), V - 1)
 */
export function drawToken(
  cond: Float32Array,
  condOffset: number,
  uncond: Float32Array,
  uncondOffset: number,
  cfg: number,
  params: SamplingParams,
  u: number,
  scratch: SamplerScratch,
): number {
  return inverseCdf(probabilities(cond, condOffset, uncond, uncondOffset, cfg, params, scratch), u);
}

/** Steps 1-5 of drawToken: the float32 probabilities (in `scratch.probs`, overwritten by the next call). */
export function probabilities(
  cond: Float32Array,
  condOffset: number,
  uncond: Float32Array,
  uncondOffset: number,
  cfg: number,
  params: SamplingParams,
  scratch: SamplerScratch,
): Float32Array {
  const V = scratch.vocab;
  const l = scratch.logits;
  const cfgF = f(cfg);
  const invT = f(Math.max(params.temperature, 1e-5));
  for (let j = 0; j < V; j++) {
    const un = uncond[uncondOffset + j]!;
    const mixed = f(un + f(f(cond[condOffset + j]! - un) * cfgF));
    l[j] = f(mixed / invT);
  }
  if (params.topK > 0 && params.topK < V) {
    const kth = kthLargest(l, params.topK, scratch.work);
    for (let j = 0; j < V; j++) if (l[j]! < kth) l[j] = Number.NEGATIVE_INFINITY;
  }
  // The filter compares with float32 p, so a top_p that rounds to 1 is "off", as in generate.onnx.
  if (f(params.topP) < 1) topPFilter(l, params.topP, scratch);
  return softmax(l, scratch.probs);
}

/** Float32 softmax of `l` into `out`: max, exp(l - max), sum in id order, divide. */
function softmax(l: Float32Array, out: Float32Array): Float32Array {
  const V = l.length;
  let max = Number.NEGATIVE_INFINITY;
  for (let j = 0; j < V; j++) if (l[j]! > max) max = l[j]!;
  let sum = 0;
  for (let j = 0; j < V; j++) {
    const x = l[j]!;
    const e = x === Number.NEGATIVE_INFINITY ? 0 : f(Math.exp(f(x - max)));
    out[j] = e;
    sum = f(sum + e);
  }
  for (let j = 0; j < V; j++) out[j] = f(out[j]! / sum);
  return out;
}

/**
 * Step 6: token = min(count(cdf <= u), V - 1) with the cdf summed in float32. The cdf never decreases,
 * so the count is the first index whose cdf exceeds u.
 */
export function inverseCdf(probs: Float32Array, u: number): number {
  const V = probs.length;
  let cdf = 0;
  for (let j = 0; j < V; j++) {
    cdf = f(cdf + probs[j]!);
    if (cdf > u) return j;
  }
  return V - 1;
}

/** The k-th largest value of `values` (1-based k), by quickselect on a copy in `work`: O(V) on average. */
function kthLargest(values: Float32Array, k: number, work: Float32Array): number {
  work.set(values);
  // The k-th largest is the (V - k)-th smallest (0-based).
  const target = values.length - k;
  let lo = 0;
  let hi = values.length - 1;
  while (lo < hi) {
    // Median of three as pivot, Hoare partition.
    const mid = (lo + hi) >>> 1;
    const a = work[lo]!;
    const b = work[mid]!;
    const c = work[hi]!;
    const pivot = Math.max(Math.min(a, b), Math.min(Math.max(a, b), c));
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (work[i]! < pivot) i++;
      while (work[j]! > pivot) j--;
      if (i <= j) {
        const t = work[i]!;
        work[i] = work[j]!;
        work[j] = t;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return work[target]!;
  }
  return work[target]!;
}

/** Largest vocabulary for which (logit rank, id) packs exactly into one float64 sort key. */
const PACKED_ID_BITS = 21;

function topPFilter(l: Float32Array, topP: number, scratch: SamplerScratch): void {
  const V = scratch.vocab;
  const q = softmax(l, scratch.probs);
  const p = f(topP);
  // Only a prefix of the descending order can survive. The tokens with q >= t form such a prefix
  // (q never decreases with the logit), so sort just those: the smallest t whose tokens carry clearly
  // more than p. If their running sum still never passes p, fall back to sorting everything; either
  // way the visited sequence and its float32 sums are those of the full order, so the result is too.
  let qmax = 0;
  for (let j = 0; j < V; j++) if (q[j]! > qmax) qmax = q[j]!;
  for (let shift = 4; shift <= 64; shift += 6) {
    const t = qmax * 2 ** -shift;
    let mass = 0;
    let count = 0;
    for (let j = 0; j < V; j++) {
      if (q[j]! >= t) {
        mass += q[j]!;
        count++;
      }
    }
    if (mass < p + 1e-3) continue;
    if (cutAfterPrefix(l, q, p, (j) => q[j]! >= t, count, scratch)) return;
    break;
  }
  cutAfterPrefix(l, q, p, () => true, V, scratch);
}

/**
 * Visits the tokens selected by `take` (a prefix of the descending order, `count` of them) in
 * descending order; once the tokens before one sum to more than p, drops every token not yet
 * visited and returns true. Returns false (nothing changed) if the sum never passes p.
 */
function cutAfterPrefix(
  l: Float32Array,
  q: Float32Array,
  p: number,
  take: (id: number) => boolean,
  count: number,
  scratch: SamplerScratch,
): boolean {
  const order = descendingOrder(l, take, count, scratch);
  let cumulative = 0;
  for (let r = 0; r < count; r++) {
    if (r > 0 && cumulative > p) {
      const keep = scratch.keep;
      keep.fill(0);
      for (let s = 0; s < r; s++) keep[order(s)] = 1;
      for (let j = 0; j < l.length; j++) if (keep[j] === 0) l[j] = Number.NEGATIVE_INFINITY;
      return true;
    }
    cumulative = f(cumulative + q[order(r)]!);
  }
  return false;
}

/**
 * Token ids by descending logit, ties by ascending id. For V <= 2^21 each token becomes one float64
 * key, (order-preserving bits of -logit) * 2^21 + id, exact below 2^53, and a native numeric sort
 * orders them: an order of magnitude faster than a comparator sort at V = 16384.
 */
function descendingOrder(
  l: Float32Array,
  take: (id: number) => boolean,
  count: number,
  scratch: SamplerScratch,
): (rank: number) => number {
  const V = scratch.vocab;
  if (V <= 2 ** PACKED_ID_BITS) {
    const keys = scratch.keys.subarray(0, count);
    const bits = new Uint32Array(1);
    const asFloat = new Float32Array(bits.buffer);
    let n = 0;
    for (let j = 0; j < V; j++) {
      if (!take(j)) continue;
      // 0 - x, not -x: both zeros become +0 and tie (lower id first), as ONNX TopK orders them.
      asFloat[0] = 0 - l[j]!;
      const b = bits[0]!;
      // IEEE-754 bits -> unsigned integers in the same order as the floats (-inf first, +inf last).
      const ordered = b & 0x80000000 ? ~b >>> 0 : (b | 0x80000000) >>> 0;
      keys[n++] = ordered * 2 ** PACKED_ID_BITS + j;
    }
    keys.sort();
    return (rank) => keys[rank]! % 2 ** PACKED_ID_BITS;
  }
  const ids: number[] = [];
  for (let j = 0; j < V; j++) if (take(j)) ids.push(j);
  ids.sort((a, b) => l[b]! - l[a]! || a - b);
  return (rank) => ids[rank]!;
}
