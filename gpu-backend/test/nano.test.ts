// The embedded default model (models/gigatok-nano, committed) served end to end: encode a real MNIST
// digit, decode it back, generate one image per class. A missing model file fails the suite.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultModelDir } from '../src/config.ts';
import { type RunningServer, startServer } from '../src/server.ts';
import { b64, postJson, signedFetch, testConfig } from './helpers.ts';

describe('gigatok-nano served end to end', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer(testConfig({ modelDirs: [defaultModelDir], intraOpThreads: 2 }));
    await server.loaded;
  });
  afterAll(async () => {
    await server?.close();
  });

  it('encodes an MNIST digit, decodes the tokens, and samples one image per class', async () => {
    const sharp = (await import('sharp')).default;
    const { createRequire } = await import('node:module');
    // mnist ships each digit class as one flat array of 28x28 floats in [0, 1] per sample.
    const { data } = createRequire(import.meta.url)('mnist/src/digits/7.json') as { data: number[] };
    const first = data.slice(0, 784);
    const raw = Buffer.from(first.map((v) => Math.round(v * 255)));
    const png = new Uint8Array(
      await sharp(raw, { raw: { width: 28, height: 28, channels: 1 } })
        .png()
        .toBuffer(),
    );

    const [summary] = (
      (await (await signedFetch(server.url, '/v1/models')).json()) as {
        models: {
          id: string;
          tokens_per_image: number;
          codebook_size: number;
          num_classes: number;
          image_size: number;
        }[];
      }
    ).models;
    const model = summary!.id;
    const enc = (await (await postJson(server.url, '/v1/encode', { model, images: [b64(png)] })).json()) as {
      tokens: number[][];
    };
    expect(enc.tokens[0]).toHaveLength(summary!.tokens_per_image);
    const dec = (await (await postJson(server.url, '/v1/decode', { model, tokens: enc.tokens })).json()) as {
      images: { width: number }[];
    };
    expect(dec.images[0]!.width).toBe(summary!.image_size);
    const classIds = Array.from({ length: summary!.num_classes }, (_, i) => i);
    const gen = (await (
      await postJson(server.url, '/v1/generate', {
        model,
        seed: 1,
        class_ids: classIds,
        cfg_scale: 4,
        cfg_schedule: 'constant',
        temperature: 1,
        top_k: 0,
        top_p: 1,
        return_images: true,
      })
    ).json()) as { tokens: number[][]; images: unknown[] };
    expect(gen.tokens).toHaveLength(classIds.length);
    expect(gen.images).toHaveLength(classIds.length);
    for (const row of gen.tokens)
      for (const t of row) expect(t >= 0 && t < summary!.codebook_size).toBe(true);
  }, 120_000);
});
