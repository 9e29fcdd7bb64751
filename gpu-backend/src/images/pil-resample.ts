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

/**
 * Part of a larger (virtual) image: `image` holds the columns `x ..` and rows `y ..` of it. Every
 * stage below reads and writes such windows, so only pixels the final crop depends on are computed.
 */
interface Placed {
  image: RgbImage;
  x: number;
  y: number;
}

/** A rectangle of a stage's output: columns `x .. x + width - 1`, rows `y .. y + height - 1`. */
interface Window {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * The input samples `[lo, hi)` that outputs `from .. from + n - 1` of one axis read: themselves when
 * the size is kept (Pillow skips that pass), `2 from .. 2 (from + n)` for an exact box halving, else
 * the span of their taps.
 */
function inputSpan(
  inSize: number,
  outSize: number,
  filter: Filter,
  from: number,
  n: number,
): [number, number] {
  if (inSize === outSize) return [from, from + n];
  if (filter === BOX && inSize === 2 * outSize) return [2 * from, 2 * (from + n)];
  const { first, count } = axisTaps(inSize, outSize, filter, from, n);
  return [first[0]!, first[n - 1]! + count[n - 1]!];
}

/**
 * Horizontal pass: output columns `x0 .. x0 + w - 1` of a resize of `inWidth` columns to `outWidth`,
 * for rows `y0 .. y1 - 1` of `src`.
 */
function horizontalPass(
  src: Placed,
  inWidth: number,
  outWidth: number,
  filter: Filter,
  x0: number,
  w: number,
  y0: number,
  y1: number,
): RgbImage {
  const rows = y1 - y0;
  const out = new Uint8Array(w * rows * 3);
  const input = src.image.data;
  const stride = src.image.width * 3;
  const left = -src.x * 3;
  if (filter === BOX && inWidth === 2 * outWidth) {
    // Exact halving: both weights are 1/2 (2^21 in fixed point), so each output is (a + b + 1) >> 1.
    for (let y = 0; y < rows; y++) {
      let p = (y + y0 - src.y) * stride + left + 6 * x0;
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
  const { taps, first, count, weights } = axisTaps(inWidth, outWidth, filter, x0, w);
  for (let y = 0; y < rows; y++) {
    const row = (y + y0 - src.y) * stride + left;
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

/**
 * Vertical pass: output rows `y0 .. y0 + h - 1` of a resize of `inHeight` rows to `outHeight`; `src`
 * holds input rows from `offset` on, every column of the result.
 */
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

/**
 * `window` of `Image.resize((width, height), filter)` applied to an `inWidth` x `inHeight` image of
 * which `src` holds at least the part the window reads. Pillow skips a pass whose axis keeps its
 * size, and runs the horizontal pass only over the input rows the vertical pass reads; a window does
 * the same for its own rows and columns, which leaves every computed pixel unchanged.
 */
function resize(
  src: Placed,
  inWidth: number,
  inHeight: number,
  width: number,
  height: number,
  filter: Filter,
  window: Window,
): RgbImage {
  if (filter === BOX && inWidth === 2 * width && inHeight === 2 * height) return halve(src, window);
  const [rowFrom, rowTo] = inputSpan(inHeight, height, filter, window.y, window.height);
  const image =
    width !== inWidth
      ? horizontalPass(src, inWidth, width, filter, window.x, window.width, rowFrom, rowTo)
      : cropRows(src, window.x, window.width, rowFrom, rowTo);
  if (height === inHeight) return image;
  return verticalPass(image, inHeight, height, filter, window.y, window.height, rowFrom);
}

/**
 * An exact halving of both sides with the box filter, both passes in one: every weight is 1/2 (2^21 in
 * fixed point), so the horizontal pass gives (a + b + 1) >> 1 and the vertical pass the same of two of
 * those, the intermediate rounding kept.
 */
function halve(src: Placed, window: Window): RgbImage {
  const { width: w, height: h } = window;
  const out = new Uint8Array(w * h * 3);
  const input = src.image.data;
  const stride = src.image.width * 3;
  let o = 0;
  for (let y = 0; y < h; y++) {
    let p = (2 * (window.y + y) - src.y) * stride + (2 * window.x - src.x) * 3;
    for (let x = 0; x < w; x++) {
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

/** Columns `x0 .. x0 + w - 1` of rows `y0 .. y1 - 1` of the virtual image `src` is part of, copied. */
function cropRows(src: Placed, x0: number, w: number, y0: number, y1: number): RgbImage {
  const { image } = src;
  if (x0 === src.x && w === image.width && y0 === src.y && y1 - y0 === image.height) return image;
  const out = new Uint8Array(w * (y1 - y0) * 3);
  for (let y = y0; y < y1; y++) {
    const start = ((y - src.y) * image.width + (x0 - src.x)) * 3;
    out.set(image.data.subarray(start, start + w * 3), (y - y0) * w * 3);
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
 * the result is the `size` x `size` RGB image the official code would hand to ToTensor. Working
 * backwards from the crop, each stage computes only the window of its output the next stage reads
 * (for a 16:9 photo, a little over half the columns of every box halving).
 */
export function centerCropArr(src: RgbImage, size: number): RgbImage {
  const plan = cropPlan(src.width, src.height, size);
  const stages: { inW: number; inH: number; outW: number; outH: number; filter: Filter }[] = [];
  let w = src.width;
  let h = src.height;
  for (const half of plan.halvings) {
    stages.push({ inW: w, inH: h, outW: half.width, outH: half.height, filter: BOX });
    w = half.width;
    h = half.height;
  }
  // Pillow returns a copy when the size is unchanged, so a same-size bicubic "resize" is just the crop.
  stages.push({ inW: w, inH: h, outW: plan.resized.width, outH: plan.resized.height, filter: BICUBIC });
  const windows: Window[] = new Array(stages.length);
  let need: Window = { x: plan.crop.x, y: plan.crop.y, width: size, height: size };
  for (let i = stages.length - 1; i >= 0; i--) {
    const stage = stages[i]!;
    windows[i] = need;
    const [x0, x1] = inputSpan(stage.inW, stage.outW, stage.filter, need.x, need.width);
    const [y0, y1] = inputSpan(stage.inH, stage.outH, stage.filter, need.y, need.height);
    need = { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
  }
  let placed: Placed = { image: src, x: 0, y: 0 };
  for (const [i, stage] of stages.entries()) {
    const window = windows[i]!;
    const image = resize(placed, stage.inW, stage.inH, stage.outW, stage.outH, stage.filter, window);
    placed = { image, x: window.x, y: window.y };
  }
  return placed.image;
}
