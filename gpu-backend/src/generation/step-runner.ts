// Generation step by step on ar_step.onnx, as a Runner of the scheduling engine: a batch is a cohort of
// rows that advance one position per run with a host-held KV cache (class-token prefill at position 0,
// guidance by batch doubling: graphs/ar-step.ts).
//
// Batching. ar_step takes ONE position for the whole batch, so rows at different positions cannot
// share a run: joining a running cohort mid-generation would need per-row positions and an attention
// mask in the graph. Instead the engine keeps up to maxActiveBatches cohorts in flight and interleaves
// their steps, so a request that arrives while one decodes starts at the very next step as a new
// cohort. Each row draws u(seed, image, position) and rows never mix, so tokens do not depend on the
// cohort.
//
// Variations. A row with a prefix of K tokens runs the same steps: positions 0..K-1 go through the
// graph as usual (filling the KV cache; the graph takes one token per run), but their token is the
// prefix's instead of a draw. Position p always uses u(seed, image, p), so a prefix never shifts the
// randomness of later positions, K = 0 is plain generation, and rows with different K share a cohort.
import { uniform } from '@gigatok/shared';
import type { ArStepGraph, KvCache } from '../graphs/ar-step.ts';
import type { Runner } from '../scheduling/engine.ts';
import type { GenerationRow } from './request.ts';
import { cfgAt, drawToken, SamplerScratch } from './token-draw.ts';

/**
 * `kv`: the KV cache (present -> past each step). `recompute`: the no-cache baseline; each step re-runs
 * the graph over positions 0..p from an empty cache (the graph takes one token at a time, so this is
 * how "no cache" reads with it). For benchmarks and the KV == recompute test.
 */
export type StepMode = 'kv' | 'recompute';

interface Cohort {
  /** Tokens of each row so far, aligned with the batch's items. */
  tokens: Int32Array[];
  position: number;
  cache: KvCache;
}

export function stepRunner(
  graph: ArStepGraph,
  mode: StepMode = 'kv',
): Runner<GenerationRow, Int32Array, Cohort> {
  const { tokens: T, vocab: V } = graph.shapes;
  const scratch = new SamplerScratch(V);

  /** Logits of position `cohort.position` for `rows`; grows the cohort's cache in `kv` mode. */
  async function logitsAt(cohort: Cohort, rows: readonly GenerationRow[]): Promise<Float32Array> {
    const p = cohort.position;
    const stepRows = (upTo: number) =>
      rows.map((row, i) => ({
        classId: row.classId,
        previousToken: upTo === 0 ? 0 : cohort.tokens[i]![upTo - 1]!,
      }));
    if (mode === 'kv') {
      const out = await graph.step(stepRows(p), cohort.cache);
      cohort.cache = out.cache;
      return out.logits;
    }
    // No cache: positions 0..p from an empty past, keeping only the last logits.
    let cache = graph.emptyCache();
    let logits: Float32Array = new Float32Array(0);
    for (let q = 0; q <= p; q++) {
      const out = await graph.step(stepRows(q), cache);
      cache = out.cache;
      logits = out.logits;
    }
    return logits;
  }

  return {
    runsPerBatch: T,
    rowsPerItem: 2,
    check(rows) {
      for (const row of rows) graph.checkClass(row.classId, row.imageIndex);
    },
    start(rows) {
      return { tokens: rows.map(() => new Int32Array(T)), position: 0, cache: graph.emptyCache() };
    },
    drop(cohort, keep) {
      cohort.cache = graph.keepRows(cohort.cache, keep);
      cohort.tokens = cohort.tokens.filter((_, i) => keep[i]);
    },
    async run(cohort, rows) {
      const p = cohort.position;
      const logits = await logitsAt(cohort, rows);
      const n = rows.length;
      for (const [i, row] of rows.entries()) {
        const prefix = row.prefix ?? [];
        if (p < prefix.length) {
          cohort.tokens[i]![p] = prefix[p]!;
          continue;
        }
        const cfg = cfgAt(row.params.cfgScale, row.params.cfgSchedule, p, T);
        const u = uniform(row.seed, row.imageIndex, p);
        cohort.tokens[i]![p] = drawToken(logits, i * V, logits, (n + i) * V, cfg, row.params, u, scratch);
      }
      cohort.position = p + 1;
      return cohort.position === T ? cohort.tokens : undefined;
    },
  };
}
