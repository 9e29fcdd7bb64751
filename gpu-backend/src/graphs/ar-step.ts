// ar_step.onnx (docs/model-contract.md): one AR position for a batch of rows with a host-held KV cache.
// Inputs token_ids [N, 1], class_ids [N], position [1] (one position for the whole batch), past_keys and
// past_values [L, N, H, P, D]; outputs logits [N, V] and present_keys/values [L, N, H, P + 1, D].
// Classifier-free guidance doubles the batch: rows [cond 0..n-1; uncond 0..n-1], the unconditional
// half with the null class, so one run gives both logits of every sequence.
import { ApiError } from '@gigatok/shared';
import type { Graph } from '../runtime/graph.ts';
import { float32, int64, outputFloat32 } from '../runtime/tensors.ts';
import type { ModelShapes } from './shapes.ts';

/** The KV cache of a guided batch: [L, 2n, H, P, D] keys and values for positions 0..P-1. */
export interface KvCache {
  keys: Float32Array;
  values: Float32Array;
  /** P: positions already in the cache. */
  length: number;
}

/** One sequence of a step: its class (null = unconditional) and the token drawn at the previous position. */
export interface StepRow {
  classId: number | null;
  /** Ignored at position 0, where the graph embeds the class instead. */
  previousToken: number;
}

export class ArStepGraph {
  constructor(
    readonly graph: Graph,
    readonly shapes: ModelShapes,
  ) {}

  /** `invalid_parameter` for a class id the model does not have; `index` is the image's place in its request. */
  checkClass(classId: number | null, index: number): void {
    if (
      classId !== null &&
      (!Number.isInteger(classId) || classId < 0 || classId >= this.shapes.numClasses)
    ) {
      throw new ApiError(
        'invalid_parameter',
        `'class_ids.${index}' must be in [0, ${this.shapes.numClasses - 1}] or null, got ${classId}`,
        { field: `class_ids.${index}` },
      );
    }
  }

  emptyCache(): KvCache {
    return { keys: new Float32Array(0), values: new Float32Array(0), length: 0 };
  }

  /**
   * Runs position `cache.length` for `rows` (guided: 2n graph rows). Returns the logits, [cond rows;
   * uncond rows] x V, and the cache grown by one position.
   */
  async step(rows: readonly StepRow[], cache: KvCache): Promise<{ logits: Float32Array; cache: KvCache }> {
    const n = rows.length;
    const N = 2 * n;
    const position = cache.length;
    const tokenIds = new BigInt64Array(N);
    const classIds = new BigInt64Array(N);
    for (const [i, row] of rows.entries()) {
      const previous = position === 0 ? 0n : BigInt(row.previousToken);
      tokenIds[i] = previous;
      tokenIds[n + i] = previous;
      classIds[i] = BigInt(row.classId ?? this.shapes.nullClass);
      classIds[n + i] = BigInt(this.shapes.nullClass);
    }
    const pastDims = [this.shapes.layers, N, this.shapes.heads, position, this.shapes.headDim];
    const out = await this.graph.run({
      token_ids: int64(tokenIds, [N, 1]),
      class_ids: int64(classIds, [N]),
      position: int64(BigInt64Array.of(BigInt(position)), [1]),
      past_keys: float32(cache.keys, pastDims),
      past_values: float32(cache.values, pastDims),
    });
    const label = this.graph.label;
    const logits = outputFloat32(out, 'logits', label).data;
    if (logits.length !== N * this.shapes.vocab) {
      throw new Error(`${label} logits have ${logits.length} values, expected ${N} x ${this.shapes.vocab}`);
    }
    return {
      logits,
      cache: {
        keys: outputFloat32(out, 'present_keys', label).data,
        values: outputFloat32(out, 'present_values', label).data,
        length: position + 1,
      },
    };
  }

  /** The cache of the sequences with `keep[i]` true (both guidance halves of each), in order. */
  keepRows(cache: KvCache, keep: readonly boolean[]): KvCache {
    const n = keep.length;
    const rowSize = this.shapes.heads * cache.length * this.shapes.headDim;
    const kept: number[] = [];
    for (let i = 0; i < n; i++) if (keep[i]) kept.push(i);
    for (let i = 0; i < n; i++) if (keep[i]) kept.push(n + i);
    if (rowSize === 0) return { ...cache };
    const select = (src: Float32Array): Float32Array => {
      const dst = new Float32Array(this.shapes.layers * kept.length * rowSize);
      for (let l = 0; l < this.shapes.layers; l++) {
        for (const [j, r] of kept.entries()) {
          const from = (l * 2 * n + r) * rowSize;
          dst.set(src.subarray(from, from + rowSize), (l * kept.length + j) * rowSize);
        }
      }
      return dst;
    };
    return { keys: select(cache.keys), values: select(cache.values), length: cache.length };
  }

  async warmUp(): Promise<void> {
    await this.step([{ classId: 0, previousToken: 0 }], this.emptyCache());
  }
}
