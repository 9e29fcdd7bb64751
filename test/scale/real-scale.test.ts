// The real-scale tier: the Worker under wrangler dev in front of the GPU backend on CPU serving GigaTok
// S-S + GPT-B of the official architecture (random weights, exported by scripts/test-scale.sh): 256x256
// images, 256 tokens, codebook 16384, 1000 classes. Every check goes through the public API; each step's
// latency and the backend's resident memory are written to test-output/scale-tier.json (docs/performance.md,
// "The paper's smallest pair on this CPU").
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  decodeTokens,
  GenerationSchema,
  generateSampling,
  TOKENS_MEDIA_TYPE,
  type TokensResponse,
  TokensResponseSchema,
} from '@gigatok/shared';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../scripts/local-stack.ts';
import { api, backendCounter, backendPost, newTenant, postJson, until } from '../lib/api.ts';
import { photoLike } from '../lib/images.ts';

const RESULT_FILE = path.join(repoRoot, 'test-output', 'scale-tier.json');
/** The official smallest pair's shapes (GigaTok VQ_SS256 + LlamaGen GPT-B on ImageNet-1k). */
const EXPECTED = { image_size: 256, tokens_per_image: 256, codebook_size: 16384, num_classes: 1000 };
/** An ImageNet-1k class, by the name the exporter gives it and by its id. */
const CLASS = { name: 'golden retriever', id: 207 };
/** How long to wait for the run a canceled generation was part of to end (generate.onnx cannot stop
 * midway): a four-image run took 101 s on 2 cores under a load average of 12. */
const RUN_END_WAIT_MS = 240_000;

type Model = typeof EXPECTED & { id: string };
let tenant: { key: string };
let model: Model;
let png: Buffer;
let jpeg: Buffer;
let photoTokens: TokensResponse;
const latencyMs: Record<string, number> = {};
const rssMiB: Record<string, number> = {};

/** The backend's resident set (prom-client's process_resident_memory_bytes), in MiB. */
async function backendRssMiB(): Promise<number> {
  return (await backendCounter('process_resident_memory_bytes')) / 2 ** 20;
}

/** Runs `fn`, recording its wall time under `name` and the backend's RSS after it. */
async function timed<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const value = await fn();
  latencyMs[name] = Math.round(performance.now() - started);
  rssMiB[name] = Math.round(await backendRssMiB());
  return value;
}

async function imageSize(res: Response): Promise<{ width?: number; height?: number; format?: string }> {
  const meta = await sharp(new Uint8Array(await res.arrayBuffer())).metadata();
  return { width: meta.width, height: meta.height, format: meta.format };
}

/** A finished generation job: the 201 of `Prefer: wait`, or polled when the wait ran out (202). */
async function finished(res: Response) {
  const text = await res.text();
  expect([201, 202], text).toContain(res.status);
  const job = GenerationSchema.parse(JSON.parse(text));
  return until(async () => {
    const j = GenerationSchema.parse(await (await api(tenant.key, `/v1/generations/${job.id}`)).json());
    return ['succeeded', 'failed', 'canceled'].includes(j.status) ? j : null;
  }, 240_000);
}

beforeAll(async () => {
  tenant = await newTenant('scale');
  const models = (await (await api(tenant.key, '/v1/models')).json()) as { data: Model[] };
  model = models.data[0]!;
  rssMiB.after_start = Math.round(await backendRssMiB());
  const rgb = photoLike(EXPECTED.image_size);
  png = await sharp(rgb, { raw: { width: 256, height: 256, channels: 3 } })
    .png()
    .toBuffer();
  jpeg = await sharp(rgb, { raw: { width: 256, height: 256, channels: 3 } })
    .jpeg({ quality: 90 })
    .toBuffer();
});

afterAll(() => {
  mkdirSync(path.dirname(RESULT_FILE), { recursive: true });
  const result = {
    recorded_at: new Date().toISOString(),
    model: model?.id,
    // The figures depend on what else the machine runs: the load average at the end says how busy it was.
    machine: { cpus: os.cpus().length, load_average: os.loadavg().map((x) => Math.round(x * 10) / 10) },
    photo_bytes: { png: png?.length, jpeg: jpeg?.length },
    latency_ms: latencyMs,
    backend_rss_mib: rssMiB,
  };
  writeFileSync(RESULT_FILE, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`scale tier figures (${RESULT_FILE}):\n${JSON.stringify(result, null, 2)}`);
});

describe('the paper smallest pair through the Worker and the backend', () => {
  it('serves a model of the official S-S + GPT-B shapes', () => {
    expect(model).toMatchObject(EXPECTED);
  });

  it('tokenizes a 256x256 PNG into 256 tokens, then answers the same bytes from R2', async () => {
    const send = () =>
      api(tenant.key, '/v1/tokenize', {
        method: 'POST',
        headers: { 'content-type': 'image/png' },
        body: new Uint8Array(png),
      });
    const first = await timed('tokenize_png', send);
    expect(first.status).toBe(200);
    expect(first.headers.get('x-cache')).toBe('miss');
    photoTokens = TokensResponseSchema.parse(await first.json());
    expect(photoTokens.shape).toEqual([1, 256]);
    const row = photoTokens.tokens[0]!;
    expect(row.every((t) => Number.isInteger(t) && t >= 0 && t < EXPECTED.codebook_size)).toBe(true);
    // The random tokenizer's codebook is seeded from real latents: a photo maps to many distinct codes.
    expect(new Set(row).size).toBeGreaterThan(16);

    const again = await timed('tokenize_png_cached', send);
    expect(again.status).toBe(200);
    expect(again.headers.get('x-cache')).toBe('hit');
    expect(TokensResponseSchema.parse(await again.json()).id).toBe(photoTokens.id);
  });

  it('tokenizes the same photo as a JPEG (multipart)', async () => {
    const form = new FormData();
    form.set('image', new Blob([new Uint8Array(jpeg)], { type: 'image/jpeg' }), 'photo.jpg');
    const res = await timed('tokenize_jpeg', () =>
      api(tenant.key, '/v1/tokenize', { method: 'POST', body: form }),
    );
    expect(res.status).toBe(200);
    // Other bytes than the PNG: encoded by the backend, not answered from the tokenize cache.
    expect(res.headers.get('x-cache')).toBe('miss');
    const body = TokensResponseSchema.parse(await res.json());
    expect(body.shape).toEqual([1, 256]);
  });

  it('serves the cached tokens as JSON and in the binary format', async () => {
    const json = await timed('tokens_json', () => api(tenant.key, `/v1/tokens/${photoTokens.id}`));
    expect(json.status).toBe(200);
    expect(TokensResponseSchema.parse(await json.json()).tokens).toEqual(photoTokens.tokens);

    const binary = await timed('tokens_binary', () =>
      api(tenant.key, `/v1/tokens/${photoTokens.id}`, { headers: { accept: TOKENS_MEDIA_TYPE } }),
    );
    expect(binary.status).toBe(200);
    const decoded = decodeTokens(new Uint8Array(await binary.arrayBuffer()));
    expect(decoded.model).toBe(model.id);
    expect(decoded.codebookSize).toBe(EXPECTED.codebook_size);
    expect(Array.from(decoded.tokens)).toEqual(photoTokens.tokens[0]);
  });

  it('detokenizes the 256 tokens into a 256x256 PNG', async () => {
    const res = await timed('detokenize', () =>
      postJson(tenant.key, '/v1/detokenize', { token_id: photoTokens.id, format: 'png' }),
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(await imageSize(res)).toEqual({ width: 256, height: 256, format: 'png' });
  });

  it('generates two images of an ImageNet class, named, with the step guidance schedule', async () => {
    const job = await timed('generate_count2', async () =>
      finished(
        await postJson(
          tenant.key,
          '/v1/generations',
          { class_id: CLASS.name, count: 2, seed: 5, cfg_scale: 1.75, cfg_schedule: 'step' },
          { prefer: 'wait=60' },
        ),
      ),
    );
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    expect(job.params).toMatchObject({ cfg_scale: 1.75, cfg_schedule: 'step' });
    expect(job.result!.images).toHaveLength(2);
    const rows: number[][] = [];
    for (const image of job.result!.images) {
      expect(image.class_id).toBe(CLASS.id);
      const tokens = TokensResponseSchema.parse(await (await api(tenant.key, image.tokens_url)).json());
      expect(tokens.shape).toEqual([1, 256]);
      rows.push(tokens.tokens[0]!);
      expect(await imageSize(await api(tenant.key, image.image_url!))).toEqual({
        width: 256,
        height: 256,
        format: 'png',
      });
    }
    expect(rows[0]).not.toEqual(rows[1]);
  });

  it('gives an image the same tokens alone and joining a generation already running', async () => {
    // At this size the backend serves the chunked path. A three-image job runs through the Worker;
    // once its first chunk has run, a one-image request with the same seed and options goes straight
    // to the backend and joins the running batch at a chunk boundary (the backend counts it in
    // gigatok_inference_joined_count). It goes straight because the local Queues consumer takes one
    // batch at a time, so a second job through the Worker would only reach the backend after the first
    // (Cloudflare runs consumer invocations concurrently). Its image must equal the job's image 0,
    // drawn in the company of two others.
    const generate = { model: model.id, graph: 'generate' };
    const joinedBefore = await backendCounter('gigatok_inference_joined_count', generate);
    const runsBefore = await backendCounter('nv_inference_exec_count', generate);
    const res = await postJson(tenant.key, '/v1/generations', {
      class_id: [CLASS.id, 1, 2],
      cfg_scale: 2,
      top_k: 100,
      seed: 909,
    });
    const { params } = GenerationSchema.parse(await res.clone().json());
    await until(
      async () => (await backendCounter('nv_inference_exec_count', generate)) > runsBefore || null,
      120_000,
    );
    const [alone, company] = await timed('generate_joined', () =>
      Promise.all([
        backendPost('/v1/generate', {
          model: model.id,
          ...generateSampling(params),
          class_ids: [CLASS.id],
        }),
        finished(res),
      ]),
    );
    expect(company.status, JSON.stringify(company.error)).toBe('succeeded');
    expect(company.result!.images).toHaveLength(3);
    expect(alone.status).toBe(200);
    const aloneTokens = ((await alone.json()) as { tokens: number[][] }).tokens;
    const first = await api(tenant.key, company.result!.images[0]!.tokens_url);
    expect(aloneTokens).toEqual(TokensResponseSchema.parse(await first.json()).tokens);
    // At least the one request joined (on a loaded machine the Worker may split the job into calls of
    // fewer images, and a later call of it can join too).
    expect(await backendCounter('gigatok_inference_joined_count', generate)).toBeGreaterThan(joinedBefore);
  });

  it('makes a variation of the uploaded photo that keeps its first half of tokens', async () => {
    // The photo travels as base64 in JSON (over 64 KiB as a PNG of this size).
    const body = { image: png.toString('base64'), keep: 128, count: 1, seed: 6, class_id: CLASS.id };
    expect(body.image.length).toBeGreaterThan(64 * 1024);
    const job = await timed('variation_count1', async () =>
      finished(await postJson(tenant.key, '/v1/variations', body, { prefer: 'wait=60' })),
    );
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    expect(job.params.variation).toEqual({ source_token_id: photoTokens.id, keep: 128 });
    const image = job.result!.images[0]!;
    const row = TokensResponseSchema.parse(await (await api(tenant.key, image.tokens_url)).json()).tokens[0]!;
    expect(row.slice(0, 128)).toEqual(photoTokens.tokens[0]!.slice(0, 128));
    expect(row).not.toEqual(photoTokens.tokens[0]);
  });

  it("answers the AR model's embedding of the photo (GPT-B: layer 6, 768 values)", async () => {
    const res = await timed('embedding', () =>
      postJson(tenant.key, '/v1/embeddings', { token_id: photoTokens.id }),
    );
    expect(res.status).toBe(200);
    const body = (await res.json()) as { layer: number; dim: number; embedding: number[] };
    expect({ layer: body.layer, dim: body.dim }).toEqual({ layer: 6, dim: 768 });
    expect(body.embedding).toHaveLength(768);
    expect(body.embedding.every(Number.isFinite)).toBe(true);
  });

  it('cancels a running generation; the backend drops it after the run in progress and runs nothing more', async () => {
    const res = await postJson(tenant.key, '/v1/generations', { class_id: CLASS.id, count: 4, seed: 7 });
    expect(res.status).toBe(202);
    const job = GenerationSchema.parse(await res.json());
    await until(async () => {
      const j = GenerationSchema.parse(await (await api(tenant.key, `/v1/generations/${job.id}`)).json());
      return j.status === 'running' ? j : null;
    }, 60_000);
    // The consumer marks the job running just before it calls the backend; give the call time to arrive.
    await new Promise((r) => setTimeout(r, 2000));
    const failuresBefore = await backendCounter('nv_inference_request_failure', { graph: 'generate' });
    const runsBefore = await backendCounter('nv_inference_exec_count', { graph: 'generate' });

    const started = performance.now();
    const cancel = await api(tenant.key, `/v1/generations/${job.id}/cancel`, { method: 'POST' });
    latencyMs.cancel = Math.round(performance.now() - started);
    expect(cancel.status).toBe(200);
    expect(GenerationSchema.parse(await cancel.json()).status).toBe('canceled');

    // The backend answers the canceled request at once (its rows are dropped when the run ends) ...
    await until(
      async () =>
        (await backendCounter('nv_inference_request_failure', { graph: 'generate' })) > failuresBefore ||
        null,
      30_000,
    );
    latencyMs.cancel_backend_answered = Math.round(performance.now() - started);
    // ... and is idle again after the run in progress.
    await until(
      async () =>
        (await backendCounter('nv_inference_exec_count', { graph: 'generate' })) > runsBefore || null,
      RUN_END_WAIT_MS,
    );
    latencyMs.cancel_backend_idle = Math.round(performance.now() - started);
    rssMiB.after_cancel = Math.round(await backendRssMiB());

    // Nothing runs it again, and it stays canceled.
    await new Promise((r) => setTimeout(r, 3000));
    expect(await backendCounter('nv_inference_exec_count', { graph: 'generate' })).toBe(runsBefore + 1);
    const final = GenerationSchema.parse(await (await api(tenant.key, `/v1/generations/${job.id}`)).json());
    expect(final.status).toBe('canceled');
    expect(final.result).toBeNull();
  });
});
