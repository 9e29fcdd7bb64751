// Small real PNGs for tests in every workspace: fast-png's encoder (pure JavaScript, so the same code
// runs in Node and inside workerd, where node:zlib is absent), plus reading a PNG's size. Test-only:
// imported as `@gigatok/shared/testing/png`, never from shared's main entry.
import { type BitDepth, encode } from 'fast-png';

/** The 8 bytes every PNG starts with (PNG spec section 5.2). */
export const PNG_SIGNATURE: readonly number[] = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

export type Rgb = readonly [number, number, number];

/**
 * A width x height 8-bit RGB PNG. `pixels` is row-major RGB bytes (width * height * 3 of them) or a
 * function giving pixel (x, y).
 */
export function encodePng(
  width: number,
  height: number,
  pixels: Uint8Array | ((x: number, y: number) => Rgb),
): Uint8Array {
  let data: Uint8Array;
  if (typeof pixels === 'function') {
    data = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) data.set(pixels(x, y), (y * width + x) * 3);
    }
  } else {
    data = pixels;
  }
  if (data.length !== width * height * 3) {
    throw new RangeError(
      `'pixels' must hold ${width * height * 3} RGB bytes for ${width}x${height}, got ${data.length}`,
    );
  }
  return encode({ width, height, data, channels: 3, depth: 8 });
}

/**
 * A greyscale PNG of `depth` bits per pixel whose packed rows are `data` (for 1-bit images, rows of
 * ceil(width / 8) bytes): how a test makes a small file that decodes to very many pixels.
 */
export function encodeGreyPng(width: number, height: number, depth: BitDepth, data: Uint8Array): Uint8Array {
  return encode({ width, height, data, channels: 1, depth });
}

/** Width and height from a PNG's IHDR, or null when `bytes` is not a PNG. */
export function pngSize(bytes: Uint8Array): { width: number; height: number } | null {
  if (bytes.length < 24 || !PNG_SIGNATURE.every((b, i) => bytes[i] === b)) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}
