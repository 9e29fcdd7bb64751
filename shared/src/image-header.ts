// An image's width and height read from its header bytes (PNG IHDR, JPEG start-of-frame, WebP VP8/VP8L/
// VP8X), and the geometry limits both the Worker and the backend check with them before anything is
// decoded: total pixels, longest side, aspect ratio. A tiny file can claim a huge or extreme canvas;
// refusing it from the header costs nothing, decoding or resizing it could cost gigabytes.
import { ApiError, ErrorCode } from './errors.ts';
import { LIMITS } from './limits.ts';

export interface ImageSize {
  width: number;
  height: number;
}

const be16 = (b: Uint8Array, i: number): number => (b[i]! << 8) | b[i + 1]!;
const be32 = (b: Uint8Array, i: number): number => be16(b, i) * 0x10000 + be16(b, i + 2);
const le16 = (b: Uint8Array, i: number): number => b[i]! | (b[i + 1]! << 8);
const le24 = (b: Uint8Array, i: number): number => le16(b, i) | (b[i + 2]! << 16);
const tag = (b: Uint8Array, i: number): string => String.fromCharCode(b[i]!, b[i + 1]!, b[i + 2]!, b[i + 3]!);

/** PNG spec section 11.2.2: IHDR is the first chunk; width and height are big-endian at 16 and 20. */
function pngSize(b: Uint8Array): ImageSize | null {
  if (b.length < 24 || tag(b, 12) !== 'IHDR') return null;
  return { width: be32(b, 16), height: be32(b, 20) };
}

/** Start-of-frame markers (ITU T.81 table B.1): SOF0-3, 5-7, 9-11, 13-15; C4, C8 and CC are not frames. */
const isStartOfFrame = (m: number): boolean =>
  m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;

/** ITU T.81 B.2: walk the marker segments to the first frame header; Y (height) then X (width). */
function jpegSize(b: Uint8Array): ImageSize | null {
  let i = 2;
  while (i + 4 <= b.length) {
    if (b[i] !== 0xff) return null;
    const marker = b[i + 1]!;
    if (marker === 0xff) {
      i += 1; // fill byte
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) {
      i += 2; // markers without a length
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) return null; // end of image or scan data before any frame
    const length = be16(b, i + 2);
    if (isStartOfFrame(marker)) {
      if (i + 9 > b.length || length < 7) return null;
      return { width: be16(b, i + 7), height: be16(b, i + 5) };
    }
    i += 2 + length;
  }
  return null;
}

/** RFC 9649 (WebP): the first chunk is VP8 (lossy), VP8L (lossless) or VP8X (extended canvas). */
function webpSize(b: Uint8Array): ImageSize | null {
  if (b.length < 30) return null;
  const chunk = tag(b, 12);
  if (chunk === 'VP8 ') {
    // Frame tag (3 bytes) and start code 9d 01 2a, then 14-bit width and height.
    if (b[23] !== 0x9d || b[24] !== 0x01 || b[25] !== 0x2a) return null;
    return { width: le16(b, 26) & 0x3fff, height: le16(b, 28) & 0x3fff };
  }
  if (chunk === 'VP8L') {
    if (b[20] !== 0x2f) return null;
    const bits = b[21]! | (b[22]! << 8) | (b[23]! << 16) | (b[24]! << 24);
    return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
  }
  if (chunk === 'VP8X') return { width: le24(b, 24) + 1, height: le24(b, 27) + 1 };
  return null;
}

/**
 * Width and height from the header of a PNG, JPEG or WebP file (the accepted types), or null when the
 * header is not one of them or is cut short. For JPEG this is the stored frame, before any EXIF rotation.
 */
export function readImageSize(bytes: Uint8Array): ImageSize | null {
  if (bytes.length >= 8 && bytes[0] === 0x89 && tag(bytes, 1) === 'PNG\r') return pngSize(bytes);
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff)
    return jpegSize(bytes);
  if (bytes.length >= 12 && tag(bytes, 0) === 'RIFF' && tag(bytes, 8) === 'WEBP') return webpSize(bytes);
  return null;
}

/**
 * The 4xx answer for an image of `size` in `field`, or null when it is within the limits: more pixels
 * than `maxPixels` -> 413 image_too_large; a side over LIMITS.maxImageSide or a long:short ratio over
 * LIMITS.maxImageAspectRatio -> 422 image_dimensions_unsupported. Each names its limit.
 */
export function imageGeometryProblem(
  size: ImageSize,
  field: string,
  maxPixels: number = LIMITS.maxImagePixels,
): ApiError | null {
  const { width, height } = size;
  const shape = `${width}x${height}`;
  if (width < 1 || height < 1) {
    return new ApiError(ErrorCode.invalid_image, `'${field}' claims a ${shape} canvas`, { field });
  }
  if (width * height > maxPixels) {
    return new ApiError(
      ErrorCode.image_too_large,
      `'${field}' is ${shape} pixels, the limit is ${maxPixels} pixels`,
      { field, limit: maxPixels },
    );
  }
  const side = Math.max(width, height);
  if (side > LIMITS.maxImageSide) {
    return new ApiError(
      ErrorCode.image_dimensions_unsupported,
      `'${field}' is ${shape}: its longest side is ${side} pixels, the limit (maxImageSide) is ${LIMITS.maxImageSide}`,
      { field, limit: LIMITS.maxImageSide },
    );
  }
  const ratio = side / Math.min(width, height);
  if (ratio > LIMITS.maxImageAspectRatio) {
    return new ApiError(
      ErrorCode.image_dimensions_unsupported,
      `'${field}' is ${shape}: its aspect ratio is ${+ratio.toFixed(2)}:1, the limit (maxImageAspectRatio) is ${LIMITS.maxImageAspectRatio}:1`,
      { field, limit: LIMITS.maxImageAspectRatio },
    );
  }
  return null;
}
