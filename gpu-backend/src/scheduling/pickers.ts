// Batch pickers: which queued items (oldest first) form the next batch. The engine always adds the
// oldest item, so a picker only says who may join it.

/** Returns indices into `queue` (oldest first) of at most `max` items for the next batch. */
export type Picker<I> = (queue: readonly I[], max: number) => number[];

/** First come, first served: the oldest `max` items. */
export const fifo: Picker<unknown> = (queue, max) =>
  Array.from({ length: Math.min(max, queue.length) }, (_, i) => i);

/**
 * The oldest item and, in queue order, up to `max - 1` others with the same key; the rest keep their
 * place for a later batch. For graphs that need one value per run (generate.onnx: one prefix length).
 */
export function sameKey<I>(key: (item: I) => string | number): Picker<I> {
  return (queue, max) => {
    const head = queue[0];
    if (head === undefined) return [];
    const k = key(head);
    const picked: number[] = [];
    for (const [i, item] of queue.entries()) {
      if (picked.length === max) break;
      if (key(item) === k) picked.push(i);
    }
    return picked;
  };
}
