// Generation in chunks on generate_chunk.onnx, as a Runner of the scheduling engine: one batch stays
// in flight, each run advances every row by up to S steps inside onnxruntime, and between runs
// finished rows leave with their tokens, canceled rows are dropped and queued rows join at
// position 0 (the engine's `join`), up to the batch limit. A request that arrives while a batch
// runs therefore waits for the end of the current chunk, not of the whole batch; when the batch is
// full and requests wait for a row, a run ends as soon as its first row finishes.
//
// Each row draws u(seed, image, position) with generate.onnx's sampler, so its tokens do not depend
// on the rows it shares chunks with, on S, or on when it joined. What crosses onnxruntime's boundary
// per chunk: the KV state out (graphs/generate-chunk.ts: 2 x B x L x 2 x H x T x D x 4 bytes, one
// copy into host memory) and back in (the same buffers, wrapped without a copy); a join or a leave
// re-lays the state once in JS.
import type { ChunkRow, ChunkState, ChunkTiming, GenerateChunkGraph } from '../graphs/generate-chunk.ts';
import type { Runner } from '../scheduling/engine.ts';
import type { GenerationRow } from './request.ts';

interface ChunkBatch {
  rows: ChunkRow[];
  /** Tokens of each row so far, aligned with `rows`. */
  tokens: Int32Array[];
  state: ChunkState;
}

/** The most a run's fixed cost may add to its steps' time when S is chosen from the timing. */
export const RUN_OVERHEAD_SHARE = 0.1;

/**
 * S when none is configured (GIGATOK_CHUNK_STEPS=0): the fewest steps whose time makes the run's
 * fixed cost (state copy, feeds, worker round trip, measured at warm-up) at most RUN_OVERHEAD_SHARE
 * of a chunk, S = ceil(runMs x (1 - f) / (f x stepMs)), clamped to [1, T]. A newcomer waits for at
 * most one chunk, so the smallest such S is also the one that lets requests join soonest. Where a
 * whole generation is short next to the fixed cost (gigatok-nano) S = T, a chunk is a whole
 * generation, and `auto` serves generate.onnx instead (settleAutoPath). Without a timing (no
 * warm-up) a quarter of T. A `configured` S (GIGATOK_CHUNK_STEPS > 0) wins, at most T: a larger one
 * would only run finished rows.
 */
export function chunkStepsFor(tokens: number, timing: ChunkTiming | undefined, configured = 0): number {
  if (configured > 0) return Math.min(configured, tokens);
  if (timing === undefined) return Math.max(1, Math.ceil(tokens / 4));
  const f = RUN_OVERHEAD_SHARE;
  const steps = timing.stepMs > 0 ? Math.ceil((timing.runMs * (1 - f)) / (f * timing.stepMs)) : tokens;
  return Math.min(tokens, Math.max(1, steps));
}

/** `steps`: S, the most steps one run takes (fewer when every row is closer to the end). */
export function chunkRunner(
  graph: GenerateChunkGraph,
  steps: number,
): Runner<GenerationRow, Int32Array, ChunkBatch> {
  const T = graph.shapes.tokens;
  if (!Number.isInteger(steps) || steps < 1 || steps > T) {
    throw new RangeError(`'steps' must be an integer in [1, ${T}], got ${steps}`);
  }
  const fresh = (row: GenerationRow): ChunkRow => ({ row, position: 0, previousToken: 0 });
  return {
    runsPerBatch: Math.ceil(T / steps),
    rowsPerItem: 2,
    check: (rows) => graph.check(rows),
    start: (rows) => ({
      rows: rows.map(fresh),
      tokens: rows.map(() => new Int32Array(T)),
      state: graph.emptyState(rows.length),
    }),
    join(batch, rows) {
      batch.state = graph.appendRows(batch.state, rows.length);
      for (const row of rows) {
        batch.rows.push(fresh(row));
        batch.tokens.push(new Int32Array(T));
      }
    },
    drop(batch, keep) {
      batch.state = graph.keepRows(batch.state, keep);
      batch.rows = batch.rows.filter((_, i) => keep[i]);
      batch.tokens = batch.tokens.filter((_, i) => keep[i]);
    },
    async run(batch, _rows, { waiting }) {
      const positions = batch.rows.map((r) => r.position);
      let runSteps = Math.min(steps, T - Math.min(...positions));
      // Requests wait for a row of this full batch: end the run when its first row finishes, so they
      // join at once rather than up to S - 1 steps later.
      if (waiting) runSteps = Math.min(runSteps, T - Math.max(...positions));
      const out = await graph.run(batch.rows, batch.state, runSteps);
      batch.state = out.state;
      let finished = false;
      const results = batch.rows.map((r, i) => {
        const drawn = out.tokens[i]!;
        batch.tokens[i]!.set(drawn, r.position);
        r.position += drawn.length;
        if (drawn.length > 0) r.previousToken = drawn[drawn.length - 1]!;
        if (r.position < T) return undefined;
        finished = true;
        return batch.tokens[i]!;
      });
      return finished ? results : undefined;
    },
  };
}
