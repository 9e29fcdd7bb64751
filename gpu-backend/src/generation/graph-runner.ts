// Generation through generate.onnx, as a Runner of the scheduling engine: a batch is one run of the
// whole sampling loop for its rows (any seeds and sampling settings; graphs/generate.ts). A run cannot
// be stopped midway, so a request canceled during one is rejected at once and its rows' tokens are
// dropped when the run ends; the extra compute is bounded by one run of maxBatch rows.
import type { GenerateGraph } from '../graphs/generate.ts';
import type { Runner } from '../scheduling/engine.ts';
import { type Picker, sameKey } from '../scheduling/pickers.ts';
import type { GenerationRow } from './request.ts';

const prefixLength = (row: GenerationRow) => row.prefix?.length ?? 0;

/** generate.onnx takes one `prefix_tokens` [B, K] per run: a batch holds rows of one prefix length. */
export const byPrefixLength: Picker<GenerationRow> = sameKey(prefixLength);

export function graphRunner(graph: GenerateGraph): Runner<GenerationRow, Int32Array> {
  return {
    runsPerBatch: 1,
    rowsPerItem: 2,
    // Checked per request, so a bad request fails alone instead of failing a shared run; rows of each
    // prefix length (they run separately) are checked together.
    check(rows) {
      for (const k of new Set(rows.map(prefixLength))) graph.feeds(rows.filter((r) => prefixLength(r) === k));
    },
    start: () => undefined,
    run: (_, rows) => graph.run(rows),
  };
}
