// Dataset tokenization throughput, images/s with the flip augmentation (two views per image), on the same
// image files three ways: (i) the backend's dataset path, POST /v1/encode with `augment: flip` and
// `priority: background`, 64 images per request (the backend's largest request) at the largest encode
// batch, two requests in flight; (ii) one /v1/encode request per image (flip), one after another, as a
// client looping over a folder would; (iii) PyTorch eager running the same tokenizer in the official
// extractor's loop (bench/dataset_reference.py). The Worker's datasets API adds ingestion and storage
// around (i): bench/dataset-stack.ts measures that path through the whole stack on the same files.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LIMITS, signBackendRequest } from '@gigatok/shared';
import sharp from 'sharp';
import { readManifest } from '../gpu-backend/src/model-dir/manifest.ts';
import type { Device } from '../gpu-backend/src/runtime/device.ts';
import { startBackend } from './http.ts';
import { runBenchPython } from './reference.ts';
import type { Headline, Section, Table } from './report.ts';
import { fmt, ratio } from './stats.ts';

export interface DatasetOptions {
  modelDir: string;
  device: Device;
  threads: number;
  /** Images in the set. */
  images: number;
  /** The backend's GIGATOK_MAX_BATCH for the run (the largest encode batch). */
  maxBatch: number;
  python: string;
  log: (line: string) => void;
}

/**
 * `count` deterministic PNG files 1.25 x 1.5 the model's image size (so every one is resized and
 * cropped), written to `dir` as 00000.png, 00001.png, ...; returns their bytes in name order.
 */
export async function datasetImages(dir: string, count: number, size: number): Promise<Uint8Array[]> {
  const width = Math.round(size * 1.25);
  const height = Math.round(size * 1.5);
  const out: Uint8Array[] = [];
  let state = 2024;
  for (let i = 0; i < count; i++) {
    const raw = Buffer.alloc(width * height * 3);
    for (let p = 0; p < raw.length; p++) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      const x = (p / 3) % width;
      raw[p] = ((x * 5 + i * 17) & 0xff) ^ (state >>> 28);
    }
    const png = new Uint8Array(
      await sharp(raw, { raw: { width, height, channels: 3 } })
        .png()
        .toBuffer(),
    );
    writeFileSync(path.join(dir, `${String(i).padStart(5, '0')}.png`), png);
    out.push(png);
  }
  return out;
}

interface Figure {
  images: number;
  seconds: number;
  imagesPerSecond: number;
}

async function encodeCall(
  server: { url: string; secret: string },
  body: string,
): Promise<{ tokens: number[][] }> {
  const auth = await signBackendRequest({ secret: server.secret, method: 'POST', path: '/v1/encode', body });
  const res = await fetch(`${server.url}/v1/encode`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body,
  });
  if (res.status !== 200) throw new Error(`/v1/encode answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as { tokens: number[][] };
}

export async function runDataset(o: DatasetOptions): Promise<Section> {
  const manifest = await readManifest(o.modelDir);
  const size = manifest.tokenizer.image_size;
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'gigatok-dataset-'));
  const figures: Record<string, Figure | undefined> = {};
  const notes: string[] = [];
  let torchInfo: Record<string, unknown> | undefined;
  try {
    const files = await datasetImages(tmp, o.images, size);
    const b64 = files.map((f) => Buffer.from(f).toString('base64'));
    const model = manifest.model_id;
    // The encoder runs at exactly --dataset-batch views (GIGATOK_ENCODE_MAX_BATCH would default to 2 on a CPU).
    const server = await startBackend(o, {
      GIGATOK_MAX_BATCH: String(o.maxBatch),
      GIGATOK_ENCODE_MAX_BATCH: String(o.maxBatch),
    });
    try {
      const chunk = LIMITS.maxBackendBatch;
      const body = (images: string[], priority: string) =>
        JSON.stringify({ model, images, augment: 'flip', priority });
      // Warm-up, untimed: the shapes of both paths.
      await encodeCall(server, body(b64.slice(0, chunk), 'background'));
      await encodeCall(server, body(b64.slice(0, 1), 'interactive'));

      // (i) The dataset path: 64 images per request, two requests in flight.
      let rows = 0;
      let next = 0;
      const t0 = performance.now();
      const lane = async () => {
        while (next < b64.length) {
          const start = next;
          next += chunk;
          // Awaited before the sum: `rows += await ...` would read `rows` before the other lane adds to it.
          const answer = await encodeCall(server, body(b64.slice(start, start + chunk), 'background'));
          rows += answer.tokens.length;
        }
      };
      await Promise.all([lane(), lane()]);
      const s0 = (performance.now() - t0) / 1000;
      if (rows !== 2 * b64.length)
        throw new Error(`the dataset path answered ${rows} rows for ${b64.length} images`);
      figures.dataset = { images: b64.length, seconds: s0, imagesPerSecond: b64.length / s0 };
      o.log(
        `dataset path (flip, background, ${chunk}/request): ${fmt(figures.dataset.imagesPerSecond)} images/s`,
      );

      // (ii) One request per image.
      const t1 = performance.now();
      for (const image of b64) await encodeCall(server, body([image], 'interactive'));
      const s1 = (performance.now() - t1) / 1000;
      figures.perImage = { images: b64.length, seconds: s1, imagesPerSecond: b64.length / s1 };
      o.log(`one request per image (flip): ${fmt(figures.perImage.imagesPerSecond)} images/s`);
    } finally {
      await server.stop();
    }

    // (iii) PyTorch eager, the official extractor's loop, at one thread and at every core (on a busy
    // host one thread is often faster: torch's spinning threads contend); the faster one is compared.
    const cores = o.threads === 0 ? os.cpus().length : o.threads;
    for (const threads of [...new Set([1, cores])]) {
      try {
        const info = await runBenchPython<Record<string, unknown>>(o.python, 'dataset_reference.py', [
          '--model-dir',
          o.modelDir,
          '--images',
          tmp,
          '--threads',
          String(threads),
          '--device',
          o.device === 'cuda' ? 'cuda' : 'cpu',
        ]);
        const seconds = Number(info.seconds);
        const figure = { images: b64.length, seconds, imagesPerSecond: b64.length / seconds };
        figures[`torch${threads}`] = figure;
        o.log(`PyTorch eager, extractor loop, ${threads} threads: ${fmt(figure.imagesPerSecond)} images/s`);
        if (figures.torch === undefined || figure.imagesPerSecond > figures.torch.imagesPerSecond) {
          figures.torch = figure;
          torchInfo = info;
        }
      } catch (error) {
        notes.push(`PyTorch eager at ${threads} threads skipped: ${String(error).split('\n')[0]}`);
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }

  const { dataset, perImage, torch } = figures;
  const row = (name: string, f: Figure | undefined): string[] => [
    name,
    f ? fmt(f.imagesPerSecond) : '-',
    f ? fmt(f.seconds) : '-',
    f && dataset ? ratio(dataset.imagesPerSecond / f.imagesPerSecond) : '-',
  ];
  const table: Table = {
    title: `${o.images} images, flip (2 views each), ${manifest.model_id}, GIGATOK_MAX_BATCH=${o.maxBatch}`,
    columns: ['path', 'images/s', 'seconds', 'dataset path / this'],
    rows: [
      row('(i) backend dataset path: /v1/encode, 64 images/request, background, 2 in flight', dataset),
      row('(ii) one /v1/encode request per image', perImage),
      ...Object.entries(figures)
        .filter(([k]) => /^torch\d+$/.test(k))
        .map(([k, f]) =>
          row(
            `(iii) PyTorch eager, official extractor loop (1 image + its flip per step), ${k.slice(5)} threads`,
            f,
          ),
        ),
    ],
  };
  const headlines: Headline[] = [];
  if (dataset && perImage) {
    headlines.push({
      figure: 'dataset path vs one request per image',
      value: ratio(dataset.imagesPerSecond / perImage.imagesPerSecond),
      detail: `${fmt(dataset.imagesPerSecond)} vs ${fmt(perImage.imagesPerSecond)} images/s (flip)`,
    });
  }
  if (dataset && torch) {
    headlines.push({
      figure: 'dataset path vs PyTorch eager extractor loop',
      value: ratio(dataset.imagesPerSecond / torch.imagesPerSecond),
      detail: `${fmt(dataset.imagesPerSecond)} vs ${fmt(torch.imagesPerSecond)} images/s (flip)`,
    });
  }
  return {
    id: 'dataset',
    title:
      'Dataset tokenization (backend side): batched background encode vs per-image requests vs PyTorch eager',
    tables: [table],
    notes: [
      ...notes,
      'Every path includes decoding the PNG files and the official preprocessing; (iii) also np.save of the ' +
        'codes and labels, as the extractor does. The backend runs as its own process with signed JSON requests.',
      `PyTorch weights: ${String(torchInfo?.weights ?? '-')}; the headline compares its faster thread count ` +
        `(${String(torchInfo?.threads ?? '-')}).`,
      'Whole stack (the Worker datasets API: upload, queue, storage) is not in these figures.',
    ],
    headlines,
    data: { figures, torch: torchInfo },
  };
}
