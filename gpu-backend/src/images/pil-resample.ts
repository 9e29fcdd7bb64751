// The official GigaTok/ADM image transform on 8-bit RGB pixels, bit for bit: `center_crop_arr`
// (halve with a box filter while the short side is at least twice the target, bicubic-resize the short
// side to the target, crop the centre with floored offsets), where each resize is Pillow's separable
// two-pass convolution (Resample.c: horizontal pass, then vertical; coefficients in 22-bit fixed
// point; every pass rounds and clips to uint8). Written from Pillow's documented algorithm and checked
// against Pillow itself by the goldens in test/fixtures/preprocess (made by
// model/scripts/make_preprocess_goldens.py).

/** Interleaved 8-bit RGB, row-major. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** A resampling filter as Pillow defines it: a kernel and its support at scale 1. */
interface Filter {
  support: number;
  weight(x: number): number;
}

/** Pillow's BOX: 1 on (-0.5, 0.5]. */
const BOX: Filter = { support: 0.5, weight: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) };

/** Pillow's BICUBIC: Keys' cubic convolution with a = -0.5. */
const BICUBIC: Filter = {
  support: 2,
  weight(x) {
    const a = -0.5;
    const t = Math.abs(x);
    if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
    if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
    return 0;
  },
};

/** Fixed-point fraction bits of Pillow's 8-bit resampling (32 - 8 - 2: room for overshoot and sign). */
const PRECISION_BITS = 22;
const ONE = 1 << PRECISION_BITS;
const HALF = 1 << (PRECISION_BITS - 1);

/** The taps of one axis: for output i, `count[i]` input samples from `first[i]` with weights at `i * taps`. */
interface AxisTaps {
  taps: number;
  first: Int32Array;
  count: Int32Array;
  weights: Int32Array;
}

/**
 * Coefficients mapping `inSize` samples onto `outSize` (Pillow's precompute_coeffs and
 * normalize_coeffs_8bpc): the kernel widens by the downscale factor, each output's weights are
 * normalised to sum 1 in double precision, then rounded half away from zero to 22-bit integers. Only
 * outputs `from` .. `from + n - 1` are computed; each depends on nothing but its own index.
 */
function axisTaps(inSize: number, outSize: number, filter: Filter, from: number, n: number): AxisTaps {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filter.support * filterScale;
  const taps = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(n);
  const count = new Int32Array(n);
  const weights = new Int32Array(n * taps);
  const raw = new Float64Array(taps);
  const inv = 1 / filterScale;
  for (let j = 0; j < n; j++) {
    const centre = (from + j + 0.5) * scale;
    // C's (int) cast truncates toward zero; both bounds are then clamped into the input.
    const lo = Math.max(Math.trunc(centre - support + 0.5), 0);
    const hi = Math.min(Math.trunc(centre + support + 0.5), inSize);
    const m = hi - lo;
    let sum = 0;
    for (let t = 0; t < m; t++) {
      const w = filter.weight((t + lo - centre + 0.5) * inv);
      raw[t] = w;
      sum += w;
    }
    for (let t = 0; t < m; t++) {
      const w = sum !== 0 ? raw[t]! / sum : raw[t]!;
      weights[j * taps + t] = w < 0 ? Math.trunc(-0.5 + w * ONE) : Math.trunc(0.5 + w * ONE);
    }
    first[j] = lo;
    count[j] = m;
  }
  return { taps, first, count, weights };
}

/** Pillow's clip8: the accumulated sum (with its rounding bias) shifted down and clamped to a byte. */
function clip8(sum: number): number {
  const v = sum >> PRECISION_BITS;
  return v < 0 ? 0 : Math.min(v, 255);
}

/** Output columns `x0 .. x0 + w - 1` of a horizontal resize to `outWidth`, for input rows `y0 .. y1 - 1`. */
function horizontalPass(
  src: RgbImage,
  outWidth: number,
  filter: Filter,
  x0: number,
  w: number,
  y0: number,
  y1: number,
): RgbImage {
  const rows = y1 - y0;
  const out = new Uint8Array(w * rows * 3);
  const input = src.data;
  const stride = src.width * 3;
  if (filter === BOX && src.width === 2 * outWidth) {
    // Exact halving: both weights are 1/2 (2^21 in fixed point), so each output is (a + b + 1) >> 1.
    for (let y = 0; y < rows; y++) {
      let p = (y + y0) * stride + 6 * x0;
      let o = y * w * 3;
      for (let x = 0; x < w; x++) {
        out[o] = (input[p]! + input[p + 3]! + 1) >> 1;
        out[o + 1] = (input[p + 1]! + input[p + 4]! + 1) >> 1;
        out[o + 2] = (input[p + 2]! + input[p + 5]! + 1) >> 1;
        o += 3;
        p += 6;
      }
    }
    return { width: w, height: rows, data: out };
  }
  const { taps, first, count, weights } = axisTaps(src.width, outWidth, filter, x0, w);
  for (let y = 0; y < rows; y++) {
    const row = (y + y0) * stride;
    let o = y * w * 3;
    for (let x = 0; x < w; x++) {
      const k = x * taps;
      const m = count[x]!;
      let p = row + first[x]! * 3;
      let r = HALF;
      let g = HALF;
      let b = HALF;
      for (let t = 0; t < m; t++) {
        const c = weights[k + t]!;
        r = (r + Math.imul(input[p]!, c)) | 0;
        g = (g + Math.imul(input[p + 1]!, c)) | 0;
        b = (b + Math.imul(input[p + 2]!, c)) | 0;
        p += 3;
      }
      out[o++] = clip8(r);
      out[o++] = clip8(g);
      out[o++] = clip8(b);
    }
  }
  return { width: w, height: rows, data: out };
}

/** Output rows `y0 .. y0 + h - 1` of a vertical resize of `inHeight` rows to `outHeight`; `src` starts at row `offset`. */
function verticalPass(
  src: RgbImage,
  inHeight: number,
  outHeight: number,
  filter: Filter,
  y0: number,
  h: number,
  offset: number,
): RgbImage {
  const stride = src.width * 3;
  const out = new Uint8Array(stride * h);
  const input = src.data;
  if (filter === BOX && inHeight === 2 * outHeight) {
    // Exact halving: both weights are 1/2 (2^21 in fixed point), so each output is (a + b + 1) >> 1.
    for (let y = 0; y < h; y++) {
      const top = (2 * (y0 + y) - offset) * stride;
      const o = y * stride;
      for (let i = 0; i < stride; i++) out[o + i] = (input[top + i]! + input[top + stride + i]! + 1) >> 1;
    }
    return { width: src.width, height: h, data: out };
  }
  const { taps, first, count, weights } = axisTaps(inHeight, outHeight, filter, y0, h);
  // Row-wise accumulation (one input row times one weight at a time) reads memory in order. The sums
  // stay in int32, as Pillow's int accumulators (a byte times a 22-bit weight, summed, is below 2^31).
  const acc = new Int32Array(stride);
  for (let y = 0; y < h; y++) {
    acc.fill(HALF);
    const k = y * taps;
    const m = count[y]!;
    let row = (first[y]! - offset) * stride;
    for (let t = 0; t < m; t++) {
      const c = weights[k + t]!;
      for (let i = 0; i < stride; i++) acc[i] = acc[i]! + Math.imul(input[row + i]!, c);
      row += stride;
    }
    const o = y * stride;
    for (let i = 0; i < stride; i++) out[o + i] = clip8(acc[i]!);
  }
  return { width: src.width, height: h, data: out };
}

/** The part of an output image to compute: columns `x .. x + width - 1`, rows `y .. y + height - 1`. */
interface Window {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * `Image.resize((width, height), filter)` of an RGB image, or only `window` of its result. Pillow skips
 * a pass whose axis keeps its size, and runs the horizontal pass only over the input rows the vertical
 * pass reads; a window does the same for its own rows and columns, which leaves every computed pixel
 * unchanged.
 */
function resize(
  src: RgbImage,
  width: number,
  height: number,
  filter: Filter,
  window: Window = { x: 0, y: 0, width, height },
): RgbImage {
  if (filter === BOX && src.width === 2 * width && src.height === 2 * height) {
    return halve(src, window);
  }
  const needH = width !== src.width;
  const needV = height !== src.height;
  let rowFrom = window.y;
  let rowTo = window.y + window.height;
  if (needV) {
    const vert = axisTaps(src.height, height, filter, window.y, window.height);
    rowFrom = vert.first[0]!;
    rowTo = vert.first[window.height - 1]! + vert.count[window.height - 1]!;
  }
  let image = needH
    ? horizontalPass(src, width, filter, window.x, window.width, rowFrom, rowTo)
    : cropRows(src, window.x, window.width, rowFrom, rowTo);
  if (needV) image = verticalPass(image, src.height, height, filter, window.y, window.height, rowFrom);
  return image;
}

/**
 * An exact halving of both sides with the box filter, both passes in one: every weight is 1/2 (2^21 in
 * fixed point), so the horizontal pass gives (a + b + 1) >> 1 and the vertical pass the same of two of
 * those, the intermediate rounding kept.
 */
function halve(src: RgbImage, window: Window): RgbImage {
  const { width: w, height: h } = window;
  const out = new Uint8Array(w * h * 3);
  const input = src.data;
  const stride = src.width * 3;
  let o = 0;
  for (let y = 0; y < h; y++) {
    let p = 2 * (window.y + y) * stride + 6 * window.x;
    for (let x = 0; x < w * 3; x += 3) {
      for (let c = 0; c < 3; c++) {
        const top = (input[p + c]! + input[p + c + 3]! + 1) >> 1;
        const bottom = (input[p + stride + c]! + input[p + stride + c + 3]! + 1) >> 1;
        out[o++] = (top + bottom + 1) >> 1;
      }
      p += 6;
    }
  }
  return { width: w, height: h, data: out };
}

/** Columns `x0 .. x0 + w - 1` of rows `y0 .. y1 - 1`, copied. */
function cropRows(src: RgbImage, x0: number, w: number, y0: number, y1: number): RgbImage {
  if (x0 === 0 && w === src.width && y0 === 0 && y1 === src.height) return src;
  const out = new Uint8Array(w * (y1 - y0) * 3);
  for (let y = y0; y < y1; y++) {
    const start = (y * src.width + x0) * 3;
    out.set(src.data.subarray(start, start + w * 3), (y - y0) * w * 3);
  }
  return { width: w, height: y1 - y0, data: out };
}

/** Python 3's round() of a double: to the nearest integer, ties to even. */
export function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** The steps `centerCropArr` takes for an image of this size: the box halvings, then the bicubic size and crop. */
export interface CropPlan {
  /** Sizes after each box halving, in order (empty when none). */
  halvings: { width: number; height: number }[];
  /** Size of the bicubic resize (its short side is `size`). */
  resized: { width: number; height: number };
  /** Top-left of the `size` x `size` crop in the resized image. */
  crop: { x: number; y: number };
}

/** ADM's center_crop_arr arithmetic, without touching pixels: Python's `//`, `round` and `/` on doubles. */
export function cropPlan(width: number, height: number, size: number): CropPlan {
  const halvings: { width: number; height: number }[] = [];
  let w = width;
  let h = height;
  while (Math.min(w, h) >= 2 * size) {
    w = Math.floor(w / 2);
    h = Math.floor(h / 2);
    halvings.push({ width: w, height: h });
  }
  const scale = size / Math.min(w, h);
  const resized = { width: roundHalfEven(w * scale), height: roundHalfEven(h * scale) };
  const crop = {
    x: Math.floor((resized.width - size) / 2),
    y: Math.floor((resized.height - size) / 2),
  };
  return { halvings, resized, crop };
}

/**
 * ADM's `center_crop_arr(pil_image, size)` on RGB pixels, the transform GigaTok's data pipeline uses:
 * the result is the `size` x `size` RGB image the official code would hand to ToTensor.
 */
export function centerCropArr(src: RgbImage, size: number): RgbImage {
  const plan = cropPlan(src.width, src.height, size);
  let image = src;
  for (const half of plan.halvings) image = resize(image, half.width, half.height, BOX);
  const { resized, crop } = plan;
  // Pillow returns a copy when the size is unchanged, so a same-size "resize" is just the crop.
  return resize(image, resized.width, resized.height, BICUBIC, {
    x: crop.x,
    y: crop.y,
    width: size,
    height: size,
  });
}
