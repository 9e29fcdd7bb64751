// The per-row sampling feeds that generate.onnx and generate_chunk.onnx share (docs/model-contract.md):
// class ids, the Philox uniforms u(seed, image, 0..T-1), the five sampling parameters ([B], one value
// per row) and the forced prefix tokens. Checked here, so a bad row fails before it reaches a graph.
import { ApiError, uniforms } from '@gigatok/shared';
import type { GenerationRow } from '../generation/request.ts';
import { type Feeds, float32, int64 } from '../runtime/tensors.ts';
import type { ModelShapes } from './shapes.ts';

export function invalid(field: string, detail: string): ApiError {
  return new ApiError('invalid_parameter', detail, { field });
}

/**
 * class_ids [B], uniforms [B, T], cfg_scale, cfg_schedule, temperature, top_k, top_p [B] and
 * prefix_tokens [B, width] (row i's prefix in its first columns, zeros after). Throws
 * `invalid_parameter` for a class id, top_k or prefix token the graph cannot take, or a prefix
 * longer than `width`.
 */
export function samplingFeeds(rows: readonly GenerationRow[], shapes: ModelShapes, width: number): Feeds {
  const B = rows.length;
  const T = shapes.tokens;
  if (B === 0) throw invalid('class_ids', "'class_ids' must hold at least one image");
  const classIds = new BigInt64Array(B);
  const u = new Float32Array(B * T);
  const cfgScale = new Float32Array(B);
  const cfgSchedule = new BigInt64Array(B);
  const temperature = new Float32Array(B);
  const topK = new BigInt64Array(B);
  const topP = new Float32Array(B);
  const prefix = new BigInt64Array(B * width);
  for (const [i, row] of rows.entries()) {
    const c = row.classId;
    if (c !== null && (!Number.isInteger(c) || c < 0 || c >= shapes.numClasses)) {
      throw invalid(
        `class_ids.${i}`,
        `'class_ids.${i}' must be in [0, ${shapes.numClasses - 1}] or null, got ${c}`,
      );
    }
    classIds[i] = BigInt(c ?? shapes.nullClass);
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
    if (forced.length > width) {
      throw invalid(`prefix.${i}`, `'prefix.${i}' must hold at most ${width} tokens, got ${forced.length}`);
    }
    for (const [s, t] of forced.entries()) {
      if (!Number.isInteger(t) || t < 0 || t >= shapes.vocab) {
        throw invalid(`prefix.${i}.${s}`, `'prefix.${i}.${s}' must be in [0, ${shapes.vocab - 1}], got ${t}`);
      }
      prefix[i * width + s] = BigInt(t);
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
    prefix_tokens: int64(prefix, [B, width]),
  };
}
