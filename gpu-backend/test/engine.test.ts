// The scheduling engine's mechanics with plain runners (no graphs): batch formation, run-at-once when
// idle, gathering while a batch is in flight, the opt-in queue delay (fake timers), the bounded queue,
// aborts, failures, pickers, interleaved multi-run batches and shutdown. The real graphs on the engine
// are tested in step-runner.test.ts, graph-vs-steps.test.ts and server.test.ts.
import type { ApiError } from '@gigatok/shared';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Engine, type EngineOptions, QueueFullError, type Runner } from '../src/scheduling/engine.ts';
import { sameKey } from '../src/scheduling/pickers.ts';

/** A promise the test resolves. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open = () => {};
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/**
 * A single-run runner that squares its items and records each batch; while `hold` is set, a run
 * waits for it, so the test decides when the device is busy.
 */
function squaring(options: Partial<EngineOptions<number>> & { fail?: boolean } = {}) {
  const batches: number[][] = [];
  let hold: Promise<void> | undefined;
  const runner: Runner<number, number> = {
    runsPerBatch: 1,
    start: () => undefined,
    run: async (_, items) => {
      batches.push([...items]);
      if (hold !== undefined) await hold;
      if (options.fail) throw new Error('graph exploded');
      return items.map((x) => x * x);
    },
  };
  const engine = new Engine(runner, { label: 'test/square', maxBatch: 4, maxQueue: 100, ...options });
  return {
    engine,
    batches,
    /** Makes runs wait until the returned function is called. */
    block: () => {
      const g = gate();
      hold = g.promise;
      return () => {
        hold = undefined;
        g.open();
      };
    },
  };
}

/** Lets pending promise callbacks run (real setImmediate, also under fake timers that spare it). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

afterEach(() => {
  vi.useRealTimers();
});

describe('Engine: batch formation', () => {
  it('merges requests submitted together into one batch and returns each its own results in order', async () => {
    const { engine, batches } = squaring();
    const [a, b] = await Promise.all([engine.submit([1, 2]), engine.submit([3])]);
    expect(a).toEqual([1, 4]);
    expect(b).toEqual([9]);
    expect(batches).toEqual([[1, 2, 3]]);
  });

  it('splits a request larger than the max batch across batches', async () => {
    const { engine, batches } = squaring({ maxBatch: 3 });
    expect(await engine.submit([1, 2, 3, 4, 5, 6, 7])).toEqual([1, 4, 9, 16, 25, 36, 49]);
    expect(batches.map((b) => b.length)).toEqual([3, 3, 1]);
  });

  it('runs a lone request at once when nothing is in flight (no timer involved)', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance', 'Date'] });
    const { engine, batches } = squaring({ maxBatch: 16 });
    const result = engine.submit([5]);
    await settle();
    expect(batches).toEqual([[5]]);
    expect(await result).toEqual([25]);
  });

  it('gathers the requests that arrive while a batch is in flight into the next batch', async () => {
    const { engine, batches, block } = squaring({ maxBatch: 8 });
    const release = block();
    const first = engine.submit([1]);
    await settle();
    expect(batches).toEqual([[1]]);
    const later = [engine.submit([2]), engine.submit([3, 4])];
    await settle();
    expect(engine.queued).toBe(3);
    expect(engine.active).toBe(1);
    release();
    expect(await first).toEqual([1]);
    expect(await Promise.all(later)).toEqual([[4], [9, 16]]);
    expect(batches).toEqual([[1], [2, 3, 4]]);
  });

  it('lets items submitted in the event-loop turns right after a run join the next batch', async () => {
    const { engine, batches, block } = squaring({ maxBatch: 8 });
    const release = block();
    const first = engine.submit([1]);
    await settle();
    const second = engine.submit([2]);
    release();
    // Submitted one event-loop turn after the run ends, as a request whose body was still being read.
    const third = new Promise<number[]>((resolve) => setImmediate(() => resolve(engine.submit([3]))));
    expect(await Promise.all([first, second, third])).toEqual([[1], [4], [9]]);
    expect(batches).toEqual([[1], [2, 3]]);
  });

  it('waits up to maxQueueDelayMs for company when asked to, and no longer once the batch is full', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance', 'Date'] });
    const { engine, batches } = squaring({ maxBatch: 3, maxQueueDelayMs: 50 });
    const a = engine.submit([1]);
    await settle();
    await vi.advanceTimersByTimeAsync(49);
    expect(batches).toEqual([]);
    const b = engine.submit([2]);
    await vi.advanceTimersByTimeAsync(1);
    expect(batches).toEqual([[1, 2]]);
    expect(await Promise.all([a, b])).toEqual([[1], [4]]);
    const full = engine.submit([3, 4, 5]);
    await settle();
    expect(batches).toEqual([
      [1, 2],
      [3, 4, 5],
    ]);
    expect(await full).toEqual([9, 16, 25]);
  });

  it('waits briefly for the clients of a batch that just ended, so they share the next batch', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance', 'Date'] });
    const { engine, batches, block } = squaring({ maxBatch: 3 });
    const release = block();
    const first = engine.submit([1, 2, 3]);
    await settle();
    vi.advanceTimersByTime(40); // the run takes 40 ms: the return wait is min(10, 5) = 5 ms
    release();
    expect(await first).toEqual([1, 4, 9]);
    // The three clients come back one by one, 2 ms apart: one batch, not a batch of one and the rest.
    const back = [engine.submit([4])];
    await vi.advanceTimersByTimeAsync(2);
    back.push(engine.submit([5]));
    await vi.advanceTimersByTimeAsync(2);
    expect(batches).toEqual([[1, 2, 3]]);
    back.push(engine.submit([6]));
    await settle();
    expect(batches).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(await Promise.all(back)).toEqual([[16], [25], [36]]);
  });

  it('gives up on returning clients after the cap, and a lone client or an idle engine never waits', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance', 'Date'] });
    const { engine, batches, block } = squaring({ maxBatch: 3 });
    let release = block();
    const first = engine.submit([1, 2]);
    await settle();
    vi.advanceTimersByTime(40);
    release();
    await first;
    const alone = engine.submit([3]);
    // Let the engine's admission turns after the last run pass (real setImmediate) before time moves.
    for (let i = 0; i < 10; i++) await settle();
    await vi.advanceTimersByTimeAsync(4);
    expect(batches).toEqual([[1, 2]]);
    await vi.advanceTimersByTimeAsync(1);
    expect(batches).toEqual([[1, 2], [3]]);
    await alone;
    // The last batch was this one client's: it runs at once.
    release = block();
    const again = engine.submit([4]);
    for (let i = 0; i < 10; i++) await settle();
    expect(batches).toEqual([[1, 2], [3], [4]]);
    release();
    await again;
    // Long after the last batch (more than a run), nobody is coming back: at once too.
    await vi.advanceTimersByTimeAsync(1000);
    const later = engine.submit([5]);
    for (let i = 0; i < 10; i++) await settle();
    expect(batches).toEqual([[1, 2], [3], [4], [5]]);
    await later;
  });

  it('forms batches with a picker: the oldest item and the others of its key, the rest keep their place', async () => {
    const { engine, batches, block } = squaring({ maxBatch: 4, picker: sameKey((x: number) => x % 2) });
    const release = block();
    const first = engine.submit([0]);
    await settle();
    const rest = engine.submit([1, 2, 3, 4, 5, 7, 9]);
    await settle();
    release();
    await first;
    expect(await rest).toEqual([1, 4, 9, 16, 25, 49, 81]);
    expect(batches).toEqual([[0], [1, 3, 5, 7], [2, 4], [9]]);
  });
});

describe('Engine: interactive and background priority', () => {
  it('runs an interactive request at the next batch boundary, ahead of a queued background backlog', async () => {
    const { engine, batches, block } = squaring({ maxBatch: 4 });
    const release = block();
    const done: string[] = [];
    const backlog = Array.from({ length: 5 }, (_, k) =>
      engine
        .submit([100 + 4 * k, 101 + 4 * k, 102 + 4 * k, 103 + 4 * k], undefined, 'background')
        .then((r) => {
          done.push(`background ${k}`);
          return r;
        }),
    );
    await settle();
    // The first background batch is on the device; the rest is queued when the interactive one arrives.
    expect(batches).toEqual([[100, 101, 102, 103]]);
    const interactive = engine.submit([1, 2], undefined, 'interactive').then((r) => {
      done.push('interactive');
      return r;
    });
    await settle();
    release();
    expect(await interactive).toEqual([1, 4]);
    await Promise.all(backlog);
    // Background batches are full (maxBatch); the interactive one ran second, alone.
    expect(batches.map((b) => b.length)).toEqual([4, 2, 4, 4, 4, 4]);
    expect(batches[1]).toEqual([1, 2]);
    expect(done).toEqual([
      'background 0',
      'interactive',
      'background 1',
      'background 2',
      'background 3',
      'background 4',
    ]);
  });

  it('keeps background items out of a batch while interactive items are queued, even older ones', async () => {
    const { engine, batches, block } = squaring({ maxBatch: 4 });
    const release = block();
    const first = engine.submit([0]);
    await settle();
    const background = engine.submit([10, 11], undefined, 'background');
    const interactive = [engine.submit([1]), engine.submit([2])];
    await settle();
    release();
    await Promise.all([first, background, ...interactive]);
    expect(batches).toEqual([[0], [1, 2], [10, 11]]);
  });

  it('bounds each priority by maxQueue on its own, so a backlog never refuses interactive work', async () => {
    const { engine, block } = squaring({ maxBatch: 1, maxQueue: 3 });
    const release = block();
    const running = engine.submit([0], undefined, 'background');
    await settle();
    const backlog = engine.submit([1, 2, 3], undefined, 'background');
    const refused = await engine.submit([4], undefined, 'background').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(QueueFullError);
    expect((refused as QueueFullError).message).toContain('3 background items are waiting');
    const interactive = engine.submit([5, 6, 7]);
    release();
    expect(await interactive).toEqual([25, 36, 49]);
    await Promise.all([running, backlog]);
  });
});

describe('Engine: admission, cancellation, failure, shutdown', () => {
  it('refuses a request that would overflow the queue with queue_full and a Retry-After', async () => {
    const { engine, block } = squaring({ maxQueue: 4 });
    const release = block();
    const running = engine.submit([1]);
    await settle();
    const queued = engine.submit([2, 3, 4]);
    const error = await engine.submit([5, 6]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueueFullError);
    expect((error as QueueFullError).name).toBe('QueueFullError');
    expect((error as ApiError).code).toBe('queue_full');
    expect((error as ApiError).status).toBe(429);
    expect((error as QueueFullError).retryAfterSeconds).toBeGreaterThanOrEqual(1);
    release();
    expect(await running).toEqual([1]);
    expect(await queued).toEqual([4, 9, 16]);
  });

  it('refuses a request its runner rejects, alone, before it is queued', async () => {
    const runner: Runner<number, number> = {
      runsPerBatch: 1,
      check: (items) => {
        if (items.some((x) => x < 0)) throw new Error('negative item');
      },
      start: () => undefined,
      run: async (_, items) => items.map((x) => -x),
    };
    const engine = new Engine(runner, { label: 'test/negate', maxBatch: 4, maxQueue: 10 });
    const [bad, good] = await Promise.allSettled([engine.submit([1, -1]), engine.submit([2])]);
    expect(bad).toMatchObject({ status: 'rejected', reason: new Error('negative item') });
    expect(good).toEqual({ status: 'fulfilled', value: [-2] });
    expect(engine.queued).toBe(0);
  });

  it('drops the queued items of an aborted request and rejects it with the reason', async () => {
    const { engine, batches, block } = squaring();
    const release = block();
    const first = engine.submit([1]);
    await settle();
    const controller = new AbortController();
    const doomed = engine.submit([7, 8], controller.signal);
    const kept = engine.submit([2]);
    controller.abort(new Error('client went away'));
    await expect(doomed).rejects.toThrow('client went away');
    expect(engine.queued).toBe(1);
    release();
    await first;
    expect(await kept).toEqual([4]);
    expect(batches).toEqual([[1], [2]]);
  });

  it('takes the items of a request aborted mid-batch out before the next run, and serves the rest', async () => {
    const keeps: boolean[][] = [];
    let runs = 0;
    const controller = new AbortController();
    // Three runs per batch; each run adds 1 to every item. The abort comes during the first run.
    const runner: Runner<number, number, { sums: number[]; step: number }> = {
      runsPerBatch: 3,
      start: (items) => ({ sums: [...items], step: 0 }),
      drop: (state, keep) => {
        keeps.push([...keep]);
        state.sums = state.sums.filter((_, i) => keep[i]);
      },
      run: async (state) => {
        runs += 1;
        if (runs === 1) controller.abort(new Error('stop'));
        state.sums = state.sums.map((x) => x + 1);
        state.step += 1;
        return state.step === 3 ? state.sums : undefined;
      },
    };
    const engine = new Engine(runner, { label: 'test/steps', maxBatch: 8, maxQueue: 10 });
    const doomed = engine.submit([10, 20], controller.signal);
    const survivor = engine.submit([100]);
    await expect(doomed).rejects.toThrow('stop');
    expect(await survivor).toEqual([103]);
    expect(keeps).toEqual([[false, false, true]]);
    expect(runs).toBe(3);
  });

  it('interleaves the runs of batches in flight, up to maxActiveBatches', async () => {
    const order: string[] = [];
    const runner: Runner<string, string, { step: number }> = {
      runsPerBatch: 2,
      start: () => ({ step: 0 }),
      run: async (state, items) => {
        order.push(`${items.join('')}${state.step}`);
        state.step += 1;
        return state.step === 2 ? items.map((x) => x.toUpperCase()) : undefined;
      },
    };
    const engine = new Engine(runner, {
      label: 'test/cohorts',
      maxBatch: 1,
      maxActiveBatches: 2,
      maxQueue: 10,
    });
    const out = await Promise.all([engine.submit(['a']), engine.submit(['b']), engine.submit(['c'])]);
    expect(out).toEqual([['A'], ['B'], ['C']]);
    expect(order).toEqual(['a0', 'b0', 'a1', 'b1', 'c0', 'c1']);
  });

  it('fails every request of a failed batch, and keeps serving afterwards', async () => {
    const { engine } = squaring({ fail: true });
    const results = await Promise.allSettled([engine.submit([1]), engine.submit([2])]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    await expect(engine.submit([3])).rejects.toThrow('graph exploded');
  });

  it('finishes the queued work on close and refuses new work', async () => {
    const { engine, block } = squaring();
    const release = block();
    const pending = engine.submit([1, 2]);
    await settle();
    const closed = engine.close();
    await expect(engine.submit([3])).rejects.toMatchObject({ code: 'backend_unavailable' });
    release();
    await closed;
    expect(await pending).toEqual([1, 4]);
  });
});
