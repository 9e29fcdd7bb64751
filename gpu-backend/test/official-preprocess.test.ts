// The backend's preprocessing against the official recipe run by Pillow (goldens made by
// model/gigatok_model/official_preprocess.py from the committed images in fixtures/preprocess):
// equal bytes after the crop, equal float32 values after Normalize, for every case.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { centerCropArr, cropPlan, roundHalfEven } from '../src/images/pil-resample.ts';
import { cropPixels, NORMALIZED_VALUES, preprocessImage } from '../src/images/preprocess.ts';
import { cropRgb } from '../src/images/resample-pool.ts';

const dir = join(import.meta.dirname, 'fixtures', 'preprocess');
const manifest = JSON.parse(readFileSync(join(dir, 'goldens.json'), 'utf8')) as {
  cases: { name: string; source: string; width: number; height: number; size: number }[];
};
const limits = { maxImageBytes: 10 << 20, maxImagePixels: 40_000_000 };

async function golden(name: string): Promise<Uint8Array> {
  const { data, info } = await sharp(join(dir, `${name}.golden.png`))
    .raw()
    .toBuffer({ resolveWithObject: true });
  expect(info.channels).toBe(3);
  return new Uint8Array(data);
}

/** Pixels that differ, and the largest difference, between two byte arrays of one length. */
function compare(a: Uint8Array, b: Uint8Array): { differing: number; maxDiff: number } {
  expect(a.length).toBe(b.length);
  let differing = 0;
  let maxDiff = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (d > 0) differing++;
    maxDiff = Math.max(maxDiff, d);
  }
  return { differing, maxDiff };
}

describe('official preprocessing equals Pillow running the official recipe', () => {
  it('has the committed cases (the set cannot silently shrink)', () => {
    expect(manifest.cases.length).toBe(19);
  });

  for (const c of manifest.cases) {
    it(`${c.name} (${c.width}x${c.height} -> ${c.size}): the same bytes after the crop`, async () => {
      const bytes = new Uint8Array(readFileSync(join(dir, c.source)));
      const ours = await cropPixels(bytes, c.size, limits, 'image', 'official');
      expect(compare(ours, await golden(c.name))).toEqual({ differing: 0, maxDiff: 0 });
    });
  }

  it('gives the float32 values torch gives (ToTensor + Normalize(0.5, 0.5)) for every byte', () => {
    const table = new Float32Array(Uint8Array.from(readFileSync(join(dir, 'normalize.f32'))).buffer);
    expect(table.length).toBe(256);
    expect(Array.from(NORMALIZED_VALUES)).toEqual(Array.from(table));
  });

  it('writes the golden tensor of the 256 case, channel-first', async () => {
    const c = manifest.cases.find((x) => x.size === 256)!;
    const bytes = new Uint8Array(readFileSync(join(dir, c.source)));
    const out = new Float32Array(3 * 256 * 256);
    await preprocessImage(bytes, 256, limits, 'images.0', out, 0);
    const px = await golden(c.name);
    const plane = 256 * 256;
    let mismatches = 0;
    for (let i = 0; i < plane; i++) {
      for (let ch = 0; ch < 3; ch++) {
        if (out[ch * plane + i] !== NORMALIZED_VALUES[px[i * 3 + ch]!]) mismatches++;
      }
    }
    expect(mismatches).toBe(0);
  });
});

describe('the resampling pool', () => {
  it('gives the inline result for large images sent at once (threads) and small ones (inline)', async () => {
    const shapes = [
      [1030, 520],
      [700, 900],
      [1201, 777],
      [300, 200],
    ] as const;
    const images = shapes.map(([width, height], n) => ({
      width,
      height,
      data: Uint8Array.from({ length: width * height * 3 }, (_, i) => (i * (n + 7) + (i >> 9)) & 255),
    }));
    const expected = images.map((img) => centerCropArr(img, 64).data);
    const pooled = await Promise.all(images.map((img) => cropRgb({ ...img, data: img.data.slice() }, 64)));
    for (const [i, out] of pooled.entries())
      expect(compare(out, expected[i]!)).toEqual({ differing: 0, maxDiff: 0 });
  });
});

describe('center_crop_arr arithmetic', () => {
  it("rounds like Python's round(): halves to even", () => {
    expect([0.5, 1.5, 2.5, 3.49, 3.5, 42.5].map(roundHalfEven)).toEqual([0, 2, 2, 3, 4, 42]);
  });

  it('halves while the short side is at least twice the target, floors the crop offset', () => {
    expect(cropPlan(1030, 520, 256)).toEqual({
      halvings: [{ width: 515, height: 260 }],
      resized: { width: 507, height: 256 },
      crop: { x: 125, y: 0 },
    });
    // An odd overhang (13): the offset is 6, where sharp's centre rounds up to 7.
    expect(cropPlan(45, 32, 32).crop).toEqual({ x: 6, y: 0 });
    expect(cropPlan(20, 13, 32).resized).toEqual({ width: 49, height: 32 });
  });
});
