// Token datasets on the real stack: an ImageFolder of MNIST digits (10 classes) goes in with one CLI
// command (`gigatok dataset create --from DIR --wait --out DIR`), and the codes that come out, in the
// official .npy layout and as one GTOK blob, equal token for token what POST /v1/tokenize answers for
// each image; labels are the class folders. With flip, row 1 of each image equals the tokens of the
// mirrored image. The repo's Python reader (gigatok_model/gtok_reader.py, numpy only) reads the GTOK
// blob and the manifest back, and the official .npy files with numpy, to the same codes and labels.
// DATASET_E2E_PER_CLASS sets the images per class (default 4: 40 images; 50 gives the 500-image run).
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { decodeTokens, tokenRows } from '@gigatok/shared';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { api, backendCounter, newTenant, stack } from '../lib/api.ts';
import { colouredDigit, rawToPng } from '../lib/images.ts';

const run = promisify(execFile);
const PER_CLASS = Number(process.env.DATASET_E2E_PER_CLASS ?? '4');
const CLI = path.resolve(import.meta.dirname, '../../client/bin/gigatok.mjs');
const MODEL_TOOLING = path.resolve(import.meta.dirname, '../../gpu-backend/model');
const PYTHON = path.join(MODEL_TOOLING, '.venv/bin/python');

/**
 * What a training pipeline reads from a downloaded dataset with the repo's Python reader: per image its
 * label and codes from the GTOK blob + manifest, and the same from the official .npy layout via numpy.
 */
const READ_BACK = `
import json, sys
from pathlib import Path
import numpy as np
from gigatok_model.gtok_reader import codes_by_image, read_gtok, read_manifest
out, name = Path(sys.argv[1]), sys.argv[2]
tokens = read_gtok((out / f"{name}.gtok").read_bytes())
images = codes_by_image(tokens, read_manifest(out / "manifest.json"))
npy = [(int(np.load(out / f"{name}_labels" / f"{i}.npy")[0]), np.load(out / f"{name}_codes" / f"{i}.npy"))
       for i in range(len(images))]
json.dump({
    "gtok": [{"label": label, "codes": codes.tolist()} for _, label, codes in images],
    "npy": [{"label": label, "shape": list(codes.shape), "dtype": str(codes.dtype), "codes": codes[0].tolist()}
            for label, codes in npy],
}, sys.stdout)
`;

let key: string;
let folder: string;
/** Image paths in ImageFolder order (classes sorted, then files) with their bytes. */
const images: { name: string; label: number; bytes: Uint8Array }[] = [];

beforeAll(async () => {
  // The model tooling venv (idempotent: a no-op once made from the current requirements.txt).
  await run('bash', [path.join(MODEL_TOOLING, 'scripts/setup-python.sh')], { timeout: 600_000 });
  key = (await newTenant('datasets-e2e')).key;
  folder = mkdtempSync(path.join(tmpdir(), 'gigatok-imagefolder-'));
  for (let digit = 0; digit < 10; digit++) {
    mkdirSync(path.join(folder, String(digit)));
    for (let n = 0; n < PER_CLASS; n++) {
      const name = `${digit}/${String(n).padStart(4, '0')}.png`;
      const bytes = new Uint8Array(await rawToPng(colouredDigit(digit, undefined, undefined, n)));
      writeFileSync(path.join(folder, name), bytes);
      images.push({ name, label: digit, bytes });
    }
  }
});

/** `gigatok dataset create <name> --from <folder> --wait --out <dir> [...more]`, as a user runs it. */
async function createWithCli(
  name: string,
  more: string[] = [],
): Promise<{ out: string; dataset: { id: string; status: string } }> {
  const out = mkdtempSync(path.join(tmpdir(), 'gigatok-dataset-'));
  const { stdout } = await run(
    process.execPath,
    [CLI, 'dataset', 'create', name, '--from', folder, '--wait', '--out', out, ...more],
    {
      env: { ...process.env, GIGATOK_API_URL: stack().apiUrl, GIGATOK_API_KEY: key },
      maxBuffer: 64 * 1024 * 1024,
      timeout: 600_000,
    },
  ).catch((error: { stdout?: string; stderr?: string }) => {
    throw new Error(`gigatok dataset create failed: ${error.stderr ?? ''}${error.stdout ?? ''}`);
  });
  return { out, dataset: JSON.parse(stdout) as { id: string; status: string } };
}

/** An .npy file ('<i8', C order) as shape and values. */
function readNpy(bytes: Uint8Array): { shape: number[]; values: number[] } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint16(8, true);
  const header = new TextDecoder().decode(bytes.subarray(10, 10 + headerLength));
  expect(header).toContain("'descr': '<i8'");
  const shape = /'shape': \(([^)]*)\)/
    .exec(header)![1]!
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  const values: number[] = [];
  for (let o = 10 + headerLength; o < bytes.length; o += 8) values.push(Number(view.getBigInt64(o, true)));
  return { shape, values };
}

async function tokenizeOne(bytes: Uint8Array): Promise<number[]> {
  const form = new FormData();
  form.set('image', new File([bytes as Uint8Array<ArrayBuffer>], 'x.png', { type: 'image/png' }));
  const response = await api(key, '/v1/tokenize', { method: 'POST', body: form });
  expect(response.status).toBe(200);
  return ((await response.json()) as { tokens: number[][] }).tokens[0]!;
}

describe('datasets on the real stack', () => {
  it(`turns a ${10 * PER_CLASS}-image ImageFolder into codes and labels equal to per-image tokenize answers`, async () => {
    const encodesBefore = await backendCounter('gigatok_http_requests_total', { route: '/v1/encode' });
    const { out, dataset } = await createWithCli('digits');
    expect(dataset.status).toBe('completed');
    const encodes =
      (await backendCounter('gigatok_http_requests_total', { route: '/v1/encode' })) - encodesBefore;
    // Batched: far fewer backend calls than images.
    expect(encodes).toBeLessThanOrEqual(Math.ceil(images.length / 64));

    const codes = readdirSync(path.join(out, 'digits_codes'));
    expect(codes).toHaveLength(images.length);
    const set = decodeTokens(new Uint8Array(readFileSync(path.join(out, 'digits.gtok'))));
    expect(set.count).toBe(images.length);
    const rows = tokenRows(set.tokens, set.tokensPerImage);
    const manifest = JSON.parse(readFileSync(path.join(out, 'manifest.json'), 'utf8')) as {
      labels: number[];
      rows: { name: string }[];
    };
    expect(manifest.rows.map((r) => r.name)).toEqual(images.map((i) => i.name));
    expect(manifest.labels).toEqual(images.map((i) => i.label));

    for (const [i, image] of images.entries()) {
      const expected = await tokenizeOne(image.bytes);
      const code = readNpy(new Uint8Array(readFileSync(path.join(out, 'digits_codes', `${i}.npy`))));
      expect(code.shape).toEqual([1, 1, set.tokensPerImage]);
      expect(code.values, image.name).toEqual(expected);
      expect(rows[i], image.name).toEqual(expected);
      const label = readNpy(new Uint8Array(readFileSync(path.join(out, 'digits_labels', `${i}.npy`))));
      expect(label).toEqual({ shape: [1], values: [image.label] });
    }

    // The same download through the Python reader a training pipeline uses.
    const { stdout } = await run(PYTHON, ['-c', READ_BACK, out, 'digits'], {
      cwd: MODEL_TOOLING,
      maxBuffer: 64 * 1024 * 1024,
    });
    const read = JSON.parse(stdout) as {
      gtok: { label: number; codes: number[][] }[];
      npy: { label: number; shape: number[]; dtype: string; codes: number[][] }[];
    };
    expect(read.gtok.map((g) => g.label)).toEqual(images.map((i) => i.label));
    expect(read.gtok.map((g) => g.codes)).toEqual(rows.map((row) => [row]));
    for (const [i, n] of read.npy.entries()) {
      expect(n).toMatchObject({ label: images[i]!.label, shape: [1, 1, set.tokensPerImage], dtype: 'int64' });
      expect(n.codes).toEqual([rows[i]]);
    }
  });

  it('with flip, gives each image two rows: its tokens, then the tokens of its mirror image', async () => {
    const created = await api(key, '/v1/datasets', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'flipped', augmentation: 'flip' }),
    });
    const { id } = (await created.json()) as { id: string };
    const form = new FormData();
    for (const image of images.slice(0, 10 * Math.min(PER_CLASS, 2))) {
      form.append('image', new File([image.bytes as Uint8Array<ArrayBuffer>], image.name.split('/')[1]!));
      form.append('label', String(image.label));
    }
    expect((await api(key, `/v1/datasets/${id}/images`, { method: 'POST', body: form })).status).toBe(200);
    await api(key, `/v1/datasets/${id}/run`, { method: 'POST' });
    let dataset: { status: string; error: { detail: string } | null } = { status: 'queued', error: null };
    for (let i = 0; i < 600 && !['completed', 'failed'].includes(dataset.status); i++) {
      await new Promise((r) => setTimeout(r, 500));
      dataset = (await (await api(key, `/v1/datasets/${id}`)).json()) as typeof dataset;
    }
    expect(dataset.status, JSON.stringify(dataset.error)).toBe('completed');
    const set = decodeTokens(
      new Uint8Array(await (await api(key, `/v1/datasets/${id}/codes`)).arrayBuffer()),
    );
    const rows = tokenRows(set.tokens, set.tokensPerImage);
    const sent = images.slice(0, 10 * Math.min(PER_CLASS, 2));
    const ordered = [...sent].sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const [i, image] of ordered.entries()) {
      const mirrored = new Uint8Array(await sharp(image.bytes).flop().png().toBuffer());
      expect(rows[2 * i], image.name).toEqual(await tokenizeOne(image.bytes));
      expect(rows[2 * i + 1], `${image.name} flipped`).toEqual(await tokenizeOne(mirrored));
    }
  });
});
