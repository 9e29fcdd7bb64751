// Image bytes <-> model tensors: the accepted types (shared's sniffing), size and geometry limits from
// the header before decoding, decoding with sharp as the preprocessing mode asks, the official
// GigaTok/ADM resize and centre crop (pil-resample.ts, Pillow-exact), ToTensor + Normalize(0.5, 0.5);
// and decoder output -> PNG/WebP. What this does to an image is shared's PREPROCESSING_VERSION, part of
// the Worker's tokenize keys: a change here is a new version there.
import {
  ApiError,
  DEFAULT_PREPROCESSING,
  IMAGE_TYPE_NAMES,
  type ImageSize,
  imageGeometryProblem,
  type PreprocessingMode,
  readImageSize,
  requireAcceptedImage,
} from '@gigatok/shared';
import sharp from 'sharp';
import { cropPlan, type RgbImage } from './pil-resample.ts';
import { cropRgb } from './resample-pool.ts';

export type OutputFormat = 'png' | 'webp';

export interface ImageLimits {
  /** Largest accepted encoded image, in bytes. */
  maxImageBytes: number;
  /** Largest accepted width x height before decoding (decompression-bomb guard). */
  maxImagePixels: number;
}

/**
 * The float32 each byte value becomes: torchvision's ToTensor (`x.float().div(255)`) then
 * Normalize(0.5, 0.5) (`.sub_(0.5).div_(0.5)`), every step rounded to float32 as torch does.
 */
export const NORMALIZED_VALUES = Float32Array.from({ length: 256 }, (_, v) => {
  const unit = Math.fround(v / 255);
  return Math.fround(Math.fround(unit - 0.5) / 0.5);
});

/** Width and height from the header: shared's reader, or sharp's for a header it cannot parse. */
async function headerSize(bytes: Uint8Array): Promise<ImageSize> {
  const size = readImageSize(bytes);
  if (size) return size;
  const header = await sharp(bytes, { limitInputPixels: false }).metadata();
  return { width: header.width ?? 0, height: header.height ?? 0 };
}

/**
 * The file's pixels as 8-bit RGB, read the way `mode` says (shared/src/preprocessing.ts). `official`
 * matches Pillow's `Image.open().convert('RGB')`: stored orientation, colour profile ignored, alpha
 * dropped, grey repeated into three channels. `normalized` applies EXIF orientation, composites alpha
 * onto white and converts to sRGB.
 */
async function decodeRgb(bytes: Uint8Array, mode: PreprocessingMode, limits: ImageLimits): Promise<RgbImage> {
  const official = mode === 'official';
  let img = sharp(bytes, {
    limitInputPixels: limits.maxImagePixels,
    failOn: 'error',
    ignoreIcc: official,
  });
  img = official
    ? img.toColourspace('srgb').removeAlpha()
    : img.rotate().flatten({ background: '#ffffff' }).toColourspace('srgb');
  const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels, expected 3`);
  return {
    width: info.width,
    height: info.height,
    data: new Uint8Array(data.buffer, data.byteOffset, data.length),
  };
}

/**
 * One image file -> the `size` x `size` HWC uint8 RGB the official transform crops from it. Steps:
 * sniff type; refuse over-limit bytes, and from the header before decoding over-limit pixel counts,
 * sides and aspect ratios; decode as `mode` says; ADM's center_crop_arr with Pillow's box and bicubic
 * filters, bit for bit.
 */
export async function cropPixels(
  bytes: Uint8Array,
  size: number,
  limits: ImageLimits,
  field: string,
  mode: PreprocessingMode = DEFAULT_PREPROCESSING,
): Promise<Uint8Array> {
  if (bytes.length > limits.maxImageBytes) {
    throw new ApiError(
      'image_too_large',
      `'${field}' is ${bytes.length} bytes, the limit is ${limits.maxImageBytes}`,
      { field, limit: limits.maxImageBytes },
    );
  }
  // The accepted types, the geometry limits and the words of the refusals are shared's, so the Worker
  // and this server agree.
  const type = requireAcceptedImage(bytes, field);
  let rgb: RgbImage;
  try {
    const refused = imageGeometryProblem(await headerSize(bytes), field, limits.maxImagePixels);
    if (refused) throw refused;
    rgb = await decodeRgb(bytes, mode, limits);
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
  try {
    return await cropRgb(rgb, size);
  } catch (error) {
    // Only when memory runs out or the resampling thread dies: the geometry limits bound every
    // intermediate size.
    const { resized } = cropPlan(rgb.width, rgb.height, size);
    const reason = error instanceof Error ? error.message : String(error);
    throw new ApiError(
      'image_resize_failed',
      `'${field}' (${rgb.width}x${rgb.height}) could not be resized to ${resized.width}x${resized.height}: ${reason}`,
      { field },
    );
  }
}

/**
 * One image -> float32 CHW RGB as ToTensor + Normalize(0.5, 0.5) (cropPixels, then NORMALIZED_VALUES),
 * written into `out` at `offset`.
 */
export async function preprocessImage(
  bytes: Uint8Array,
  size: number,
  limits: ImageLimits,
  field: string,
  out: Float32Array,
  offset: number,
  mode: PreprocessingMode = DEFAULT_PREPROCESSING,
): Promise<void> {
  normalizeInto(await cropPixels(bytes, size, limits, field, mode), size, out, offset);
}

/** `size` x `size` HWC uint8 RGB -> float32 CHW through NORMALIZED_VALUES, written into `out` at `offset`. */
export function normalizeInto(pixels: Uint8Array, size: number, out: Float32Array, offset: number): void {
  const plane = size * size;
  for (let i = 0; i < plane; i++) {
    out[offset + i] = NORMALIZED_VALUES[pixels[i * 3]!]!;
    out[offset + plane + i] = NORMALIZED_VALUES[pixels[i * 3 + 1]!]!;
    out[offset + 2 * plane + i] = NORMALIZED_VALUES[pixels[i * 3 + 2]!]!;
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
