// The dataset augmentations against the official code extractor's, run by Pillow and numpy (goldens made
// by model/gigatok_model/official_augment.py from the committed images in fixtures/preprocess): the
// same uint8 pixels and float32 tensors for every view, in the same order; and the view geometry on
// hand-made images.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Augmentation } from '@gigatok/shared';
import { AUGMENTATION_VIEWS } from '@gigatok/shared';
import { describe, expect, it } from 'vitest';
import { augmentationViews, mirror, sourceSize } from '../src/images/augment.ts';
import { cropPixels, normalizeInto } from '../src/images/preprocess.ts';

const dir = join(import.meta.dirname, 'fixtures', 'preprocess');
const manifest = JSON.parse(readFileSync(join(dir, 'augment-goldens.json'), 'utf8')) as {
  cases: {
    name: string;
    source: string;
    size: number;
    augment: Augmentation;
    source_side: number;
    pixels_sha256: string[];
    tensor_sha256: string[];
  }[];
};
const limits = { maxImageBytes: 10 << 20, maxImagePixels: 40_000_000 };
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** A side x side image whose pixel (x, y) holds [x, y, 7]: every view says where it was cut from. */
function coordinates(side: number): Uint8Array {
  const out = new Uint8Array(side * side * 3);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) out.set([x, y, 7], (y * side + x) * 3);
  }
  return out;
}

/** [x, y] of a view's top-left and top-right pixels. */
function corners(view: Uint8Array, size: number): number[][] {
  const at = (x: number) => [view[x * 3]!, view[x * 3 + 1]!];
  return [at(0), at(size - 1)];
}

describe('augmentations equal the official extractor (Pillow + numpy goldens)', () => {
  it('has the committed cases: flip and ten_crop on five images', () => {
    expect(manifest.cases.length).toBe(10);
    expect(new Set(manifest.cases.map((c) => c.augment))).toEqual(new Set(['flip', 'ten_crop']));
  });

  for (const c of manifest.cases) {
    it(`${c.name} ${c.augment}: the same pixels and tensors for each of the ${c.pixels_sha256.length} views`, async () => {
      const side = sourceSize(c.augment, c.size);
      expect(side).toBe(c.source_side);
      const bytes = new Uint8Array(readFileSync(join(dir, c.source)));
      const pixels = await cropPixels(bytes, side, limits, 'image', 'official');
      const views = augmentationViews(pixels, side, c.augment, c.size);
      expect(views.length).toBe(AUGMENTATION_VIEWS[c.augment]);
      expect(views.map(sha256)).toEqual(c.pixels_sha256);
      const tensors = views.map((view) => {
        const out = new Float32Array(3 * c.size * c.size);
        normalizeInto(view, c.size, out, 0);
        return sha256(new Uint8Array(out.buffer));
      });
      expect(tensors).toEqual(c.tensor_sha256);
    });
  }
});

describe('augmentation geometry', () => {
  it('cuts ten_crop from the 1.1x centre crop: 281 at 256, 35 at 32', () => {
    expect(sourceSize('ten_crop', 256)).toBe(281);
    expect(sourceSize('ten_crop', 32)).toBe(35);
    expect(sourceSize('flip', 256)).toBe(256);
    expect(sourceSize('none', 256)).toBe(256);
  });

  it('flip gives the image, then its mirror', () => {
    const img = coordinates(4);
    const [first, second] = augmentationViews(img, 4, 'flip', 4);
    expect(first).toEqual(img);
    expect(corners(second!, 4)).toEqual([
      [3, 0],
      [0, 0],
    ]);
    expect(mirror(second!, 4)).toEqual(img);
  });

  it('ten_crop orders tl, tr, bl, br, centre, then the same five of the mirror, centre offset ties to even', () => {
    // 35 -> 32: the far corner starts at 3, the centre at round(1.5) = 2.
    const views = augmentationViews(coordinates(35), 35, 'ten_crop', 32);
    expect(views.map((v) => [v[0], v[1]])).toEqual([
      [0, 0],
      [3, 0],
      [0, 3],
      [3, 3],
      [2, 2],
      // The mirror's pixel x is the original's 34 - x: its top-left (0, 0) is the original's (34, 0).
      [34, 0],
      [31, 0],
      [34, 3],
      [31, 3],
      [32, 2],
    ]);
    // 281 -> 256: round(12.5) = 12, not 13.
    const big = augmentationViews(coordinates(281), 281, 'ten_crop', 256);
    expect([big[4]![0], big[4]![1]]).toEqual([12, 12]);
  });

  it('refuses pixels of another size', () => {
    expect(() => augmentationViews(new Uint8Array(10), 4, 'flip', 4)).toThrow('expected 4x4 RGB pixels');
  });
});
