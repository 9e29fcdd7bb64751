import { describe, expect, it } from 'vitest';
import type { ApiError } from './errors.ts';
import { imageGeometryProblem, readImageSize } from './image-header.ts';
import { LIMITS } from './limits.ts';
import { encodePng } from './testing/png.ts';

/** A PNG whose IHDR claims width x height (the CRC is not checked by the header reader). */
function pngClaiming(width: number, height: number): Uint8Array {
  const png = encodePng(1, 1, () => [0, 0, 0]).slice();
  const view = new DataView(png.buffer);
  view.setUint32(16, width);
  view.setUint32(20, height);
  return png;
}

describe('readImageSize', () => {
  it('reads PNG IHDR', () => {
    expect(readImageSize(encodePng(7, 3, () => [1, 2, 3]))).toEqual({ width: 7, height: 3 });
    expect(readImageSize(pngClaiming(1_048_576, 1))).toEqual({ width: 1_048_576, height: 1 });
  });

  it('walks JPEG segments to the start-of-frame, past APPn and fill bytes', () => {
    const jpeg = Uint8Array.from([
      0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0x4a, 0x46, 0xff, 0xff, 0xc2, 0x00, 0x0b, 0x08, 0x01, 0x2c, 0x02,
      0x58, 0x01, 0x01, 0x11, 0x00,
    ]);
    expect(readImageSize(jpeg)).toEqual({ width: 600, height: 300 });
    // A DHT (C4) is not a frame header; scan data before any frame gives no size.
    const noFrame = Uint8Array.from([0xff, 0xd8, 0xff, 0xc4, 0x00, 0x02, 0xff, 0xda, 0x00, 0x02]);
    expect(readImageSize(noFrame)).toBeNull();
  });

  it('reads the three WebP headers (VP8, VP8L, VP8X)', () => {
    const riff = (chunk: string, body: number[]) =>
      Uint8Array.from([
        ...[...'RIFF'].map((c) => c.charCodeAt(0)),
        0,
        0,
        0,
        0,
        ...[...`WEBP${chunk}`].map((c) => c.charCodeAt(0)),
        0,
        0,
        0,
        0,
        ...body,
        ...new Array(16).fill(0),
      ]);
    // VP8: frame tag, start code, 14-bit width 640 and height 480 (little-endian).
    expect(readImageSize(riff('VP8 ', [0, 0, 0, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01]))).toEqual({
      width: 640,
      height: 480,
    });
    // VP8L: signature 0x2f, then width-1 (14 bits) and height-1 (14 bits): 100 x 50.
    const bits = 99 | (49 << 14);
    expect(
      readImageSize(riff('VP8L', [0x2f, bits & 0xff, (bits >> 8) & 0xff, (bits >> 16) & 0xff, bits >>> 24])),
    ).toEqual({ width: 100, height: 50 });
    // VP8X: flags and reserved (4 bytes), canvas width-1 and height-1 (24 bits each): 16384 x 2.
    expect(readImageSize(riff('VP8X', [0, 0, 0, 0, 0xff, 0x3f, 0x00, 0x01, 0x00, 0x00]))).toEqual({
      width: 16384,
      height: 2,
    });
  });

  it('gives null for other bytes and for headers cut short', () => {
    expect(readImageSize(new TextEncoder().encode('hello, world'))).toBeNull();
    expect(readImageSize(encodePng(2, 2, () => [0, 0, 0]).subarray(0, 20))).toBeNull();
    expect(readImageSize(new Uint8Array(0))).toBeNull();
  });
});

describe('imageGeometryProblem', () => {
  const problem = (width: number, height: number, maxPixels?: number): ApiError | null =>
    imageGeometryProblem({ width, height }, 'image', maxPixels);

  it('accepts shapes inside every limit, the limits themselves included', () => {
    expect(problem(256, 256)).toBeNull();
    expect(problem(LIMITS.maxImageSide, LIMITS.maxImageSide / LIMITS.maxImageAspectRatio)).toBeNull();
    expect(problem(1, LIMITS.maxImageAspectRatio)).toBeNull();
  });

  it('refuses a 65535x1 and a 1048576x1 canvas with 422, naming the longest-side limit', () => {
    for (const width of [65_535, 1_048_576]) {
      const e = problem(width, 1);
      expect([e?.code, e?.status, e?.field, e?.limit]).toEqual([
        'image_dimensions_unsupported',
        422,
        'image',
        LIMITS.maxImageSide,
      ]);
      expect(e?.message).toBe(
        `'image' is ${width}x1: its longest side is ${width} pixels, the limit (maxImageSide) is 16384`,
      );
    }
  });

  it('refuses a shape past the aspect ratio limit, naming it', () => {
    const e = problem(65, 1);
    expect([e?.code, e?.status, e?.limit]).toEqual(['image_dimensions_unsupported', 422, 64]);
    expect(e?.message).toContain('aspect ratio is 65:1, the limit (maxImageAspectRatio) is 64:1');
    expect(problem(1, 6500)?.limit).toBe(64);
  });

  it('refuses more pixels than allowed with 413 first, and an empty canvas with 400', () => {
    const e = problem(100_000, 100_000);
    expect([e?.code, e?.status, e?.limit]).toEqual(['image_too_large', 413, LIMITS.maxImagePixels]);
    expect(problem(300, 300, 10_000)?.limit).toBe(10_000);
    expect(problem(0, 5)?.code).toBe('invalid_image');
  });
});
