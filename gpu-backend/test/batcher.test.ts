// Dynamic batching mechanics: merging, splitting back, the bounded queue, aborts and failures.
// The batched run here is a plain function of its inputs; batching of the real graphs (batched ==
// unbatched) is tested in server.test.ts.
import type { ApiError } from '@gigatok/shared';
import { describe, expect, it } from 'vitest';
import { DynamicBatcher, QueueFullError } from '../src/batcher.ts';

function squaring(
  options: { maxBatch?: number; maxQueueDelayMs?: number; maxQueue?: number; fail?: boolean } = {},
) {
  const batches: number[][] = [];
  const batcher = new DynamicBatcher<number, number>({
    label: 'test/square',
    maxBatch: options.maxBatch ?? 4,
    maxQueueDelayMs: options.maxQueueDelayMs ?? 20,
    maxQueue: options.maxQueue ?? 100,
    run: async (items) => {
      batches.push(items);
      await new Promise((r) => setTimeout(r, 5));
      if (options.fail) throw new Error('graph exploded');
      return items.map((x) => x * x);
    },
  });
  return { batcher, batches };
}

describe('DynamicBatcher', () => {
  it('merges concurrent requests into one batch and returns each its own results in order', async () => {
    const { batcher, batches } = squaring();
    const [a, b] = await Promise.all([batcher.submit([1, 2]), batcher.submit([3])]);
    expect(a).toEqual([1, 4]);
    expect(b).toEqual([9]);
    expect(batches).toEqual([[1, 2, 3]]);
  });

  it('splits a request larger than the max batch across batches', async () => {
    const { batcher, batches } = squaring({ maxBatch: 3 });
    expect(await batcher.submit([1, 2, 3, 4, 5, 6, 7])).toEqual([1, 4, 9, 16, 25, 36, 49]);
    expect(batches.map((b) => b.length)).toEqual([3, 3, 1]);
  });

  it('starts a full batch without waiting for the queue delay', async () => {
    const { batcher } = squaring({ maxBatch: 2, maxQueueDelayMs: 5_000 });
    const started = performance.now();
    await batcher.submit([1, 2]);
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('refuses a request that would overflow the queue with queue_full and a Retry-After', async () => {
    const { batcher } = squaring({ maxQueue: 4, maxQueueDelayMs: 50 });
    const first = batcher.submit([1, 2, 3]);
    const error = await batcher.submit([4, 5]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueueFullError);
    expect((error as ApiError).code).toBe('queue_full');
    expect((error as ApiError).status).toBe(429);
    expect((error as QueueFullError).retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(await first).toEqual([1, 4, 9]);
  });

  it('drops the queued items of an aborted request and rejects it with the reason', async () => {
    const { batcher, batches } = squaring({ maxQueueDelayMs: 30 });
    const controller = new AbortController();
    const doomed = batcher.submit([7, 8], controller.signal);
    const kept = batcher.submit([2]);
    controller.abort(new Error('client went away'));
    await expect(doomed).rejects.toThrow('client went away');
    expect(await kept).toEqual([4]);
    expect(batches).toEqual([[2]]);
  });

  it('fails every request of a failed batch, and keeps serving afterwards', async () => {
    const { batcher } = squaring({ fail: true });
    const results = await Promise.allSettled([batcher.submit([1]), batcher.submit([2])]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    await expect(batcher.submit([3])).rejects.toThrow('graph exploded');
  });
});
