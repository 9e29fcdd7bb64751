import { decode } from 'fast-png';
import { describe, expect, it } from 'vitest';
import { sniffImageType } from '../image-types.ts';
import { encodeGreyPng, encodePng, pngSize } from './png.ts';

describe('encodePng', () => {
  it('writes a PNG that decodes to the given pixels, from bytes or from a function', () => {
    const bytes = Uint8Array.from({ length: 3 * 2 * 3 }, (_, i) => (i * 29) & 0xff);
    const fromBytes = encodePng(3, 2, bytes);
    const fromFunction = encodePng(3, 2, (x, y) => {
      const at = (y * 3 + x) * 3;
      return [bytes[at]!, bytes[at + 1]!, bytes[at + 2]!];
    });
    expect(fromFunction).toEqual(fromBytes);
    expect(sniffImageType(fromBytes)).toBe('image/png');
    const decoded = decode(fromBytes);
    expect({ width: decoded.width, height: decoded.height, channels: decoded.channels }).toEqual({
      width: 3,
      height: 2,
      channels: 3,
    });
    expect(Array.from(decoded.data)).toEqual(Array.from(bytes));
    expect(pngSize(fromBytes)).toEqual({ width: 3, height: 2 });
  });

  it('refuses pixel bytes of the wrong length, naming the size expected', () => {
    expect(() => encodePng(2, 2, new Uint8Array(11))).toThrow(
      "'pixels' must hold 12 RGB bytes for 2x2, got 11",
    );
  });

  it('writes 1-bit greyscale for small files of many pixels', () => {
    const png = encodeGreyPng(1000, 1000, 1, new Uint8Array(125 * 1000));
    expect(png.length).toBeLessThan(2000);
    expect(pngSize(png)).toEqual({ width: 1000, height: 1000 });
    expect(decode(png).depth).toBe(1);
  });
});

describe('pngSize', () => {
  it('is null for bytes that are not a PNG', () => {
    expect(pngSize(new TextEncoder().encode('not a png at all, just some text'))).toBeNull();
    expect(pngSize(new Uint8Array(0))).toBeNull();
  });
});
