// Image bytes <-> model tensors with sharp: the accepted types (shared's sniffing), limits, EXIF
// orientation, the paper's resize-short-side + centre-crop, [-1, 1] scaling; and decoder output ->
// PNG/WebP. The steps below are shared's PREPROCESSING_VERSION, part of the Worker's tokenize keys:
// a change here is a new version there.
import { ApiError, IMAGE_TYPE_NAMES, requireAcceptedImage } from '@gigatok/shared';
import sharp from 'sharp';

export type OutputFormat = 'png' | 'webp';

export interface ImageLimits {
  /** Largest accepted encoded image, in bytes. */
  maxImageBytes: number;
  /** Largest accepted width x height before decoding (decompression-bomb guard). */
  maxImagePixels: number;
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
  // The accepted types and the words of the refusal are shared's, so the Worker and this server agree.
  const type = requireAcceptedImage(bytes, field);
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
      `'${field}' is not a readable ${IMAGE_TYPE_NAMES[type]} image: ${reason}`,
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
