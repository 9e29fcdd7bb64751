// generate.onnx (docs/model-contract.md, "generate.onnx"): the whole guided AR loop in ONE onnxruntime
// run, so the KV cache never leaves the runtime. Same Philox uniforms u(seed, image, step) and the same
// float32 sampler as the per-step loop, so a seed gives the same tokens on either path. Sampling
// parameters go in per row ([B], broadcast by the graph), so one run may mix requests.
import type { GenerationRow } from '../generation/request.ts';
import type { Graph } from '../runtime/graph.ts';
import { type Feeds, outputInt64 } from '../runtime/tensors.ts';
import { invalid, samplingFeeds } from './sampling-feeds.ts';
import type { ModelShapes } from './shapes.ts';

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
    const K = rows[0]?.prefix?.length ?? 0;
    const T = this.shapes.tokens;
    if (K > T) throw invalid('prefix', `'prefix' must hold at most ${T} tokens, got ${K}`);
    for (const [i, row] of rows.entries()) {
      const k = row.prefix?.length ?? 0;
      if (k !== K)
        throw invalid(`prefix.${i}`, `every row of a run needs the same prefix length (${K}), got ${k}`);
    }
    return samplingFeeds(rows, this.shapes, K);
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
