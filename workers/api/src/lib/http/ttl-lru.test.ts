import { describe, expect, it } from 'vitest';
import { TtlLru } from './ttl-lru.ts';

describe('TtlLru', () => {
  it('returns a value until its expiry time and not after', () => {
    const lru = new TtlLru<number>(4);
    lru.set('a', 1, 1_000);
    expect(lru.get('a', 999)).toBe(1);
    expect(lru.get('a', 1_000)).toBeUndefined();
    expect(lru.size).toBe(0);
  });

  it('evicts the least recently used entry when full', () => {
    const lru = new TtlLru<number>(2);
    lru.set('a', 1, 10);
    lru.set('b', 2, 10);
    expect(lru.get('a', 0)).toBe(1); // b is now the least recently used
    lru.set('c', 3, 10);
    expect(lru.get('b', 0)).toBeUndefined();
    expect(lru.get('a', 0)).toBe(1);
    expect(lru.get('c', 0)).toBe(3);
  });

  it('replaces a value and its expiry on set, and forgets on delete', () => {
    const lru = new TtlLru<string>(2);
    lru.set('k', 'old', 5);
    lru.set('k', 'new', 50);
    expect(lru.get('k', 20)).toBe('new');
    lru.delete('k');
    expect(lru.get('k', 20)).toBeUndefined();
  });

  it('refuses a capacity that is not a positive integer', () => {
    expect(() => new TtlLru(0)).toThrow("'capacity' must be a positive integer, got 0");
  });

  it('keeps the total weight under maxWeight, evicting the least recently used, and skips a value too heavy alone', () => {
    const lru = new TtlLru<string>(10, { maxWeight: 10, weigh: (v) => v.length });
    lru.set('a', 'xxxx', 100);
    lru.set('b', 'yyyy', 100);
    expect(lru.get('a', 0)).toBe('xxxx'); // b is now the least recently used
    lru.set('c', 'zzzz', 100); // 12 > 10: b goes
    expect(lru.get('b', 0)).toBeUndefined();
    expect([lru.get('a', 0), lru.get('c', 0)]).toEqual(['xxxx', 'zzzz']);
    lru.set('huge', 'w'.repeat(11), 100);
    expect(lru.get('huge', 0)).toBeUndefined();
    expect(lru.size).toBe(2);
  });
});
