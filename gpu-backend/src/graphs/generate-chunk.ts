// generate_chunk.onnx (docs/model-contract.md, "generate_chunk.onnx"): up to S steps of the guided AR
// loop for rows at their own positions, the KV state going in and coming out. Same sampler and the
// same uniforms u(seed, image, position) as generate.onnx, so a row draws the same tokens whichever
// rows share its chunks and however its T steps are cut into chunks.
//
// State: keys [B, L, 2, H, D, T] (transposed and pre-scaled, the form the graph's attention reads in
// place; docs/model-contract.md) and values [B, L, 2, H, T, D] float32, one contiguous block per row
// (its layers, the guidance halves cond/uncond, its T slots), so rows join and leave a batch by
// appending and removing blocks; the layout inside a block is the graph's business. onnxruntime-node hands every output back as host memory, so each chunk copies
// the whole state out of the runtime once (2 x B x rowStateFloats x 4 bytes).
import type { GenerationRow } from '../generation/request.ts';
import type { Graph } from '../runtime/graph.ts';
import { float32, int64, outputFloat32, outputInt64 } from '../runtime/tensors.ts';
import { samplingFeeds } from './sampling-feeds.ts';
import type { ModelShapes } from './shapes.ts';

/** Where each row of a batch stands: its next position and the token drawn before it. */
export interface ChunkRow {
  row: GenerationRow;
  /** Next step to run, 0..T; T = finished. */
  position: number;
  /** The token at position - 1 (ignored at position 0). */
  previousToken: number;
}

/**
 * What a run of the graph costs, measured at warm-up: `stepMs` per step inside a run and `runMs` of
 * fixed cost per run (feeds, the state copied out, the worker round trip), at TIMING_IMAGES images.
 */
export interface ChunkTiming {
  stepMs: number;
  runMs: number;
  images: number;
}

/** Images of the warm-up timing: a small batch, so the state copy weighs as it does under load. */
export const TIMING_IMAGES = 4;

/** Steps of the longer warm-up run (fewer when the sequence is shorter). */
const TIMING_STEPS = 32;

/** The KV state of a batch, rows in batch order. */
export interface ChunkState {
  keys: Float32Array;
  values: Float32Array;
}

export class GenerateChunkGraph {
  /** Floats of one row's keys (and of its values): L x 2 x H x D x T. */
  readonly rowStateFloats: number;
  /** Set by warmUp(); undefined when the backend starts without warm-up. */
  timing: ChunkTiming | undefined;

  constructor(
    readonly graph: Graph,
    readonly shapes: ModelShapes,
  ) {
    const { layers, heads, tokens, headDim } = shapes;
    this.rowStateFloats = layers * 2 * heads * tokens * headDim;
    this.timing = undefined;
  }

  /** Throws `invalid_parameter` for rows the graph cannot take (class ids, top_k, prefixes). */
  check(rows: readonly GenerationRow[]): void {
    samplingFeeds(rows, this.shapes, this.shapes.tokens);
  }

  /** The state of `rows` new rows (zeros; slots past a row's position are never read). */
  emptyState(rows: number): ChunkState {
    return {
      keys: new Float32Array(rows * this.rowStateFloats),
      values: new Float32Array(rows * this.rowStateFloats),
    };
  }

  /** `state` with `rows` new rows after its own (a copy: the runtime cannot grow a batch in place). */
  appendRows(state: ChunkState, rows: number): ChunkState {
    const grow = (src: Float32Array) => {
      const dst = new Float32Array(src.length + rows * this.rowStateFloats);
      dst.set(src);
      return dst;
    };
    return { keys: grow(state.keys), values: grow(state.values) };
  }

  /** The state of the rows with `keep[i]` true, in order. */
  keepRows(state: ChunkState, keep: readonly boolean[]): ChunkState {
    const size = this.rowStateFloats;
    const kept = keep.filter(Boolean).length;
    const select = (src: Float32Array) => {
      const dst = new Float32Array(kept * size);
      let j = 0;
      for (const [i, k] of keep.entries()) {
        if (k) dst.set(src.subarray(i * size, (i + 1) * size), j++ * size);
      }
      return dst;
    };
    return { keys: select(state.keys), values: select(state.values) };
  }

  /**
   * Runs `steps` steps for `rows` from `state`. Returns each row's tokens drawn in this chunk (shorter
   * than `steps` for a row that reached T) and the next state. The state's buffers are handed to the
   * runtime (with a worker thread, transferred): do not use them afterwards.
   */
  async run(
    rows: readonly ChunkRow[],
    state: ChunkState,
    steps: number,
  ): Promise<{ tokens: Int32Array[]; state: ChunkState }> {
    const B = rows.length;
    const { layers, heads, tokens: T, headDim } = this.shapes;
    const feeds = samplingFeeds(
      rows.map((r) => r.row),
      this.shapes,
      T,
    );
    const prefixLen = new BigInt64Array(B);
    const positions = new BigInt64Array(B);
    const previous = new BigInt64Array(B);
    for (const [i, r] of rows.entries()) {
      prefixLen[i] = BigInt(r.row.prefix?.length ?? 0);
      positions[i] = BigInt(r.position);
      previous[i] = BigInt(r.previousToken);
    }
    const keyDims = [B, layers, 2, heads, headDim, T];
    const valueDims = [B, layers, 2, heads, T, headDim];
    const label = this.graph.label;
    const out = await this.graph.run({
      ...feeds,
      prefix_len: int64(prefixLen, [B]),
      positions: int64(positions, [B]),
      prev_tokens: int64(previous, [B]),
      keys_t: float32(state.keys, keyDims),
      values: float32(state.values, valueDims),
      steps: int64(BigInt64Array.of(BigInt(steps)), []),
    });
    const drawn = outputInt64(out, 'tokens', label).data;
    if (drawn.length !== B * steps) {
      throw new Error(`${label}: tokens have ${drawn.length} values, expected ${B} x ${steps}`);
    }
    const tokens = rows.map((_, i) => {
      const row = drawn.subarray(i * steps, (i + 1) * steps);
      let n = 0;
      while (n < steps && row[n]! >= 0n) n++;
      return Int32Array.from(row.subarray(0, n), Number);
    });
    const next = {
      keys: outputFloat32(out, 'next_keys_t', label).data,
      values: outputFloat32(out, 'next_values', label).data,
    };
    if (next.keys.length !== B * this.rowStateFloats || next.values.length !== B * this.rowStateFloats) {
      throw new Error(
        `${label}: the next state has ${next.keys.length} values, expected ${B * this.rowStateFloats}`,
      );
    }
    return { tokens, state: next };
  }

  /**
   * One run (first-run allocations), then the timing: the best of three runs of 1 and of 1 + k steps,
   * k up to 32, so the steps outweigh the run-to-run noise of the fixed cost (at GPT-B scale a run's
   * fixed cost is hundreds of ms and varies by tens). A difference that is not positive is noise, not
   * a free step: no timing is kept, and the chunk size falls back to its default.
   */
  async warmUp(): Promise<void> {
    const params = { cfgScale: 1, cfgSchedule: 'constant' as const, temperature: 1, topK: 0, topP: 1 };
    const rows = Array.from({ length: TIMING_IMAGES }, (_, i) => ({
      row: { seed: 0, imageIndex: i, classId: 0, params },
      position: 0,
      previousToken: 0,
    }));
    const time = async (steps: number) => {
      let best = Number.POSITIVE_INFINITY;
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        await this.run(rows, this.emptyState(rows.length), steps);
        best = Math.min(best, performance.now() - t0);
      }
      return best;
    };
    await this.run(rows, this.emptyState(rows.length), 2);
    const k = Math.min(TIMING_STEPS, this.shapes.tokens - 1);
    if (k < 1) return;
    const one = await time(1);
    const stepMs = ((await time(1 + k)) - one) / k;
    if (!(stepMs > 0)) return;
    this.timing = { stepMs, runMs: Math.max(one - stepMs, 0), images: TIMING_IMAGES };
  }
}
