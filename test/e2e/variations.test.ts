// Variations and embeddings end to end: the Worker under wrangler dev (local R2, D1, Queues) in front of
// the real GPU backend on CPU with the default model (or the tiny fixture until nano is committed).
// Variations from an uploaded image and from a token id keep the source's first tokens; keep 0 equals
// /v1/generations; embeddings come as JSON and as float32 bytes, deterministic and cached in R2.
import { GenerationSchema, signBackendRequest, TokensResponseSchema } from '@gigatok/shared';
import { beforeAll, describe, expect, it } from 'vitest';
import { api, backendCounter, newTenant, postJson, stack } from '../lib/api.ts';
import { colouredDigit, rawToPng } from '../lib/images.ts';

let alice: { key: string; tenantId: string };
let model: { id: string; tokens_per_image: number; codebook_size: number; num_classes: number };
let png: Buffer;
let source: { id: string; row: number[] };

beforeAll(async () => {
  alice = await newTenant('e2e-variations');
  const models = (await (await api(alice.key, '/v1/models')).json()) as { data: (typeof model)[] };
  model = models.data[0]!;
  png = await rawToPng(colouredDigit(5));
  const res = await postJson(alice.key, '/v1/tokenize', { image: png.toString('base64') });
  const body = TokensResponseSchema.parse(await res.json());
  source = { id: body.id, row: body.tokens[0]! };
});

/** A request to the backend signed with the Worker's secret (shared/src/backend-auth.ts). */
async function backendPost(pathname: string, body: unknown): Promise<Response> {
  const { backendUrl, backendSecret } = stack();
  const text = JSON.stringify(body);
  const auth = await signBackendRequest({
    secret: backendSecret,
    method: 'POST',
    path: pathname,
    body: text,
  });
  return fetch(backendUrl + pathname, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: text,
  });
}

async function finishedJob(res: Response) {
  const text = await res.text();
  if (res.status !== 201) throw new Error(`expected 201, got ${res.status}: ${text}`);
  const job = GenerationSchema.parse(JSON.parse(text));
  expect(job.status).toBe('succeeded');
  return job;
}

async function tokenRows(job: { result: { images: { tokens_url: string }[] } | null }): Promise<number[][]> {
  return Promise.all(
    job.result!.images.map(async (image) => {
      const body = TokensResponseSchema.parse(await (await api(alice.key, image.tokens_url)).json());
      return body.tokens[0]!;
    }),
  );
}

describe('POST /v1/variations', () => {
  it('from an uploaded image: each variation starts with the first keep tokens of the image', async () => {
    const keep = Math.floor(model.tokens_per_image / 2);
    const job = await finishedJob(
      await postJson(
        alice.key,
        '/v1/variations',
        { image: png.toString('base64'), keep, count: 3, seed: 21, class_id: 0 },
        { prefer: 'wait=60' },
      ),
    );
    expect(job.params.variation).toEqual({ source_token_id: source.id, keep });
    const rows = await tokenRows(job);
    expect(rows).toHaveLength(3);
    for (const row of rows) {
      expect(row).toHaveLength(model.tokens_per_image);
      expect(row.slice(0, keep)).toEqual(source.row.slice(0, keep));
    }
    // Different seeds per image: the sampled tails are not all the same.
    expect(new Set(rows.map((r) => r.slice(keep).join())).size).toBeGreaterThan(1);
    // Images are rendered as for any generation.
    const image = await api(alice.key, job.result!.images[0]!.image_url!);
    expect(image.headers.get('content-type')).toBe('image/png');
  });

  it('from a token id, with keep_fraction', async () => {
    const job = await finishedJob(
      await postJson(
        alice.key,
        '/v1/variations',
        { token_id: source.id, keep_fraction: 0.25, seed: 22, count: 2 },
        { prefer: 'wait=60' },
      ),
    );
    const keep = Math.round(0.25 * model.tokens_per_image);
    expect(job.params.variation).toEqual({ source_token_id: source.id, keep });
    for (const row of await tokenRows(job)) expect(row.slice(0, keep)).toEqual(source.row.slice(0, keep));
  });

  it('with keep 0 draws exactly what /v1/generations draws for the same seed and class', async () => {
    const body = { seed: 23, class_id: 1, count: 2, output: { images: false } };
    const variation = await finishedJob(
      await postJson(
        alice.key,
        '/v1/variations',
        { ...body, token_id: source.id, keep: 0 },
        { prefer: 'wait=60' },
      ),
    );
    const plain = await finishedJob(
      await postJson(alice.key, '/v1/generations', body, { prefer: 'wait=60' }),
    );
    expect(await tokenRows(variation)).toEqual(await tokenRows(plain));
    expect(variation.result!.images.map((i) => i.token_id)).toEqual(
      plain.result!.images.map((i) => i.token_id),
    );
  });
});

describe('POST /v1/embeddings', () => {
  it('answers a float32 vector as JSON and as bytes, deterministic, the second time from R2 without the backend', async () => {
    const embedsBefore = await backendCounter('nv_inference_request_success', { graph: 'embed' });
    const first = await postJson(alice.key, '/v1/embeddings', { image: png.toString('base64') });
    expect(first.status).toBe(200);
    expect(first.headers.get('x-cache')).toBe('miss');
    const body = (await first.json()) as {
      token_id: string;
      dim: number;
      layer: number;
      embedding: number[];
    };
    expect(body.token_id).toBe(source.id);
    expect(body.embedding).toHaveLength(body.dim);
    expect(body.dim).toBeGreaterThan(1);
    for (const x of body.embedding) expect(Math.fround(x)).toBe(x);
    expect(await backendCounter('nv_inference_request_success', { graph: 'embed' })).toBe(embedsBefore + 1);

    const binary = await postJson(
      alice.key,
      '/v1/embeddings',
      { token_id: source.id },
      { accept: 'application/octet-stream' },
    );
    expect(binary.headers.get('x-cache')).toBe('hit');
    expect(binary.headers.get('content-type')).toBe('application/octet-stream');
    const view = new DataView(await binary.arrayBuffer());
    expect(view.byteLength).toBe(4 * body.dim);
    expect(Array.from({ length: body.dim }, (_, i) => view.getFloat32(4 * i, true))).toEqual(body.embedding);
    expect(await backendCounter('nv_inference_request_success', { graph: 'embed' })).toBe(embedsBefore + 1);

    // Deterministic: the backend, asked directly (signed as the Worker signs), computes the same vector
    // for the same token row every time, equal to the one the Worker stored.
    for (let i = 0; i < 2; i++) {
      const direct = (await (
        await backendPost('/v1/embed', { model: model.id, tokens: [source.row] })
      ).json()) as {
        embeddings: number[][];
      };
      expect(direct.embeddings[0]).toEqual(body.embedding);
    }
  });

  it('gives different images different vectors', async () => {
    const png2 = await rawToPng(colouredDigit(7));
    const a = (await (
      await postJson(alice.key, '/v1/embeddings', { image: png.toString('base64') })
    ).json()) as {
      embedding: number[];
    };
    const b = (await (
      await postJson(alice.key, '/v1/embeddings', { image: png2.toString('base64') })
    ).json()) as {
      embedding: number[];
      token_id: string;
    };
    expect(b.token_id).not.toBe(source.id);
    expect(b.embedding).not.toEqual(a.embedding);
  });
});
