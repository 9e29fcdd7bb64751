// The views the official code extractor (LlamaGen/GigaTok autoregressive/train/extract_codes_c2i.py)
// encodes per image, on uint8 HWC pixels: `flip` = [the centre crop, its horizontal mirror];
// `ten_crop` = torchvision's TenCrop(S) of center_crop_arr at int(S * 1.1): the four corners and the
// centre, then the same five of the mirrored image. The facts and their source: docs/model-contract.md.
import type { Augmentation } from '@gigatok/shared';
import { roundHalfEven } from './pil-resample.ts';

/** The extractor's default `--crop-range`: ten_crop first centre-crops to int(S * 1.1). */
const TEN_CROP_RANGE = 1.1;

/** The side of the centre crop the views are cut from: S, or int(S * 1.1) for ten_crop (281 at 256). */
export function sourceSize(augmentation: Augmentation, imageSize: number): number {
  return augmentation === 'ten_crop' ? Math.trunc(imageSize * TEN_CROP_RANGE) : imageSize;
}

/** A horizontal mirror of a square `side` x `side` HWC RGB image (torch.flip(x, dims=[-1])). */
export function mirror(pixels: Uint8Array, side: number): Uint8Array {
  const out = new Uint8Array(pixels.length);
  for (let y = 0; y < side; y++) {
    const row = y * side * 3;
    for (let x = 0; x < side; x++) {
      const from = row + x * 3;
      const to = row + (side - 1 - x) * 3;
      out[to] = pixels[from]!;
      out[to + 1] = pixels[from + 1]!;
      out[to + 2] = pixels[from + 2]!;
    }
  }
  return out;
}

/** The `size` x `size` window at (left, top) of a square `side` x `side` HWC RGB image. */
function window(pixels: Uint8Array, side: number, left: number, top: number, size: number): Uint8Array {
  const out = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    const start = ((top + y) * side + left) * 3;
    out.set(pixels.subarray(start, start + size * 3), y * size * 3);
  }
  return out;
}

/**
 * torchvision's five_crop: top-left, top-right, bottom-left, bottom-right, centre. The centre offset is
 * torchvision's center_crop, int(round((side - size) / 2.0)) with Python's round (ties to even: 12 for
 * 281 -> 256); the corners are exact.
 */
function fiveCrop(pixels: Uint8Array, side: number, size: number): Uint8Array[] {
  const far = side - size;
  const centre = roundHalfEven(far / 2);
  return [
    window(pixels, side, 0, 0, size),
    window(pixels, side, far, 0, size),
    window(pixels, side, 0, far, size),
    window(pixels, side, far, far, size),
    window(pixels, side, centre, centre, size),
  ];
}

/**
 * The views of one centre-cropped image (`side` = sourceSize(augmentation, size)), each `size` x `size`
 * HWC RGB, in the extractor's order.
 */
export function augmentationViews(
  pixels: Uint8Array,
  side: number,
  augmentation: Augmentation,
  size: number,
): Uint8Array[] {
  if (pixels.length !== side * side * 3) {
    throw new Error(`expected ${side}x${side} RGB pixels (${side * side * 3} bytes), got ${pixels.length}`);
  }
  switch (augmentation) {
    case 'none':
      return [pixels];
    case 'flip':
      return [pixels, mirror(pixels, side)];
    case 'ten_crop':
      return [...fiveCrop(pixels, side, size), ...fiveCrop(mirror(pixels, side), side, size)];
  }
}
