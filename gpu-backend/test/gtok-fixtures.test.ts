// GTOK blobs written by shared's encoder for the Python reader's tests (model/gigatok_model/gtok_reader.py,
// model/tests/test_gtok_reader.py): the committed files must equal what encodeTokens writes now, so the
// Python side is always held to the TypeScript writer. GIGATOK_WRITE_FIXTURES=1 rewrites them.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bitsPerToken, decodeTokens, encodeTokens } from '@gigatok/shared';
import { describe, expect, it } from 'vitest';

const dir = join(import.meta.dirname, '..', 'model', 'tests', 'fixtures', 'gtok');
const write = process.env.GIGATOK_WRITE_FIXTURES === '1';

/**
 * Each fixture's tokens follow a formula the Python test recomputes:
 * token[r][c] = (r * 7919 + c * 104729 + seed) % codebook_size.
 */
const FIXTURES = [
  // Three images with flip: rows image-major (image 0 original, image 0 mirror, image 1 ...), 14 bits.
  {
    file: 'flip-nano.gtok',
    model: 'gigatok-nano',
    codebookSize: 16_384,
    tokensPerImage: 256,
    count: 6,
    seed: 5,
  },
  // One bit per token and padding bits in the last byte.
  { file: 'one-bit.gtok', model: 'bits-1', codebookSize: 2, tokensPerImage: 3, count: 5, seed: 1 },
  // The widest tokens the format allows (24 bits).
  {
    file: 'wide.gtok',
    model: 'bits-24',
    codebookSize: 2 ** 24,
    tokensPerImage: 4,
    count: 3,
    seed: 16_777_000,
  },
  // A codebook that is not a power of two, and a model id that is not ASCII.
  { file: 'odd-codebook.gtok', model: 'módel-ü', codebookSize: 1000, tokensPerImage: 7, count: 2, seed: 999 },
] as const;

/** The manifest rows of flip-nano.gtok, in the shape the dataset manifest lists them. */
const MANIFEST = {
  model: 'gigatok-nano',
  augment: 'flip',
  views: 2,
  rows: [0, 1, 2].flatMap((i) =>
    [0, 1].map((a) => ({ row: i * 2 + a, image: `img-${i}.png`, label: [3, 0, 7][i], augmentation: a })),
  ),
};

function tokensOf(f: (typeof FIXTURES)[number]): Uint32Array {
  const out = new Uint32Array(f.count * f.tokensPerImage);
  for (let r = 0; r < f.count; r++) {
    for (let c = 0; c < f.tokensPerImage; c++) {
      out[r * f.tokensPerImage + c] = (r * 7919 + c * 104_729 + f.seed) % f.codebookSize;
    }
  }
  return out;
}

function check(file: string, bytes: Uint8Array): void {
  const path = join(dir, file);
  if (write) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(path, bytes);
  }
  expect(existsSync(path), `${path} is missing: run with GIGATOK_WRITE_FIXTURES=1`).toBe(true);
  expect(new Uint8Array(readFileSync(path))).toEqual(bytes);
}

describe('GTOK fixtures for the Python reader', () => {
  for (const f of FIXTURES) {
    it(`${f.file}: ${f.count} x ${f.tokensPerImage} tokens at ${bitsPerToken(f.codebookSize)} bits equal the committed blob`, () => {
      const tokens = tokensOf(f);
      const bytes = encodeTokens({ ...f, tokens });
      expect(decodeTokens(bytes).tokens).toEqual(tokens);
      check(f.file, bytes);
    });
  }

  it('fixtures.json lists them, and the flip manifest names each row', () => {
    const listing = `${JSON.stringify({ formula: '(r * 7919 + c * 104729 + seed) % codebook_size', fixtures: FIXTURES }, null, 2)}\n`;
    check('fixtures.json', new TextEncoder().encode(listing));
    check('flip-nano.manifest.json', new TextEncoder().encode(`${JSON.stringify(MANIFEST, null, 2)}\n`));
  });
});
