// Image preprocessing (sniffing, size and geometry limits, both modes' EXIF and alpha handling, resize
// + centre crop, scaling) and postprocessing, on small images made with sharp inside the tests.
import { crc32 } from 'node:zlib';
import { ApiError, LIMITS, type PreprocessingMode, sniffImageType } from '@gigatok/shared';
import { GIF89A_1X1 } from '@gigatok/shared/testing/gif';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { encodeImage, preprocessImage, toPixels } from '../src/images/preprocess.ts';

const limits = { maxImageBytes: 1 << 20, maxImagePixels: 1_000_000 };

async function solid(
  width: number,
  height: number,
  rgb: [number, number, number],
  format: 'png' | 'jpeg' | 'webp',
) {
  const img = sharp({
    create: { width, height, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } },
  });
  const out =
    format === 'png'
      ? img.png()
      : format === 'jpeg'
        ? img.jpeg({ quality: 100 })
        : img.webp({ lossless: true });
  return new Uint8Array(await out.toBuffer());
}

async function run(
  bytes: Uint8Array,
  size = 8,
  l = limits,
  mode: PreprocessingMode = 'official',
): Promise<Float32Array> {
  const out = new Float32Array(3 * size * size);
  await preprocessImage(bytes, size, l, 'images.0', out, 0, mode);
  return out;
}

async function problemOf(p: Promise<unknown>): Promise<ApiError> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ApiError);
  return error as ApiError;
}

describe('accepted types', () => {
  it('reads PNG, JPEG and WebP, whatever the request said', async () => {
    for (const format of ['png', 'jpeg', 'webp'] as const) {
      await expect(run(await solid(4, 4, [0, 0, 0], format))).resolves.toBeInstanceOf(Float32Array);
    }
  });

  it("refuses a GIF with 415 in shared's words, and an empty image with 400", async () => {
    const gif = await problemOf(run(GIF89A_1X1));
    expect([gif.code, gif.status, gif.field]).toEqual(['unsupported_media_type', 415, 'images.0']);
    expect(gif.message).toBe("'images.0' is a GIF image; send PNG, JPEG or WebP");
    const empty = await problemOf(run(new Uint8Array(0)));
    expect([empty.code, empty.status]).toEqual(['invalid_image', 400]);
  });
});

describe('preprocessImage', () => {
  it('scales RGB to [-1, 1] channel-first (x / 127.5 - 1) for every input type', async () => {
    for (const format of ['png', 'webp', 'jpeg'] as const) {
      const x = await run(await solid(10, 10, [255, 0, 51], format));
      const plane = 64;
      const tol = format === 'jpeg' ? 0.05 : 1e-6;
      expect(Math.abs(x[0]! - 1)).toBeLessThan(tol);
      expect(Math.abs(x[plane]! + 1)).toBeLessThan(tol);
      expect(Math.abs(x[2 * plane]! - (51 / 127.5 - 1))).toBeLessThan(tol);
    }
  });

  it('resizes the short side and keeps the centre: side bands of a wide image are cropped away', async () => {
    // 48x16: red | green | blue thirds of 16x16; the centre crop is the green square.
    const raw = Buffer.alloc(48 * 16 * 3);
    for (let y = 0; y < 16; y++) {
      for (let x = 0; x < 48; x++) raw[(y * 48 + x) * 3 + Math.floor(x / 16)] = 255;
    }
    const png = new Uint8Array(
      await sharp(raw, { raw: { width: 48, height: 16, channels: 3 } })
        .png()
        .toBuffer(),
    );
    const size = 8;
    const x = await run(png, size);
    const plane = size * size;
    const centre = (3 * size + 3) as number;
    expect(x[centre]).toBeCloseTo(-1, 2); // red channel
    expect(x[plane + centre]).toBeCloseTo(1, 2); // green
    expect(x[2 * plane + centre]).toBeCloseTo(-1, 2); // blue
  });

  it("applies the EXIF orientation in 'normalized' mode only; 'official' reads the stored pixels", async () => {
    // Stored 16 wide x 48 tall: left half red, right half green. Orientation 6 (rotate 90 cw) shows it
    // 48 wide x 16 tall with the red half on top.
    const raw = Buffer.alloc(16 * 48 * 3);
    for (let y = 0; y < 48; y++) for (let x = 0; x < 16; x++) raw[(y * 16 + x) * 3 + (x < 8 ? 0 : 1)] = 255;
    const jpeg = new Uint8Array(
      await sharp(raw, { raw: { width: 16, height: 48, channels: 3 } })
        .jpeg({ quality: 100 })
        .withMetadata({ orientation: 6 })
        .toBuffer(),
    );
    const size = 4;
    const plane = size * size;
    const bottomLeft = (size - 1) * size;
    const official = await run(jpeg, size);
    expect([official[bottomLeft]! > 0.8, official[plane + bottomLeft]! < -0.8]).toEqual([true, true]);
    const normalized = await run(jpeg, size, limits, 'normalized');
    expect([normalized[bottomLeft]! < -0.8, normalized[plane + bottomLeft]! > 0.8]).toEqual([true, true]);
  });

  it("composites transparency onto white in 'normalized' mode; 'official' drops alpha, as convert('RGB')", async () => {
    const transparent = new Uint8Array(
      await sharp({
        create: { width: 8, height: 8, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } },
      })
        .png()
        .toBuffer(),
    );
    const white = await run(transparent, 4, limits, 'normalized');
    expect(Math.min(...white)).toBeCloseTo(1, 5);
    const dropped = await run(transparent, 4);
    expect(Math.max(...dropped)).toBe(-1);
  });

  it('reads greyscale as RGB in both modes', async () => {
    const grey = new Uint8Array(
      await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 127, g: 127, b: 127 } } })
        .toColourspace('b-w')
        .png()
        .toBuffer(),
    );
    for (const mode of ['official', 'normalized'] as const) {
      const g = await run(grey, 4, limits, mode);
      expect(g.length).toBe(48);
      expect(g[0]).toBe(g[16]);
      expect(g[0]).toBe(g[32]);
      expect(g[0]).toBeCloseTo(127 / 127.5 - 1, 6);
    }
  });

  describe('rejects bad input with a problem naming the field', () => {
    it('not an image -> 415 unsupported_media_type', async () => {
      const e = await problemOf(run(new TextEncoder().encode('hello, world')));
      expect([e.code, e.status, e.field]).toEqual(['unsupported_media_type', 415, 'images.0']);
    });

    it('a truncated PNG -> 400 invalid_image', async () => {
      const png = await solid(32, 32, [1, 2, 3], 'png');
      const e = await problemOf(run(png.subarray(0, 40)));
      expect([e.code, e.status]).toEqual(['invalid_image', 400]);
    });

    it('a PNG whose data is corrupted -> 400 invalid_image', async () => {
      const png = await solid(32, 32, [1, 2, 3], 'png');
      const bad = png.slice();
      for (let i = 60; i < bad.length - 12; i++) bad[i] = 0xaa;
      const e = await problemOf(run(bad));
      expect(e.code).toBe('invalid_image');
    });

    it('more bytes than the limit -> 413 image_too_large', async () => {
      const png = await solid(32, 32, [1, 2, 3], 'png');
      const e = await problemOf(run(png, 8, { ...limits, maxImageBytes: 50 }));
      expect([e.code, e.status, e.limit]).toEqual(['image_too_large', 413, 50]);
    });

    it('a decompression bomb (tiny file claiming a huge canvas) -> 413 from the header, before decoding', async () => {
      // A real 1x1 PNG whose IHDR claims 100000 x 100000 (CRC fixed up): 10^10 pixels would need 30 GB decoded.
      const png = Buffer.from(await solid(1, 1, [0, 0, 0], 'png'));
      png.writeUInt32BE(100_000, 16);
      png.writeUInt32BE(100_000, 20);
      png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
      const e = await problemOf(
        run(new Uint8Array(png), 8, { maxImageBytes: 1 << 20, maxImagePixels: 1_000_000 }),
      );
      expect([e.code, e.status, e.limit]).toEqual(['image_too_large', 413, 1_000_000]);
      expect(e.message).toContain('100000x100000');
    });

    it('a 65535x1 PNG (270 bytes) -> 422 naming the longest-side limit, before decoding', async () => {
      const e = await problemOf(
        run(await solid(65_535, 1, [9, 9, 9], 'png'), 8, { ...limits, maxImagePixels: 40e6 }),
      );
      expect([e.code, e.status, e.field, e.limit]).toEqual([
        'image_dimensions_unsupported',
        422,
        'images.0',
        LIMITS.maxImageSide,
      ]);
      expect(e.message).toContain('the limit (maxImageSide) is 16384');
    });

    it('a 1048576x1 PNG -> 422 naming the limit, not "not a readable PNG"', async () => {
      const png = Buffer.from(await solid(1, 1, [0, 0, 0], 'png'));
      png.writeUInt32BE(1_048_576, 16);
      png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
      const e = await problemOf(run(new Uint8Array(png), 8, { ...limits, maxImagePixels: 40e6 }));
      expect([e.code, e.status, e.limit]).toEqual(['image_dimensions_unsupported', 422, LIMITS.maxImageSide]);
      expect(e.message).toContain("'images.0' is 1048576x1");
    });

    it('a 6500x100 image (65:1) -> 422 naming the aspect-ratio limit; 6400x100 (64:1) is tokenized', async () => {
      const e = await problemOf(
        run(await solid(6500, 100, [9, 9, 9], 'png'), 8, { ...limits, maxImagePixels: 40e6 }),
      );
      expect([e.code, e.status, e.limit]).toEqual([
        'image_dimensions_unsupported',
        422,
        LIMITS.maxImageAspectRatio,
      ]);
      const x = await run(await solid(6400, 100, [9, 9, 9], 'png'), 8, { ...limits, maxImagePixels: 40e6 });
      expect(x[0]).toBeCloseTo(9 / 127.5 - 1, 6);
    });

    it('an image over the pixel limit -> 413 image_too_large', async () => {
      const e = await problemOf(
        run(await solid(200, 100, [9, 9, 9], 'webp'), 8, { ...limits, maxImagePixels: 10_000 }),
      );
      expect([e.code, e.status]).toEqual(['image_too_large', 413]);
    });
  });
});

describe('postprocessing', () => {
  it('maps [-1, 1] to uint8 with clamp(127.5 x + 128) truncated, clamping outliers and NaN', () => {
    const size = 1;
    const image = Float32Array.from([-1, 0, 1]);
    expect(Array.from(toPixels(image, 0, size))).toEqual([0, 128, 255]);
    expect(Array.from(toPixels(Float32Array.from([-7, 3, Number.NaN]), 0, size))).toEqual([0, 255, 0]);
  });

  it('round-trips pixels exactly through PNG and lossless WebP', async () => {
    const size = 4;
    const pixels = Uint8Array.from({ length: size * size * 3 }, (_, i) => (i * 37) % 256);
    for (const format of ['png', 'webp'] as const) {
      const bytes = await encodeImage(pixels, size, format);
      expect(sniffImageType(bytes)).toBe(`image/${format}`);
      const back = await sharp(bytes).raw().toBuffer();
      expect(Array.from(back)).toEqual(Array.from(pixels));
    }
  });
});
