// The real server on loopback (real onnxruntime on CPU, real HTTP, the tiny-random fixture): every
// endpoint, signing, batching equivalence, limits and bad input -> problem+json.
import { decodeTokens, encodeTokens, TOKENS_MEDIA_TYPE } from '@gigatok/shared';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, startServer } from '../src/server.ts';
import { b64, expectProblem, gradient, postJson, signedFetch, testConfig } from './helpers.ts';

let server: RunningServer;
let base: string;
const MODEL = 'tiny-random';
const T = 8;
const V = 64;
const SIZE = 16;

beforeAll(async () => {
  server = await startServer(testConfig({ maxBodyBytes: 256 * 1024 }));
  base = server.url;
  await server.loaded;
});

afterAll(async () => {
  await server?.close();
});

const generateBody = (over: Record<string, unknown> = {}) => ({
  model: MODEL,
  seed: 11,
  class_ids: [0, 1],
  cfg_scale: 4,
  cfg_schedule: 'constant',
  temperature: 1,
  top_k: 0,
  top_p: 1,
  ...over,
});

describe('probes and metrics (unauthenticated)', () => {
  it('GET /healthz answers ok', async () => {
    const res = await fetch(`${base}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('GET /readyz is ready with the loaded models after warm-up', async () => {
    const res = await fetch(`${base}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ready', models: [MODEL] });
  });

  it('GET /metrics serves Triton-style counters labelled by model and graph', async () => {
    await postJson(base, '/v1/encode', { model: MODEL, images: [b64(await gradient(1))] });
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toMatch(/nv_inference_request_success\{model="tiny-random",graph="encoder"\} [1-9]/);
    expect(text).toMatch(/nv_inference_exec_count\{model="tiny-random",graph="encoder"\} [1-9]/);
    expect(text).toMatch(/nv_inference_count\{model="tiny-random",graph="encoder"\} [1-9]/);
    expect(text).toContain('nv_inference_queue_duration_us');
    expect(text).toContain('nv_inference_compute_infer_duration_us');
    expect(text).toContain('gigatok_inference_batch_size_bucket');
  });
});

describe('request signing', () => {
  it('accepts a signed request', async () => {
    const res = await signedFetch(base, '/v1/models');
    expect(res.status).toBe(200);
  });

  it('refuses an unsigned request with 401 problem+json', async () => {
    await expectProblem(await fetch(`${base}/v1/models`), 401, 'unauthorized');
  });

  it('refuses a request signed more than 300 s ago', async () => {
    const stale = Math.floor(Date.now() / 1000) - 301;
    const body = await expectProblem(
      await signedFetch(base, '/v1/models', { timestamp: stale }),
      401,
      'unauthorized',
    );
    expect(body.detail).toContain('timestamp_too_old');
  });

  it('refuses a request signed with another secret', async () => {
    await expectProblem(
      await signedFetch(base, '/v1/models', { secret: 'some-other-secret-0123456789' }),
      401,
      'unauthorized',
    );
  });

  it('refuses a body changed after signing', async () => {
    const { signBackendRequest } = await import('@gigatok/shared');
    const headers = await signBackendRequest({
      secret: (await import('./helpers.ts')).SECRET,
      method: 'POST',
      path: '/v1/encode',
      body: '{"model":"tiny-random","images":[]}',
    });
    const res = await fetch(`${base}/v1/encode`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: '{"model":"tiny-random","images":["AAAA"]}',
    });
    await expectProblem(res, 401, 'unauthorized');
  });
});

describe('GET /v1/models', () => {
  it('lists the model with its sizes, classes and sampling defaults', async () => {
    const res = await signedFetch(base, '/v1/models');
    const body = (await res.json()) as { models: Record<string, unknown>[] };
    expect(body.models).toHaveLength(1);
    expect(body.models[0]).toMatchObject({
      id: MODEL,
      image_size: SIZE,
      tokens_per_image: T,
      codebook_size: V,
      num_classes: 4,
      class_labels: ['class 0', 'class 1', 'class 2', 'class 3'],
      sampling_defaults: { cfg_scale: 4, cfg_schedule: 'constant', temperature: 1, top_k: 0, top_p: 1 },
    });
  });
});

describe('POST /v1/encode', () => {
  it('encodes PNG, JPEG and WebP images to T tokens each, in range', async () => {
    const images = [
      await gradient(1, 24, 20, 'png'),
      await gradient(2, 20, 30, 'jpeg'),
      await gradient(3, 16, 16, 'webp'),
    ];
    const res = await postJson(base, '/v1/encode', { model: MODEL, images: images.map(b64) });
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      model: string;
      codebook_size: number;
      tokens_per_image: number;
      tokens: number[][];
    };
    expect(body.model).toBe(MODEL);
    expect(body.codebook_size).toBe(V);
    expect(body.tokens_per_image).toBe(T);
    expect(body.tokens).toHaveLength(3);
    for (const row of body.tokens) {
      expect(row).toHaveLength(T);
      for (const t of row) expect(Number.isInteger(t) && t >= 0 && t < V).toBe(true);
    }
  });

  it('answers the GTOK binary format when asked for it, with the same tokens', async () => {
    const images = [b64(await gradient(4)), b64(await gradient(5))];
    const json = (await (await postJson(base, '/v1/encode', { model: MODEL, images })).json()) as {
      tokens: number[][];
    };
    const res = await postJson(base, '/v1/encode', { model: MODEL, images }, { accept: TOKENS_MEDIA_TYPE });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(TOKENS_MEDIA_TYPE);
    const set = decodeTokens(new Uint8Array(await res.arrayBuffer()));
    expect(set.model).toBe(MODEL);
    expect(set.count).toBe(2);
    expect([Array.from(set.tokens.subarray(0, T)), Array.from(set.tokens.subarray(T))]).toEqual(json.tokens);
  });

  it('gives the same tokens batched (concurrent requests, one request of many) as one at a time', async () => {
    const images = await Promise.all([1, 2, 3, 4, 5, 6].map((s) => gradient(s + 10)));
    const one = async (img: Uint8Array) =>
      (
        (await (await postJson(base, '/v1/encode', { model: MODEL, images: [b64(img)] })).json()) as {
          tokens: number[][];
        }
      ).tokens[0];
    const sequential: (number[] | undefined)[] = [];
    for (const img of images) sequential.push(await one(img));
    const concurrent = await Promise.all(images.map(one));
    const single = (
      (await (await postJson(base, '/v1/encode', { model: MODEL, images: images.map(b64) })).json()) as {
        tokens: number[][];
      }
    ).tokens;
    expect(concurrent).toEqual(sequential);
    expect(single).toEqual(sequential);
    // Not a degenerate model: different images give different tokens.
    expect(new Set(sequential.map((r) => JSON.stringify(r))).size).toBeGreaterThan(1);
  });

  it("carries the request's preprocessing mode: 'normalized' composites a transparent image onto white", async () => {
    // Fully transparent black: 'official' (the default) drops alpha and sees black, 'normalized' white.
    const clear = b64(
      new Uint8Array(
        await sharp({
          create: { width: 24, height: 24, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } },
        })
          .png()
          .toBuffer(),
      ),
    );
    const black = b64(
      await sharp({ create: { width: 24, height: 24, channels: 3, background: '#000' } })
        .png()
        .toBuffer(),
    );
    const white = b64(
      await sharp({ create: { width: 24, height: 24, channels: 3, background: '#fff' } })
        .png()
        .toBuffer(),
    );
    const tokens = async (images: string[], preprocessing?: string) =>
      (
        (await (await postJson(base, '/v1/encode', { model: MODEL, images, preprocessing })).json()) as {
          tokens: number[][];
        }
      ).tokens;
    const [blackRow, whiteRow] = await tokens([black, white]);
    expect(blackRow).not.toEqual(whiteRow);
    expect(await tokens([clear])).toEqual([blackRow]);
    expect(await tokens([clear], 'official')).toEqual([blackRow]);
    expect(await tokens([clear], 'normalized')).toEqual([whiteRow]);
  });

  describe('augment and priority', () => {
    type Body = { tokens: number[][] };
    const encode = async (images: Uint8Array[], more: Record<string, unknown> = {}) =>
      (
        (await (
          await postJson(base, '/v1/encode', { model: MODEL, images: images.map(b64), ...more })
        ).json()) as Body
      ).tokens;
    const png = async (img: ReturnType<typeof sharp>) => new Uint8Array(await img.png().toBuffer());

    it("'flip' answers [image, mirror] per image, image-major, each equal to encoding that view", async () => {
      const a = await gradient(21, SIZE, SIZE);
      const b = await gradient(22, SIZE, SIZE);
      const rows = await encode([a, b], { augment: 'flip' });
      expect(rows).toHaveLength(4);
      const mirrors = await Promise.all([a, b].map((img) => png(sharp(img).flop())));
      expect(rows).toEqual(await encode([a, mirrors[0]!, b, mirrors[1]!]));
      expect(rows[0]).not.toEqual(rows[1]);
    });

    it("'ten_crop' answers ten rows per image: the corners and centre of the 1.1x crop, then of its mirror", async () => {
      // At S = 16 the extractor crops to int(17.6) = 17: a 17x17 image is that crop already.
      const img = await gradient(23, 17, 17);
      const rows = await encode([img], { augment: 'ten_crop' });
      expect(rows).toHaveLength(10);
      // sharp extracts before it flops whatever the call order, so the mirror is made first.
      const mirrored = await png(sharp(img).flop());
      const cut = (left: number, top: number, flop = false) =>
        png(sharp(flop ? mirrored : img).extract({ left, top, width: SIZE, height: SIZE }));
      // Centre offset round(0.5) = 0 (ties to even).
      const views = await Promise.all([
        cut(0, 0),
        cut(1, 0),
        cut(0, 1),
        cut(1, 1),
        cut(0, 0),
        cut(0, 0, true),
        cut(1, 0, true),
        cut(0, 1, true),
        cut(1, 1, true),
        cut(0, 0, true),
      ]);
      expect(rows).toEqual(await encode(views));
    });

    it("'background' priority gives the same tokens as interactive", async () => {
      const images = [await gradient(24), await gradient(25)];
      expect(await encode(images, { priority: 'background', augment: 'flip' })).toEqual(
        await encode(images, { augment: 'flip' }),
      );
    });

    it("more views than the queue holds -> 400 naming 'images' and the most images for that augment", async () => {
      // The test server's GIGATOK_MAX_QUEUE is 256: 26 images x 10 views is 260.
      const img = b64(await gradient(26, SIZE, SIZE));
      const body = await expectProblem(
        await postJson(base, '/v1/encode', {
          model: MODEL,
          images: new Array(26).fill(img),
          augment: 'ten_crop',
        }),
        400,
        'invalid_parameter',
      );
      expect(body.field).toBe('images');
      expect((body as { limit?: number }).limit).toBe(25);
      expect(
        (await encode(new Array(25).fill(await gradient(26, SIZE, SIZE)), { augment: 'ten_crop' })).length,
      ).toBe(250);
    });

    for (const [field, value] of [
      ['augment', 'rotate'],
      ['priority', 'urgent'],
    ] as const) {
      it(`an unknown ${field} -> 400 invalid_parameter naming '${field}'`, async () => {
        const body = await expectProblem(
          await postJson(base, '/v1/encode', {
            model: MODEL,
            images: [b64(await gradient(1))],
            [field]: value,
          }),
          400,
          'invalid_parameter',
        );
        expect(body.field).toBe(field);
      });
    }
  });

  describe('bad input', () => {
    it("an unknown preprocessing mode -> 400 invalid_parameter naming 'preprocessing'", async () => {
      const body = await expectProblem(
        await postJson(base, '/v1/encode', {
          model: MODEL,
          images: [b64(await gradient(1))],
          preprocessing: 'lanczos',
        }),
        400,
        'invalid_parameter',
      );
      expect(body.field).toBe('preprocessing');
    });

    it('a 65535x1 PNG -> 422 image_dimensions_unsupported naming the entry and the limit', async () => {
      const strip = new Uint8Array(
        await sharp({ create: { width: 65_535, height: 1, channels: 3, background: '#888' } })
          .png()
          .toBuffer(),
      );
      const body = await expectProblem(
        await postJson(base, '/v1/encode', { model: MODEL, images: [b64(strip)] }),
        422,
        'image_dimensions_unsupported',
      );
      expect(body.field).toBe('images.0');
      expect(body.detail).toContain('the limit (maxImageSide) is 16384');
    });

    it('an unknown model -> 400 unknown_model naming the field', async () => {
      const body = await expectProblem(
        await postJson(base, '/v1/encode', { model: 'nope', images: [b64(await gradient(1))] }),
        400,
        'unknown_model',
      );
      expect(body.field).toBe('model');
    });

    it('a corrupt image -> 400 invalid_image naming its index', async () => {
      const png = await gradient(1);
      const broken = png.slice(0, png.length - 30);
      const body = await expectProblem(
        await postJson(base, '/v1/encode', { model: MODEL, images: [b64(png), b64(broken)] }),
        400,
        'invalid_image',
      );
      expect(body.field).toBe('images.1');
    });

    it('not base64 -> 400 invalid_parameter naming the entry', async () => {
      const body = await expectProblem(
        await postJson(base, '/v1/encode', { model: MODEL, images: ['not base64!'] }),
        400,
        'invalid_parameter',
      );
      expect(body.field).toBe('images.0');
    });

    it('a GIF -> 415 unsupported_media_type', async () => {
      const gif = new Uint8Array(
        await sharp({ create: { width: 4, height: 4, channels: 3, background: '#fff' } })
          .gif()
          .toBuffer(),
      );
      await expectProblem(
        await postJson(base, '/v1/encode', { model: MODEL, images: [b64(gif)] }),
        415,
        'unsupported_media_type',
      );
    });

    it('no images, or more than 64 -> 400 invalid_parameter', async () => {
      await expectProblem(
        await postJson(base, '/v1/encode', { model: MODEL, images: [] }),
        400,
        'invalid_parameter',
      );
      const many = Array.from({ length: 65 }, () => 'AAAA');
      const body = await expectProblem(
        await postJson(base, '/v1/encode', { model: MODEL, images: many }),
        400,
        'invalid_parameter',
      );
      expect(body.field).toBe('images');
    });

    it('malformed JSON -> 400 invalid_json', async () => {
      await expectProblem(await signedFetch(base, '/v1/encode', { body: '{"model": ' }), 400, 'invalid_json');
    });

    it('a non-JSON content type -> 415', async () => {
      await expectProblem(
        await signedFetch(base, '/v1/encode', { body: '{}', headers: { 'content-type': 'text/plain' } }),
        415,
        'unsupported_media_type',
      );
    });

    it('a body over the limit -> 413 payload_too_large', async () => {
      const big = JSON.stringify({ model: MODEL, images: ['A'.repeat(300 * 1024)] });
      await expectProblem(await signedFetch(base, '/v1/encode', { body: big }), 413, 'payload_too_large');
    });
  });
});

describe('POST /v1/decode', () => {
  const tokens = [
    [0, 1, 2, 3, 4, 5, 6, 7],
    [63, 62, 61, 60, 59, 58, 57, 56],
  ];

  it('decodes token rows to PNG images of the model size', async () => {
    const res = await postJson(base, '/v1/decode', { model: MODEL, tokens });
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      model: string;
      images: { format: string; width: number; height: number; data: string }[];
    };
    expect(body.images).toHaveLength(2);
    for (const img of body.images) {
      expect([img.format, img.width, img.height]).toEqual(['png', SIZE, SIZE]);
      const meta = await sharp(Buffer.from(img.data, 'base64')).metadata();
      expect([meta.format, meta.width, meta.height, meta.channels]).toEqual(['png', SIZE, SIZE, 3]);
    }
    expect(body.images[0]!.data).not.toBe(body.images[1]!.data);
  });

  it('decodes to lossless WebP with the same pixels as PNG', async () => {
    const png = (await (await postJson(base, '/v1/decode', { model: MODEL, tokens })).json()) as {
      images: { data: string }[];
    };
    const webp = (await (
      await postJson(base, '/v1/decode', { model: MODEL, tokens, format: 'webp' })
    ).json()) as {
      images: { format: string; data: string }[];
    };
    expect(webp.images[0]!.format).toBe('webp');
    const a = await sharp(Buffer.from(png.images[0]!.data, 'base64')).raw().toBuffer();
    const b = await sharp(Buffer.from(webp.images[0]!.data, 'base64')).raw().toBuffer();
    expect(b.equals(a)).toBe(true);
  });

  it('accepts a GTOK body and gives the same images as JSON', async () => {
    const gtok = encodeTokens({ model: MODEL, codebookSize: V, tokensPerImage: T, tokens });
    const res = await signedFetch(base, '/v1/decode', {
      body: gtok,
      headers: { 'content-type': TOKENS_MEDIA_TYPE },
    });
    expect(res.status).toBe(200);
    const bin = (await res.json()) as { images: { data: string }[] };
    const json = (await (await postJson(base, '/v1/decode', { model: MODEL, tokens })).json()) as {
      images: { data: string }[];
    };
    expect(bin.images.map((i) => i.data)).toEqual(json.images.map((i) => i.data));
  });

  it('gives the same images batched as one at a time', async () => {
    const rows = Array.from({ length: 5 }, (_, i) =>
      Array.from({ length: T }, (_, t) => (i * 13 + t * 7) % V),
    );
    const together = (await (await postJson(base, '/v1/decode', { model: MODEL, tokens: rows })).json()) as {
      images: { data: string }[];
    };
    const apart = await Promise.all(
      rows.map(
        async (r) =>
          (
            (await (await postJson(base, '/v1/decode', { model: MODEL, tokens: [r] })).json()) as {
              images: { data: string }[];
            }
          ).images[0]!.data,
      ),
    );
    expect(together.images.map((i) => i.data)).toEqual(apart);
  });

  describe('bad input', () => {
    it('a row with the wrong token count -> 400 invalid_tokens naming the row', async () => {
      const body = await expectProblem(
        await postJson(base, '/v1/decode', { model: MODEL, tokens: [tokens[0], [1, 2, 3]] }),
        400,
        'invalid_tokens',
      );
      expect(body.field).toBe('tokens.1');
    });

    it('a token id outside the codebook -> 400 invalid_tokens naming the token', async () => {
      const body = await expectProblem(
        await postJson(base, '/v1/decode', { model: MODEL, tokens: [[0, 1, 2, 64, 4, 5, 6, 7]] }),
        400,
        'invalid_tokens',
      );
      expect(body.field).toBe('tokens.0.3');
      expect(body.detail).toContain('[0, 63]');
    });

    it('a negative or fractional token -> 400', async () => {
      const neg = await postJson(base, '/v1/decode', { model: MODEL, tokens: [[0, 1, 2, -1, 4, 5, 6, 7]] });
      expect(neg.status).toBe(400);
      const frac = await postJson(base, '/v1/decode', { model: MODEL, tokens: [[0, 1, 2, 1.5, 4, 5, 6, 7]] });
      expect(frac.status).toBe(400);
    });

    it('a corrupted GTOK body -> 400 invalid_tokens', async () => {
      const gtok = encodeTokens({ model: MODEL, codebookSize: V, tokensPerImage: T, tokens });
      gtok[gtok.length - 1]! ^= 0xff;
      await expectProblem(
        await signedFetch(base, '/v1/decode', { body: gtok, headers: { 'content-type': TOKENS_MEDIA_TYPE } }),
        400,
        'invalid_tokens',
      );
    });

    it('a GTOK body with more than 64 images -> 400 invalid_tokens', async () => {
      const many = Array.from({ length: 65 }, () => tokens[0]!);
      const gtok = encodeTokens({ model: MODEL, codebookSize: V, tokensPerImage: T, tokens: many });
      const body = await expectProblem(
        await signedFetch(base, '/v1/decode', { body: gtok, headers: { 'content-type': TOKENS_MEDIA_TYPE } }),
        400,
        'invalid_tokens',
      );
      expect(body.detail).toContain('65 images');
    });

    it('an unknown format -> 400 invalid_parameter', async () => {
      const body = await expectProblem(
        await postJson(base, '/v1/decode', { model: MODEL, tokens, format: 'gif' }),
        400,
        'invalid_parameter',
      );
      expect(body.field).toBe('format');
    });
  });
});

describe('POST /v1/generate', () => {
  it('samples tokens per class id, deterministic for a seed, with images on request', async () => {
    const res = await postJson(
      base,
      '/v1/generate',
      generateBody({ class_ids: [0, 3, null], return_images: true }),
    );
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      model: string;
      seed: number;
      tokens: number[][];
      images: { width: number; data: string }[];
    };
    expect(body.model).toBe(MODEL);
    expect(body.seed).toBe(11);
    expect(body.tokens).toHaveLength(3);
    for (const row of body.tokens) expect(row).toHaveLength(T);
    expect(body.images).toHaveLength(3);
    expect(body.images[0]!.width).toBe(SIZE);
    // The images are the decoder's rendering of exactly those tokens.
    const decoded = (await (
      await postJson(base, '/v1/decode', { model: MODEL, tokens: body.tokens })
    ).json()) as {
      images: { data: string }[];
    };
    expect(body.images.map((i) => i.data)).toEqual(decoded.images.map((i) => i.data));
    const again = (await (
      await postJson(base, '/v1/generate', generateBody({ class_ids: [0, 3, null] }))
    ).json()) as {
      tokens: number[][];
    };
    expect(again.tokens).toEqual(body.tokens);
  });

  it('gives image i the same tokens alone or batched with concurrent requests', async () => {
    const alone = (await (
      await postJson(base, '/v1/generate', generateBody({ seed: 77, class_ids: [2, 1] }))
    ).json()) as {
      tokens: number[][];
    };
    const [, together] = await Promise.all([
      postJson(base, '/v1/generate', generateBody({ seed: 5, class_ids: [0, 0, 0], top_k: 3 })),
      postJson(base, '/v1/generate', generateBody({ seed: 77, class_ids: [2, 1] })),
      postJson(base, '/v1/generate', generateBody({ seed: 6, class_ids: [null], temperature: 0.3 })),
    ]);
    expect(((await together.json()) as { tokens: number[][] }).tokens).toEqual(alone.tokens);
  });

  describe('bad input', () => {
    it('a class id outside the model -> 400 naming the field', async () => {
      const body = await expectProblem(
        await postJson(base, '/v1/generate', generateBody({ class_ids: [0, 4] })),
        400,
        'invalid_parameter',
      );
      expect(body.field).toBe('class_ids.1');
    });

    it('top_k above the codebook size -> 400', async () => {
      const body = await expectProblem(
        await postJson(base, '/v1/generate', generateBody({ top_k: 65 })),
        400,
        'invalid_parameter',
      );
      expect(body.field).toBe('top_k');
    });

    it('a missing sampling field -> 400 naming it', async () => {
      const { temperature: _, ...rest } = generateBody();
      const body = await expectProblem(await postJson(base, '/v1/generate', rest), 400, 'invalid_parameter');
      expect(body.field).toBe('temperature');
    });

    it('a seed outside uint32 -> 400', async () => {
      await expectProblem(
        await postJson(base, '/v1/generate', generateBody({ seed: 2 ** 32 })),
        400,
        'invalid_parameter',
      );
    });
  });

  it('cancel of an unknown request_id -> 404 not_found', async () => {
    await expectProblem(
      await signedFetch(base, '/v1/generate/nothing-here/cancel', { method: 'POST' }),
      404,
      'not_found',
    );
  });
});

describe('routing', () => {
  it('an unknown path -> 404 problem+json', async () => {
    await expectProblem(await signedFetch(base, '/v1/nope'), 404, 'not_found');
  });

  it('a wrong method on a known path -> 405 with Allow', async () => {
    const res = await signedFetch(base, '/v1/encode');
    expect(res.headers.get('allow')).toBe('POST');
    await expectProblem(res, 405, 'method_not_allowed');
    const models = await signedFetch(base, '/v1/models', { method: 'POST', body: '{}' });
    expect(models.headers.get('allow')).toBe('GET');
    await expectProblem(models, 405, 'method_not_allowed');
  });
});
