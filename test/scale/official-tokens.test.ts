// Image -> tokens at the paper's smallest scale, against the official pipeline: photos of several
// geometries (odd and even overhangs, portrait, landscape, enlargement, a box-halving pre-shrink, JPEG)
// tokenized through the Worker and the backend must give exactly the tokens that the official recipe
// run in Python (Pillow + ADM center_crop_arr + Normalize; gpu-backend/model/scripts/official_tokens.py)
// gives with the same exported S-S encoder.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TokensResponseSchema } from '@gigatok/shared';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../scripts/local-stack.ts';
import { api, newTenant } from '../lib/api.ts';
import { photoLike } from '../lib/images.ts';

const PYTHON = path.join(repoRoot, 'gpu-backend/model/.venv/bin/python');
const SCRIPT = path.join(repoRoot, 'gpu-backend/model/scripts/official_tokens.py');
const RESULT_FILE = path.join(repoRoot, 'test-output', 'scale-official-tokens.json');

/** Each case: a file name (its extension picks the format) and the size the photo is resized to. */
const CASES = [
  { file: 'square-256.png', width: 256, height: 256 },
  { file: 'landscape-odd-401x300.png', width: 401, height: 300 },
  { file: 'portrait-300x457.png', width: 300, height: 457 },
  { file: 'enlarge-200x150.png', width: 200, height: 150 },
  { file: 'halve-once-1100x600.jpg', width: 1100, height: 600 },
  { file: 'camera-640x480.jpg', width: 640, height: 480 },
] as const;

let tenant: { key: string };
let dir: string;
const files = new Map<string, Buffer>();

beforeAll(async () => {
  tenant = await newTenant('scale-official-tokens');
  dir = mkdtempSync(path.join(os.tmpdir(), 'gigatok-official-tokens-'));
  const source = sharp(photoLike(512, 7), { raw: { width: 512, height: 512, channels: 3 } });
  for (const c of CASES) {
    const resized = source.clone().resize(c.width, c.height, { fit: 'fill' });
    const bytes = c.file.endsWith('.jpg')
      ? await resized.jpeg({ quality: 88 }).toBuffer()
      : await resized.png().toBuffer();
    files.set(c.file, bytes);
    writeFileSync(path.join(dir, c.file), bytes);
  }
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('tokens of the official preprocessing through the S-S tier', () => {
  it('equal, token for token, what the official recipe in Python gives with the same encoder', async () => {
    const modelDir = process.env.GIGATOK_E2E_MODEL_DIR;
    expect(modelDir, 'GIGATOK_E2E_MODEL_DIR (scripts/test-scale.sh sets it)').toBeTruthy();
    const official = JSON.parse(
      execFileSync(PYTHON, [SCRIPT, '--model-dir', modelDir!, ...CASES.map((c) => path.join(dir, c.file))], {
        encoding: 'utf8',
        maxBuffer: 16 * 2 ** 20,
      }),
    ) as Record<string, number[]>;

    const agreement: Record<string, number> = {};
    for (const c of CASES) {
      const type = c.file.endsWith('.jpg') ? 'image/jpeg' : 'image/png';
      const res = await api(tenant.key, '/v1/tokenize', {
        method: 'POST',
        headers: { 'content-type': type },
        body: new Uint8Array(files.get(c.file)!),
      });
      expect(res.status, await res.clone().text()).toBe(200);
      const ours = TokensResponseSchema.parse(await res.json()).tokens[0]!;
      const theirs = official[c.file]!;
      expect(theirs).toHaveLength(256);
      agreement[c.file] = ours.filter((t, i) => t === theirs[i]).length / theirs.length;
    }
    mkdirSync(path.dirname(RESULT_FILE), { recursive: true });
    writeFileSync(RESULT_FILE, `${JSON.stringify({ agreement }, null, 2)}\n`);
    console.log(`official token agreement: ${JSON.stringify(agreement)}`);
    for (const c of CASES) expect(agreement[c.file], c.file).toBe(1);
  });
});
