import { describe, expect, it } from 'vitest';
import { int64Npy } from './npy.ts';

const bytes = (base64: string) => Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));

describe('int64Npy', () => {
  it('writes the bytes numpy.save writes', () => {
    // base64 of np.save(buf, np.array([[[1, -2, 3]]], '<i8')) and np.save(buf, np.array([5], '<i8')), numpy 2.
    expect(int64Npy([1, 1, 3], [1, -2, 3])).toEqual(
      bytes(
        'k05VTVBZAQB2AHsnZGVzY3InOiAnPGk4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDEsIDEsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoBAAAAAAAAAP7/////////AwAAAAAAAAA=',
      ),
    );
    expect(int64Npy([1], [5])).toEqual(
      bytes(
        'k05VTVBZAQB2AHsnZGVzY3InOiAnPGk4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDEsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoFAAAAAAAAAA==',
      ),
    );
  });

  it('refuses a shape that does not hold the values', () => {
    expect(() => int64Npy([2, 2], [1, 2, 3])).toThrow(RangeError);
  });
});
