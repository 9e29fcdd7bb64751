// The host choice of a backend pool: power of two choices by load, rests after refusals, and what a
// reported queue depth counts for, on a fake clock and a scripted random source.
import { describe, expect, it } from 'vitest';
import { COOL_DOWN_MS, DEPTH_TTL_MS, MAX_COOL_DOWN_MS, PoolBalancer } from './pool.ts';

function balancer(randoms: number[] = []) {
  const clock = { now: 1_000_000 };
  let next = 0;
  // Cycles through the scripted values; 0.5 when none are given.
  const random = () => (randoms.length === 0 ? 0.5 : randoms[next++ % randoms.length]!);
  return { clock, pool: new PoolBalancer(() => clock.now, random) };
}

describe('PoolBalancer', () => {
  it('picks the less loaded of two sampled hosts, counting calls in flight', () => {
    const { pool } = balancer([0, 0]); // samples hosts 0 and 1
    const end = pool.started('a');
    expect(pool.choose(['a', 'b'])).toBe('b');
    end();
    end(); // ending twice counts once
    expect(pool.score('a')).toBe(0);
    pool.started('b');
    expect(pool.choose(['a', 'b'])).toBe('a');
  });

  it('spreads concurrent calls evenly over equal hosts', () => {
    const { pool } = balancer([0.1, 0.7, 0.9, 0.2, 0.5]);
    const counts = new Map<string, number>();
    for (let i = 0; i < 30; i++) {
      const host = pool.choose(['a', 'b', 'c'])!;
      pool.started(host);
      counts.set(host, (counts.get(host) ?? 0) + 1);
    }
    for (const host of ['a', 'b', 'c']) expect(counts.get(host)).toBeGreaterThanOrEqual(8);
  });

  it('weighs the queue depth a host reported until it is DEPTH_TTL_MS old', () => {
    const { pool, clock } = balancer([0, 0]);
    pool.reportDepth('a', 12);
    pool.reportDepth('b', null); // an answer without the header changes nothing
    expect(pool.score('a')).toBe(12);
    expect(pool.choose(['a', 'b'])).toBe('b');
    clock.now += DEPTH_TTL_MS + 1;
    expect(pool.score('a')).toBe(0);
    expect(pool.choose(['a', 'b'])).toBe('a');
  });

  it('passes over a resting host until its rest ends', () => {
    const { pool, clock } = balancer([0, 0]);
    pool.started('b');
    pool.started('b');
    pool.coolDown('a', COOL_DOWN_MS);
    expect(pool.cooling('a')).toBe(true);
    expect(pool.choose(['a', 'b'])).toBe('b');
    clock.now += COOL_DOWN_MS;
    expect(pool.cooling('a')).toBe(false);
    expect(pool.choose(['a', 'b'])).toBe('a');
  });

  it('tries the host whose rest ends first when every host rests, and none already tried', () => {
    const { pool } = balancer();
    pool.coolDown('a', 4000);
    pool.coolDown('b', 1000);
    expect(pool.choose(['a', 'b'])).toBe('b');
    expect(pool.choose(['a', 'b'], new Set(['b']))).toBe('a');
    expect(pool.choose(['a', 'b'], new Set(['a', 'b']))).toBeNull();
    expect(pool.choose(['a'])).toBe('a');
  });

  it('caps a rest at MAX_COOL_DOWN_MS and never shortens one', () => {
    const { pool, clock } = balancer();
    pool.coolDown('a', 3_600_000);
    clock.now += MAX_COOL_DOWN_MS;
    expect(pool.cooling('a')).toBe(false);
    pool.coolDown('a', 10_000);
    pool.coolDown('a', 1_000);
    clock.now += 5_000;
    expect(pool.cooling('a')).toBe(true);
  });
});
