// Dataset tokenization through the whole stack (the Worker under wrangler dev, the real backend on CPU,
// gigatok-nano), images/s with the flip augmentation, side by side in one run on the same files:
//   (a) one POST /v1/tokenize per view through the API, one after another, as a client looping over a
//       folder would: the image, then its mirror (made by the client), 2 requests per image;
//   (b) the datasets API: create (augmentation flip), upload one ImageFolder tar, run, wait, download
//       the GTOK codes (timed from the upload to the downloaded codes).
// Each path runs under its own tenant, so (b) cannot reuse tokens (a) made. The PyTorch eager loop of
// the official extractor is the third figure of `npm run bench -- --sections dataset`.
//
//   node --import tsx bench/dataset-stack.ts [--images 200] [--runs 1]
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { GigaTokClient } from '@gigatok/client';
import { decodeTokens, writeTar } from '@gigatok/shared';
import sharp from 'sharp';
import { repoRoot, startStack } from '../scripts/local-stack.ts';
import { datasetImages } from './dataset.ts';

const { values } = parseArgs({
  options: { images: { type: 'string', default: '200' }, runs: { type: 'string', default: '1' } },
});
const count = Number(values.images);
const runs = Number(values.runs);
// The local rate limiter allows 600 requests a minute per key: (a) sends 2 per image.
if (!Number.isInteger(count) || count < 10 || count > 250) throw new Error('--images must be 10..250');

const dir = mkdtempSync(path.join(os.tmpdir(), 'gigatok-dataset-stack-'));
const stack = await startStack({ stateDir: path.join(repoRoot, '.local', `bench-dataset-${process.pid}`) });
try {
  const images = await datasetImages(dir, count, 32);
  const mirrored = await Promise.all(
    images.map(async (png) => new Uint8Array(await sharp(png).flop().png().toBuffer())),
  );
  const tar = writeTar(
    images.map((bytes, i) => ({ name: `${i % 10}/${String(i).padStart(5, '0')}.png`, bytes })),
  );

  for (let run = 1; run <= runs; run++) {
    // (a) one request per view.
    const perImage = await stack.createKey(`bench-per-image-${run}`);
    const started = performance.now();
    for (let i = 0; i < count; i++) {
      for (const bytes of [images[i]!, mirrored[i]!]) {
        const res = await fetch(`${stack.apiUrl}/v1/tokenize`, {
          method: 'POST',
          headers: { authorization: `Bearer ${perImage.key}`, 'content-type': 'image/png' },
          body: bytes.slice(),
        });
        if (res.status !== 200) throw new Error(`tokenize answered ${res.status}: ${await res.text()}`);
        await res.arrayBuffer();
      }
    }
    const perImageS = (performance.now() - started) / 1000;

    // (b) the datasets API.
    const owner = await stack.createKey(`bench-dataset-${run}`);
    const client = new GigaTokClient({ baseUrl: stack.apiUrl, apiKey: owner.key });
    const dataset = await client.datasets.create({ name: `bench${run}`, augmentation: 'flip' });
    const began = performance.now();
    await client.datasets.addImages(dataset.id, { tar });
    await client.datasets.run(dataset.id);
    const done = await client.datasets.wait(dataset.id, { intervalMs: 100 });
    if (done.status !== 'completed') throw new Error(`dataset ${done.status}: ${JSON.stringify(done)}`);
    const codes = decodeTokens((await client.datasets.download(dataset.id, 'codes')).bytes);
    const datasetS = (performance.now() - began) / 1000;
    if (codes.count !== 2 * count) throw new Error(`codes hold ${codes.count} rows, expected ${2 * count}`);

    const a = count / perImageS;
    const b = count / datasetS;
    console.log(
      `run ${run}: ${count} images, flip (2 views each), gigatok-nano, whole stack on ${os.cpus().length} cores\n` +
        `  (a) one POST /v1/tokenize per view: ${perImageS.toFixed(2)} s, ${a.toFixed(1)} images/s\n` +
        `  (b) datasets API (upload, run, wait, download): ${datasetS.toFixed(2)} s, ${b.toFixed(1)} images/s\n` +
        `  (b)/(a) = ${(b / a).toFixed(2)}x`,
    );
  }
} finally {
  await stack.stop();
  rmSync(dir, { recursive: true, force: true });
}
