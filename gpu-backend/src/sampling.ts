// The per-token sampling math of the contract, in float32: classifier-free guidance mix, temperature,
// top-k, top-p, softmax and the inverse-CDF draw. Pure functions, shared by every sampler path.

export type CfgSchedule = 'constant' | 'step';

export interface SamplingParams {
  cfgScale: number;
  cfgSchedule: CfgSchedule;
  temperature: number;
  /** 0 = off. */
  topK: number;
  /** 1.0 = off. */
  topP: number;
}

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
  readonly sorted: Float32Array;
  readonly order: Uint32Array;
  constructor(readonly vocab: number) {
    this.logits = new Float32Array(vocab);
    this.sorted = new Float32Array(vocab);
    this.order = new Uint32Array(vocab);
  }
}

/**
 * Draws one token from a conditional and an unconditional logits row (float32, length V), every
 * operation rounded to float32 so any implementation that follows the same order (the later
 * single-graph sampler in ONNX) agrees bit for bit:
 *   1. mix    l = uncond + (cond - uncond) * cfg
 *   2. scale  l = l / max(temperature, 1e-5)
 *   3. top-k  (k > 0) logits below the k-th largest become -inf (ties with it are kept)
 *   4. top-p  (p < 1) sort descending (ties by lower id first), softmax over that order, and drop
 *             every token whose preceding cumulative probability exceeds p (the first always stays;
 *             LlamaGen's top_k_top_p_filtering)
 *   5. softmax: m = max, e = exp(l - m), s = sum of e in id order, p = e / s
 *   6. draw   cdf = running float32 sum of p in id order; token = min(count(cdf <= u), V - 1)
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

/** Steps 1-5 of drawToken: the float32 probabilities (in `scratch.logits`, overwritten by the next call). */
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
    const s = scratch.sorted;
    s.set(l);
    s.sort();
    const kth = s[V - params.topK]!;
    for (let j = 0; j < V; j++) if (l[j]! < kth) l[j] = Number.NEGATIVE_INFINITY;
  }
  if (params.topP < 1) topPFilter(l, params.topP, scratch);
  let max = Number.NEGATIVE_INFINITY;
  for (let j = 0; j < V; j++) if (l[j]! > max) max = l[j]!;
  let sum = 0;
  for (let j = 0; j < V; j++) {
    const e = f(Math.exp(f(l[j]! - max)));
    l[j] = e;
    sum = f(sum + e);
  }
  for (let j = 0; j < V; j++) l[j] = f(l[j]! / sum);
  return l;
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

function topPFilter(l: Float32Array, topP: number, scratch: SamplerScratch): void {
  const V = scratch.vocab;
  const order = scratch.order;
  for (let j = 0; j < V; j++) order[j] = j;
  // Descending by logit, ascending id on ties: a total order, so the result never depends on the sort.
  order.sort((a, b) => l[b]! - l[a]! || a - b);
  const max = l[order[0]!]!;
  let sum = 0;
  const e = scratch.sorted;
  for (let r = 0; r < V; r++) {
    const v = f(Math.exp(f(l[order[r]!]! - max)));
    e[r] = v;
    sum = f(sum + v);
  }
  const p = f(topP);
  let cumulative = 0;
  for (let r = 0; r < V; r++) {
    const id = order[r]!;
    if (r > 0 && cumulative > p) l[id] = Number.NEGATIVE_INFINITY;
    cumulative = f(cumulative + f(e[r]! / sum));
  }
}
