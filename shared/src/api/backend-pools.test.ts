// The pool contract: BACKEND_POOLS parsing and the queue depth header every backend answer carries.
import { describe, expect, it } from 'vitest';
import { parseBackendPools, parseQueueDepth } from './backend-pools.ts';

describe('parseQueueDepth', () => {
  it('reads a non-negative integer and nothing else', () => {
    expect(parseQueueDepth('0')).toBe(0);
    expect(parseQueueDepth('42')).toBe(42);
    for (const bad of [null, undefined, '', '-1', '1.5', ' 3', '1e3', 'x', '1234567890']) {
      expect(parseQueueDepth(bad), String(bad)).toBeNull();
    }
  });
});

describe('parseBackendPools', () => {
  it('normalizes base URLs and keeps the models a pool names', () => {
    expect(
      parseBackendPools(
        '{"pools":[{"urls":["https://a.example/x/"]},{"urls":["http://b:8790"],"models":["m"]}]}',
      ),
    ).toEqual({ pools: [{ urls: ['https://a.example/x'] }, { urls: ['http://b:8790'], models: ['m'] }] });
  });

  it('names the var and every bad path', () => {
    expect(() => parseBackendPools('{"pools":[{"urls":["/relative"],"models":[]}]}')).toThrow(
      /var BACKEND_POOLS is invalid: pools\.0\.urls\.0: must be an absolute http\(s\) URL.*; pools\.0\.models: /,
    );
    expect(() => parseBackendPools('{"pools":[{"urls":["http://a?x=1"]}]}')).toThrow(/without query/);
  });
});
