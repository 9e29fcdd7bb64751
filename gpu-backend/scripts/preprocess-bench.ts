// Image preprocessing figures: images/s of the official pipeline (images/preprocess.ts) on a few photo
// sizes, and its agreement with Pillow's goldens (test/fixtures/preprocess), each next to the same
// figures for the earlier sharp pipeline (one Lanczos-3 resize to cover + sharp's centre crop, EXIF,
// alpha onto white, sRGB), which this script keeps only to compare against.
// Usage: npx tsx scripts/preprocess-bench.ts [--seconds S] [--size 256]   (--seconds 0: agreement only)
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { cropPixels, NORMALIZED_VALUES } from '../src/images/preprocess.ts';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '3' }, size: { type: 'string', default: '256' } },
});
const seconds = Number(values.seconds);
const size = Number(values.size);
const limits = { maxImageBytes: 1 << 26, maxImagePixels: 1 << 26 };

/** The earlier pipeline's pixels (sharp: rotate, flatten, sRGB, Lanczos-3 cover resize, centre crop). */
async function sharpPixels(bytes: Uint8Array, target: number): Promise<Uint8Array> {
  const buf = await sharp(bytes, { failOn: 'error' })
    .rotate()
    .flatten({ background: '#ffffff' })
    .toColourspace('srgb')
    .resize(target, target, { fit: 'cover', position: 'centre', kernel: 'lanczos3' })
    .removeAlpha()
    .raw()
    .toBuffer();
  return new Uint8Array(buf);
}

/** Tensor values of each pipeline: the earlier one scaled with x / 127.5 - 1 in float64. */
const previousValue = (v: number) => Math.fround(v / 127.5 - 1);
const currentValue = (v: number) => NORMALIZED_VALUES[v]!;

type Pipeline = (bytes: Uint8Array, target: number) => Promise<Uint8Array>;
const pipelines: [string, Pipeline, (v: number) => number][] = [
  ['previous (sharp lanczos3)', sharpPixels, previousValue],
  ['official (this backend)', (b, t) => cropPixels(b, t, limits, 'image', 'official'), currentValue],
];

async function photo(width: number, height: number, format: 'jpeg' | 'png'): Promise<Uint8Array> {
  const noisy = sharp({
    create: {
      width,
      height,
      channels: 3,
      background: '#000',
      noise: { type: 'gaussian', mean: 128, sigma: 40 },
    },
  }).blur(1.5);
  const out = format === 'jpeg' ? noisy.jpeg({ quality: 90 }) : noisy.png();
  return new Uint8Array(await out.toBuffer());
}

async function rate(run: Pipeline, bytes: Uint8Array): Promise<number> {
  for (let i = 0; i < 2; i++) await run(bytes, size);
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    await run(bytes, size);
    n++;
  }
  return (n * 1000) / (performance.now() - start);
}

async function agreement(): Promise<void> {
  const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'test', 'fixtures', 'preprocess');
  const { cases } = JSON.parse(readFileSync(path.join(dir, 'goldens.json'), 'utf8')) as {
    cases: { name: string; source: string; size: number }[];
  };
  for (const [name, run, value] of pipelines) {
    let equal = 0;
    let samePixels = 0;
    let maxDiff = 0;
    let pixelsEqual = 0;
    let pixelsAll = 0;
    for (const c of cases) {
      const bytes = new Uint8Array(readFileSync(path.join(dir, c.source)));
      const golden = new Uint8Array(
        await sharp(path.join(dir, `${c.name}.golden.png`))
          .raw()
          .toBuffer(),
      );
      const ours = await run(bytes, c.size);
      let same = true;
      if (ours.every((v, i) => v === golden[i])) samePixels++;
      for (let i = 0; i < golden.length; i++) {
        const d = Math.abs(value(ours[i]!) - currentValue(golden[i]!));
        if (d !== 0) same = false;
        else pixelsEqual++;
        maxDiff = Math.max(maxDiff, d);
      }
      pixelsAll += golden.length;
      if (same) equal++;
    }
    console.log(
      `${name}: ${equal}/${cases.length} cases with tensors equal to the official ones ` +
        `(${samePixels}/${cases.length} with equal uint8 pixels); ` +
        `${((100 * pixelsEqual) / pixelsAll).toFixed(1)}% of values equal; max abs diff ${maxDiff.toPrecision(3)}`,
    );
  }
}

await agreement();
if (seconds === 0) process.exit(0);
const shapes: [number, number, 'jpeg' | 'png'][] = [
  [256, 256, 'png'],
  [640, 480, 'jpeg'],
  [1920, 1080, 'jpeg'],
  [4032, 3024, 'jpeg'],
];
for (const [w, h, format] of shapes) {
  const bytes = await photo(w, h, format);
  const figures: string[] = [];
  for (const [name, run] of pipelines) figures.push(`${name} ${(await rate(run, bytes)).toFixed(1)}`);
  console.log(`${w}x${h} ${format} -> ${size}: images/s, one at a time: ${figures.join(', ')}`);
}
