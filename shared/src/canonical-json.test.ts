import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJSON } from './canonical-json.ts';

/** Rebuilds an object with its keys inserted in reverse order, recursively. */
function reversedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reversedKeys);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).reverse()) {
      // defineProperty, so a "__proto__" key stays an own property as JSON.parse makes it.
      const member = reversedKeys((value as Record<string, unknown>)[key]);
      Object.defineProperty(out, key, {
        value: member,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return value;
}

// A JSON round trip turns every -0 (which canonical JSON writes as 0) into 0, at any depth.
const jsonArb = fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.parse(JSON.stringify(v)) as unknown);

describe('canonicalJSON', () => {
  it('sorts keys recursively and writes no whitespace', () => {
    expect(canonicalJSON({ b: 1, a: { d: [3, { z: true, y: null }], c: 'x' } })).toBe(
      '{"a":{"c":"x","d":[3,{"y":null,"z":true}]},"b":1}',
    );
  });

  it('is the same string whatever the key order', () => {
    fc.assert(fc.property(jsonArb, (v) => canonicalJSON(v) === canonicalJSON(reversedKeys(v))));
  });

  it('parses back to an equal value', () => {
    fc.assert(
      fc.property(jsonArb, (v) => {
        expect(JSON.parse(canonicalJSON(v))).toEqual(v);
      }),
    );
  });

  it('orders keys by UTF-16 code units, as RFC 8785 does', () => {
    expect(canonicalJSON({ b: 0, a: 0, B: 0, é: 0, '\u{1F600}': 0, '\uFFFF': 0 })).toBe(
      '{"B":0,"a":0,"b":0,"é":0,"\u{1F600}":0,"\uFFFF":0}',
    );
  });

  it('writes numbers as ECMAScript does, -0 as 0', () => {
    expect(canonicalJSON([1, 1.5, 1e21, 1e-7, -0, 0.1 + 0.2])).toBe(
      '[1,1.5,1e+21,1e-7,0,0.30000000000000004]',
    );
  });

  it('omits undefined object members', () => {
    expect(canonicalJSON({ a: undefined, b: 2 })).toBe('{"b":2}');
  });

  it('rejects NaN, Infinity, undefined in arrays, bigint, functions, class instances and cycles', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const bad of [
      Number.NaN,
      Number.POSITIVE_INFINITY,
      { a: Number.NEGATIVE_INFINITY },
      [1, undefined],
      10n,
      () => 1,
      Symbol('s'),
      new Date(0),
      new Uint32Array(2),
      new Map(),
      cyclic,
    ]) {
      expect(() => canonicalJSON(bad)).toThrow(TypeError);
    }
    expect(() => canonicalJSON({ params: { cfg: Number.NaN } })).toThrow(/\$\.params\.cfg/);
  });

  it('accepts the same object twice when it is not a cycle', () => {
    const shared = { x: 1 };
    expect(canonicalJSON({ a: shared, b: shared })).toBe('{"a":{"x":1},"b":{"x":1}}');
  });
});
