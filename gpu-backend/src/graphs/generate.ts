// generate.onnx (docs/model-contract.md, "generate.onnx"): the whole guided AR loop in ONE onnxruntime
// run, so the KV cache never leaves the runtime. Same Philox uniforms u(seed, image, step) and the same
// float32 sampler as the per-step loop, so a seed gives the same tokens on either path. Sampling
// parameters go in per row ([B], broadcast by the graph), so one run may mix requests.
import { ApiError, uniforms } from '@gigatok/shared';
import type { GenerationRow } from '../generation/request.ts';
import type { Graph } from '../runtime/graph.ts';
import { type Feeds, float32, int64, outputInt64 } from '../runtime/tensors.ts';
import type { ModelShapes } from './shapes.ts';

function invalid(field: string, detail: string): ApiError {
  return new ApiError('invalid_parameter', detail, { field });
}

export class GenerateGraph {
  constructor(
    readonly graph: Graph,
    readonly shapes: ModelShapes,
  ) {}

  /**
   * The feeds for `rows`. Throws `invalid_parameter` for what would make the graph fail: class ids,
   * top_k, prefix tokens, and prefix lengths (one `prefix_tokens` [B, K] per run, so every row needs
   * the same K).
   */
  feeds(rows: readonly GenerationRow[]): Feeds {
    const B = rows.length;
    const T = this.shapes.tokens;
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
      if (c !== null && (!Number.isInteger(c) || c < 0 || c >= this.shapes.numClasses)) {
        throw invalid(
          `class_ids.${i}`,
          `'class_ids.${i}' must be in [0, ${this.shapes.numClasses - 1}] or null, got ${c}`,
        );
      }
      classIds[i] = BigInt(c ?? this.shapes.nullClass);
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
        if (!Number.isInteger(t) || t < 0 || t >= this.shapes.vocab) {
          throw invalid(
            `prefix.${i}.${s}`,
            `'prefix.${i}.${s}' must be in [0, ${this.shapes.vocab - 1}], got ${t}`,
          );
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

  /** Samples one token sequence per row in a single run. */
  async run(rows: readonly GenerationRow[]): Promise<Int32Array[]> {
    const label = this.graph.label;
    const out = outputInt64(await this.graph.run(this.feeds(rows)), 'tokens', label);
    const T = this.shapes.tokens;
    if (out.data.length !== rows.length * T) {
      throw new Error(`${label}: tokens have ${out.data.length} values, expected ${rows.length} x ${T}`);
    }
    return rows.map((_, i) => Int32Array.from(out.data.subarray(i * T, (i + 1) * T), Number));
  }

  async warmUp(): Promise<void> {
    const params = { cfgScale: 1, cfgSchedule: 'constant' as const, temperature: 1, topK: 0, topP: 1 };
    await this.run([{ seed: 0, imageIndex: 0, classId: 0, params }]);
  }
}
