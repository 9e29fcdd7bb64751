// Sampling through generate.onnx (docs/model-contract.md, "generate.onnx"): the whole guided AR loop in
// ONE onnxruntime run, so the KV cache never leaves the runtime. Same Philox uniforms u(seed, image, step)
// and the same float32 sampler as the per-step ArSampler, so a seed gives the same tokens on either path.
import { ApiError, uniforms } from '@gigatok/shared';
import type { Feeds, Graph } from './ort.ts';
import { float32, int64, outputInt64 } from './ort.ts';
import type { SamplingParams } from './sampling.ts';

export interface GenerateGraphSpec {
  modelId: string;
  /** A session of the model's `graphs.generate` file. */
  graph: Graph;
  tokens: number;
  vocab: number;
  numClasses: number;
  nullClass: number;
}

/** One image of a graph run. Rows of one run may come from different requests. */
export interface GraphRow {
  seed: number;
  /** Index of the image in its request: its uniforms are u(seed, imageIndex, 0..T-1). */
  imageIndex: number;
  /** null = unconditional (the null class on both halves of the guidance batch). */
  classId: number | null;
  params: SamplingParams;
  /** Tokens forced at steps 0..K-1 (variations); every row of a run must have the same K. */
  prefix?: readonly number[];
}

export interface GraphRequest {
  seed: number;
  /** One per image; image i uses uniforms (seed, i). */
  classIds: readonly (number | null)[];
  params: SamplingParams;
  /** Optional forced first tokens, one array per image, all of the same length <= T. */
  prefixes?: readonly (readonly number[])[];
}

function invalid(field: string, detail: string): ApiError {
  return new ApiError('invalid_parameter', detail, { field });
}

/**
 * The feeds of generate.onnx for `rows`. Sampling parameters go in as one value per row ([B]), which the
 * graph broadcasts, so one run may mix requests with different settings. Throws `invalid_parameter` for
 * what would make the graph fail (class ids, prefix tokens, prefix lengths).
 */
export function generateFeeds(spec: GenerateGraphSpec, rows: readonly GraphRow[]): Feeds {
  const B = rows.length;
  const T = spec.tokens;
  if (B === 0) throw invalid('class_ids', "'class_ids' must hold at least one image");
  const K = rows[0]!.prefix?.length ?? 0;
  if (K > T) throw invalid('prefix', `'prefix' must hold at most ${T} tokens, got ${K}`);
  const classIds = new BigInt64Array(B);
  const u = new Float32Array(B * T);
  const cfgScale = new Float32Array(B);
  const cfgSchedule = new BigInt64Array(B);
  const temperature = new Float32Array(B);
  const topK = new BigInt64Array(B);
  const topP = new Float32Array(B);
  const prefix = new BigInt64Array(B * K);
  for (const [i, row] of rows.entries()) {
    const c = row.classId;
    if (c !== null && (!Number.isInteger(c) || c < 0 || c >= spec.numClasses)) {
      throw invalid(
        `class_ids.${i}`,
        `'class_ids.${i}' must be in [0, ${spec.numClasses - 1}] or null, got ${c}`,
      );
    }
    classIds[i] = BigInt(c ?? spec.nullClass);
    u.set(uniforms(row.seed, row.imageIndex, 1, T), i * T);
    const p = row.params;
    if (!Number.isInteger(p.topK) || p.topK < 0) {
      throw invalid('top_k', `'top_k' must be an integer >= 0, got ${p.topK}`);
    }
    cfgScale[i] = p.cfgScale;
    cfgSchedule[i] = p.cfgSchedule === 'step' ? 1n : 0n;
    temperature[i] = p.temperature;
    topK[i] = BigInt(p.topK);
    topP[i] = p.topP;
    const forced = row.prefix ?? [];
    if (forced.length !== K) {
      throw invalid(
        `prefix.${i}`,
        `every row of a run needs the same prefix length (${K}), got ${forced.length}`,
      );
    }
    for (const [s, t] of forced.entries()) {
      if (!Number.isInteger(t) || t < 0 || t >= spec.vocab) {
        throw invalid(`prefix.${i}.${s}`, `'prefix.${i}.${s}' must be in [0, ${spec.vocab - 1}], got ${t}`);
      }
      prefix[i * K + s] = BigInt(t);
    }
  }
  return {
    class_ids: int64(classIds, [B]),
    uniforms: float32(u, [B, T]),
    cfg_scale: float32(cfgScale, [B]),
    cfg_schedule: int64(cfgSchedule, [B]),
    temperature: float32(temperature, [B]),
    top_k: int64(topK, [B]),
    top_p: float32(topP, [B]),
    prefix_tokens: int64(prefix, [B, K]),
  };
}

/** Samples one token sequence per row in a single run of generate.onnx. */
export async function runGenerateGraph(
  spec: GenerateGraphSpec,
  rows: readonly GraphRow[],
): Promise<Int32Array[]> {
  const label = `${spec.modelId}/generate`;
  const out = outputInt64(await spec.graph.run(generateFeeds(spec, rows)), 'tokens', label);
  const T = spec.tokens;
  if (out.data.length !== rows.length * T) {
    throw new Error(`${label}: tokens have ${out.data.length} values, expected ${rows.length} x ${T}`);
  }
  return rows.map((_, i) => Int32Array.from(out.data.subarray(i * T, (i + 1) * T), Number));
}

/** A whole request in one run: image i uses (seed, i), as with ArSampler.generate. */
export function generateWithGraph(spec: GenerateGraphSpec, request: GraphRequest): Promise<Int32Array[]> {
  const rows = request.classIds.map((classId, i) => ({
    seed: request.seed,
    imageIndex: i,
    classId,
    params: request.params,
    ...(request.prefixes === undefined ? {} : { prefix: request.prefixes[i] ?? [] }),
  }));
  return runGenerateGraph(spec, rows);
}
