// Image bytes <-> model tensors with sharp: sniffing, limits, EXIF orientation, the paper's
// resize-short-side + centre-crop, [-1, 1] scaling; and decoder output -> PNG/WebP.
import { ApiError } from '@gigatok/shared';
import sharp from 'sharp';

/** Descriptor of the preprocessing below; part of the tokenize cache key (`tki_…`), so bump it on change. */
export const PREPROCESSING = 'resize-short-center-crop/v1';

export type ImageType = 'png' | 'jpeg' | 'webp';
export type OutputFormat = 'png' | 'webp';

export interface ImageLimits {
  /** Largest accepted encoded image, in bytes. */
  maxImageBytes: number;
  /** Largest accepted width x height before decoding (decompression-bomb guard). */
  maxImagePixels: number;
}

/** The image type from the first bytes (magic numbers), never from a header or file name. */
export function sniffImageType(bytes: Uint8Array): ImageType | undefined {
  const b = bytes;
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 && b[4] === 0x0d) {
    return 'png';
  }
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (
    b.length >= 12 &&
    b[0] === 0x52 && // R
    b[1] === 0x49 && // I
    b[2] === 0x46 && // F
    b[3] === 0x46 && // F
    b[8] === 0x57 && // W
    b[9] === 0x45 && // E
    b[10] === 0x42 && // B
    b[11] === 0x50 // P
  ) {
    return 'webp';
  }
  return undefined;
}

/**
 * One image -> float32 CHW RGB in [-1, 1] (x / 127.5 - 1, as GigaTok's training transform), written
 * into `out` at `offset`. Steps: sniff type; reject over-limit bytes and (from the header, before
 * decoding) over-limit pixel counts; apply EXIF orientation; flatten alpha onto white (a transparent
 * background reads as paper, which is what an RGB-only tokenizer can represent best); resize so the
 * short side equals `size` (Lanczos-3, antialiased) and crop the centre `size` x `size` (the paper's
 * centre-crop preprocessing).
 */
export async function preprocessImage(
  bytes: Uint8Array,
  size: number,
  limits: ImageLimits,
  field: string,
  out: Float32Array,
  offset: number,
): Promise<void> {
  if (bytes.length > limits.maxImageBytes) {
    throw new ApiError(
      'image_too_large',
      `'${field}' is ${bytes.length} bytes, the limit is ${limits.maxImageBytes}`,
      {
        field,
        limit: limits.maxImageBytes,
      },
    );
  }
  const type = sniffImageType(bytes);
  if (type === undefined) {
    throw new ApiError('unsupported_media_type', `'${field}' is not a PNG, JPEG or WebP image`, { field });
  }
  let pixels: Buffer;
  try {
    const header = await sharp(bytes, { limitInputPixels: false }).metadata();
    const count = (header.width ?? 0) * (header.height ?? 0);
    if (count > limits.maxImagePixels) {
      throw new ApiError(
        'image_too_large',
        `'${field}' is ${header.width}x${header.height} pixels, the limit is ${limits.maxImagePixels} pixels`,
        { field, limit: limits.maxImagePixels },
      );
    }
    pixels = await sharp(bytes, { limitInputPixels: limits.maxImagePixels, failOn: 'error' })
      .rotate()
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .resize(size, size, { fit: 'cover', position: 'centre', kernel: 'lanczos3' })
      .removeAlpha()
      .raw()
      .toBuffer();
  } catch (error) {
    if (error instanceof ApiError) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    if (/pixel limit/i.test(reason)) {
      throw new ApiError('image_too_large', `'${field}' exceeds ${limits.maxImagePixels} pixels`, {
        field,
        limit: limits.maxImagePixels,
      });
    }
    throw new ApiError(
      'invalid_image',
      `'${field}' is not a readable ${type.toUpperCase()} image: ${reason}`,
      { field },
    );
  }
  const plane = size * size;
  if (pixels.length !== plane * 3) {
    throw new ApiError('invalid_image', `'${field}' decoded to an unexpected pixel layout`, { field });
  }
  // HWC uint8 -> CHW float32 in [-1, 1].
  for (let i = 0; i < plane; i++) {
    out[offset + i] = pixels[i * 3]! / 127.5 - 1;
    out[offset + plane + i] = pixels[i * 3 + 1]! / 127.5 - 1;
    out[offset + 2 * plane + i] = pixels[i * 3 + 2]! / 127.5 - 1;
  }
}

/**
 * Decoder output for one image (CHW float32 at `offset`) -> HWC uint8, as GigaTok's
 * `clamp(127.5 * x + 128, 0, 255).to(uint8)` (truncation); NaN becomes 0.
 */
export function toPixels(image: Float32Array, offset: number, size: number): Uint8Array {
  const plane = size * size;
  const pixels = new Uint8Array(plane * 3);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < plane; i++) {
      const x = image[offset + c * plane + i]!;
      const clamped = Math.min(1, Math.max(-1, x));
      const v = Math.trunc(127.5 * clamped + 128);
      pixels[i * 3 + c] = Number.isNaN(v) ? 0 : Math.min(v, 255);
    }
  }
  return pixels;
}

/** HWC uint8 RGB -> PNG, or lossless WebP (the same pixels, so both formats decode identically). */
export async function encodeImage(
  pixels: Uint8Array,
  size: number,
  format: OutputFormat,
): Promise<Uint8Array> {
  const img = sharp(pixels, { raw: { width: size, height: size, channels: 3 } });
  const buf =
    format === 'png'
      ? await img.png({ compressionLevel: 6 }).toBuffer()
      : await img.webp({ lossless: true }).toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}
