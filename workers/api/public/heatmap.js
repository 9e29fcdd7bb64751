// Draws one image's token sequence as a heat map: cell i (row by row, in the AR order the tokenizer
// emits, coarse to fine) is coloured by token value / (codebook size - 1) on the viridis scale.

/** Ten evenly spaced viridis colours (perceptually uniform, readable in greyscale); the CSS legend matches. */
export const COLOUR_STOPS = [
  [0x44, 0x01, 0x54],
  [0x48, 0x28, 0x78],
  [0x3e, 0x49, 0x89],
  [0x31, 0x68, 0x8e],
  [0x26, 0x82, 0x8e],
  [0x1f, 0x9e, 0x89],
  [0x35, 0xb7, 0x79],
  [0x6e, 0xce, 0x58],
  [0xb5, 0xde, 0x2b],
  [0xfd, 0xe7, 0x25],
];

/** Canvas pixels per cell (the canvas is scaled with CSS, drawn crisp with image-rendering: pixelated). */
const CELL = 16;
const GAP = 1;

/**
 * Colour of a token value, linearly interpolated between the stops.
 * @param {number} value
 * @param {number} codebookSize
 * @returns {[number, number, number]}
 */
export function tokenColour(value, codebookSize) {
  const t = codebookSize > 1 ? Math.min(Math.max(value / (codebookSize - 1), 0), 1) : 0;
  const x = t * (COLOUR_STOPS.length - 1);
  const i = Math.min(Math.floor(x), COLOUR_STOPS.length - 2);
  const f = x - i;
  const a = /** @type {number[]} */ (COLOUR_STOPS[i]);
  const b = /** @type {number[]} */ (COLOUR_STOPS[i + 1]);
  return /** @type {[number, number, number]} */ (a.map((v, c) => Math.round(v + f * ((b[c] ?? v) - v))));
}

/**
 * Columns and rows for `count` cells: a power-of-two width near sqrt(2 * count), so 32 tokens make 8 x 4
 * and 256 make 32 x 8 (wider than tall, like the reading order).
 * @param {number} count
 */
export function heatmapLayout(count) {
  const cols = Math.max(1, Math.min(count, 2 ** Math.round(Math.log2(Math.sqrt(2 * count)))));
  return { cols, rows: Math.ceil(count / cols) };
}

/**
 * @param {HTMLCanvasElement} canvas
 * @param {number[]} tokens
 * @param {number} codebookSize
 */
export function drawHeatmap(canvas, tokens, codebookSize) {
  const { cols, rows } = heatmapLayout(tokens.length);
  canvas.width = cols * CELL + GAP;
  canvas.height = rows * CELL + GAP;
  // About 2.25rem per cell on screen, never wider than the column it sits in.
  canvas.style.width = `min(100%, ${cols * 2.25}rem)`;
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('this browser cannot draw on a canvas');
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  tokens.forEach((value, i) => {
    const [r, g, b] = tokenColour(value, codebookSize);
    ctx.fillStyle = `rgb(${r} ${g} ${b})`;
    ctx.fillRect((i % cols) * CELL + GAP, Math.floor(i / cols) * CELL + GAP, CELL - GAP, CELL - GAP);
  });
  canvas.dataset.tokenCount = String(tokens.length);
  canvas.dataset.cols = String(cols);
}

/**
 * Token index under a pointer position given in CSS pixels relative to the canvas, or -1.
 * @param {HTMLCanvasElement} canvas
 * @param {number} x
 * @param {number} y
 * @param {number} count
 */
export function cellAt(canvas, x, y, count) {
  const cols = Number(canvas.dataset.cols ?? 1);
  const rect = canvas.getBoundingClientRect();
  const col = Math.floor(((x / rect.width) * canvas.width - GAP / 2) / CELL);
  const row = Math.floor(((y / rect.height) * canvas.height - GAP / 2) / CELL);
  const index = row * cols + col;
  return col >= 0 && col < cols && row >= 0 && index < count ? index : -1;
}
