// A stand-in for the GPU backend in the Worker's unit tests (the real one runs in test/ suites). It
// checks every request's signature with shared's verifier and answers with real-shaped bodies: shared
// schemas, GTOK tokens, real PNGs, tokens drawn from shared's Philox uniforms. It also plays the
// webhook receiver at https://hooks.example.com, verifying Standard Webhooks signatures.

import { env } from 'cloudflare:workers';
import {
  AUGMENTATION_VIEWS,
  BackendAuthError,
  DecodeRequestSchema,
  EmbedRequestSchema,
  EncodeRequestSchema,
  encodeTokens,
  fromBase64,
  GenerateRequestSchema,
  type ManifestSummary,
  parseManifest,
  problem,
  sha256,
  summarizeManifest,
  TOKENS_MEDIA_TYPE,
  toBase64,
  uniform,
  verifyBackendRequest,
  verifyWebhook,
  WebhookVerificationError,
} from '@gigatok/shared';
import { encodePng } from '@gigatok/shared/testing/png';
import { Hono } from 'hono';
import nanoManifest from '../../../models/gigatok-nano/manifest.json';

export const BACKEND_ORIGIN = new URL(env.BACKEND_URL).origin;
export const HOOKS_ORIGIN = 'https://hooks.example.com';

/** The shipped default model's summary, from its committed manifest: the stub serves what the backend would. */
export const NANO: ManifestSummary = summarizeManifest(parseManifest(nanoManifest));

/** How the stub behaves: `up`, refusing connections (`down`), or answering an HTTP error. */
export type Mode = 'up' | 'down' | 'loading' | 'error500' | 'hang' | 'other-secret';

export interface BackendCall {
  method: string;
  path: string;
  body: unknown;
}

export interface WebhookDelivery {
  path: string;
  headers: Headers;
  body: string;
  /** The verified webhook-id, or the reason verification failed. */
  verified: { id: string } | { error: string };
}

const problemJson = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/problem+json' } });

/** A small WebP container (RIFF/WEBP/VP8L) for format=webp: right signature, placeholder payload. */
function webpFile(seed: number): Uint8Array {
  const payload = new Uint8Array([0x2f, seed & 0xff, 0, 0, 0, 0]);
  const out = new Uint8Array(20 + payload.length);
  const view = new DataView(out.buffer);
  out.set(new TextEncoder().encode('RIFF'), 0);
  view.setUint32(4, 12 + payload.length, true);
  out.set(new TextEncoder().encode('WEBPVP8L'), 8);
  view.setUint32(16, payload.length, true);
  out.set(payload, 20);
  return out;
}

async function renderImage(row: readonly number[], format: 'png' | 'webp') {
  const size = NANO.image_size;
  const data =
    format === 'png'
      ? encodePng(size, size, (x, y) => {
          const t = row[(y * size + x) % row.length]!;
          return [t & 0xff, (t >> 2) & 0xff, (x * 8) & 0xff];
        })
      : webpFile(row[0] ?? 0);
  return { format, width: size, height: size, data: toBase64(data) };
}

/**
 * The stub's tokens of an image: from the SHA-256 of its bytes; augmentation row a > 0 (the mirror, a
 * crop) hashes the bytes followed by a, so each row differs and is reproducible.
 */
export async function stubTokens(bytes: Uint8Array, a = 0): Promise<number[]> {
  const input = a === 0 ? bytes : new Uint8Array([...bytes, a]);
  const digest = await sha256(input);
  return [...Array(NANO.tokens_per_image).keys()].map(
    (i) => ((digest[i % 32]! << 2) | i) % NANO.codebook_size,
  );
}

export class BackendStub {
  mode: Mode = 'up';
  /** What GET /v1/models serves; a test file may add models before its first request (the Worker caches the list). */
  readonly models: ManifestSummary[] = [NANO];
  /** Modes for /v1/generate by seed, so one test's failures do not leak into another's jobs. */
  readonly generateModes = new Map<number, Mode | 'error400'>();
  /** Measured seconds per image that GET /v1/models reports, by model id (none: not measured). */
  readonly secondsPerImage = new Map<string, number>();
  readonly calls: BackendCall[] = [];
  readonly deliveries: WebhookDelivery[] = [];
  /** Status the webhook receiver answers, by path. */
  readonly hookStatus = new Map<string, number>();
  webhookSecrets: string[] = [];
  /** Rewrites the GTOK body of /v1/encode answers (a backend that breaks the format); identity when unset. */
  encodeGtok: ((gtok: Uint8Array) => Uint8Array) | undefined;
  readonly app = new Hono();
  /** Augmentations /v1/encode honours besides 'none' (a backend without them answers 400). */
  readonly augmentations = new Set<string>(['flip', 'ten_crop']);

  constructor() {
    this.app.use(async (c, next) => {
      const raw = new Uint8Array(await c.req.raw.clone().arrayBuffer());
      try {
        await verifyBackendRequest({
          secrets: [this.mode === 'other-secret' ? 'a-secret-the-worker-does-not-have' : env.BACKEND_SECRET],
          method: c.req.method,
          path: new URL(c.req.url).pathname + new URL(c.req.url).search,
          headers: c.req.raw.headers,
          body: raw,
        });
      } catch (error) {
        if (error instanceof BackendAuthError) {
          return problemJson(401, problem('unauthorized', `bad signature: ${error.reason}`));
        }
        throw error;
      }
      let body: unknown = null;
      if (raw.length > 0) body = JSON.parse(new TextDecoder().decode(raw));
      this.calls.push({ method: c.req.method, path: c.req.path, body });
      if (this.mode === 'loading') {
        if (c.req.path === '/readyz') return c.json({ status: 'loading', models: [] }, 503);
        return problemJson(503, problem('backend_unavailable', 'models are loading'));
      }
      if (this.mode === 'error500') return problemJson(500, problem('internal', 'boom'));
      await next();
    });
    this.app.get('/readyz', (c) => c.json({ status: 'ready', models: [NANO.id] }));
    this.app.get('/v1/models', (c) =>
      c.json({ models: this.models, estimated_seconds_per_image: Object.fromEntries(this.secondsPerImage) }),
    );
    this.app.post('/v1/encode', async (c) => {
      const parsed = EncodeRequestSchema.safeParse(await c.req.json());
      if (!parsed.success) return problemJson(400, problem('invalid_parameter', parsed.error.message));
      if (parsed.data.model !== NANO.id) return problemJson(400, problem('unknown_model', 'no such model'));
      const rows: number[][] = [];
      const augment = parsed.data.augment ?? 'none';
      if (augment !== 'none' && !this.augmentations.has(augment)) {
        return problemJson(400, problem('invalid_parameter', `'augment' must be 'none', got '${augment}'`));
      }
      for (const image of parsed.data.images) {
        for (let a = 0; a < AUGMENTATION_VIEWS[augment]; a++)
          rows.push(await stubTokens(fromBase64(image), a));
      }
      if ((c.req.header('accept') ?? '').includes(TOKENS_MEDIA_TYPE)) {
        const encoded = encodeTokens({
          model: NANO.id,
          codebookSize: NANO.codebook_size,
          tokensPerImage: NANO.tokens_per_image,
          tokens: rows,
        });
        const gtok = this.encodeGtok ? this.encodeGtok(encoded) : encoded;
        return c.body(gtok as Uint8Array<ArrayBuffer>, 200, { 'content-type': TOKENS_MEDIA_TYPE });
      }
      return c.json({
        model: NANO.id,
        codebook_size: NANO.codebook_size,
        tokens_per_image: NANO.tokens_per_image,
        tokens: rows,
      });
    });
    this.app.post('/v1/decode', async (c) => {
      const parsed = DecodeRequestSchema.safeParse(await c.req.json());
      if (!parsed.success) return problemJson(400, problem('invalid_parameter', parsed.error.message));
      const format = parsed.data.format ?? 'png';
      return c.json({
        model: parsed.data.model,
        images: await Promise.all(parsed.data.tokens.map((row) => renderImage(row, format))),
      });
    });
    this.app.post('/v1/generate', async (c) => {
      const parsed = GenerateRequestSchema.safeParse(await c.req.json());
      if (!parsed.success) return problemJson(400, problem('invalid_parameter', parsed.error.message));
      const request = parsed.data;
      const mode = this.generateModes.get(request.seed) ?? 'up';
      if (mode === 'loading') return problemJson(503, problem('backend_unavailable', 'models are loading'));
      if (mode === 'error500') return problemJson(500, problem('internal', 'boom'));
      if (mode === 'error400')
        return problemJson(400, problem('invalid_parameter', "'top_k' is bad", { field: 'top_k' }));
      // Image i draws token t from u(seed, first_index + i, t): the counter-based stream the real
      // sampler uses; a prefix (variations) fixes the first tokens, as the real sampler does.
      const first = request.first_index ?? 0;
      const tokens = request.class_ids.map((_, i) =>
        [...Array(NANO.tokens_per_image).keys()].map(
          (t) =>
            request.prefixes?.[i]?.[t] ??
            Math.floor(uniform(request.seed, first + i, t) * NANO.codebook_size),
        ),
      );
      const format = request.format ?? 'png';
      const images = request.return_images
        ? await Promise.all(tokens.map((row) => renderImage(row, format)))
        : undefined;
      return c.json({ model: request.model, seed: request.seed, tokens, ...(images ? { images } : {}) });
    });
    this.app.post('/v1/embed', async (c) => {
      const parsed = EmbedRequestSchema.safeParse(await c.req.json());
      if (!parsed.success) return problemJson(400, problem('invalid_parameter', parsed.error.message));
      // A 4-value stand-in vector that depends on every token but the last (as the real one does).
      const embeddings = parsed.data.tokens.map((row) => {
        const used = row.slice(0, -1);
        const sum = used.reduce((a, b) => a + b, 0);
        return [sum / used.length, used[0]! / 1024, Math.fround(Math.sin(sum)), -1.5];
      });
      return c.json({ model: parsed.data.model, layer: 2, dim: 4, embeddings });
    });
    this.app.post('/v1/generate/:id/cancel', (c) => c.json({ canceled: true }));
  }

  count(path: string): number {
    return this.calls.filter((call) => call.path === path).length;
  }

  /** /v1/generate calls for one seed. */
  generateCalls(seed: number): BackendCall[] {
    return this.calls.filter(
      (call) => call.path === '/v1/generate' && (call.body as { seed: number }).seed === seed,
    );
  }

  async receiveWebhook(request: Request): Promise<Response> {
    const body = await request.text();
    let verified: WebhookDelivery['verified'];
    try {
      verified = { id: verifyWebhook({ secrets: this.webhookSecrets, headers: request.headers, body }).id };
    } catch (error) {
      verified = { error: error instanceof WebhookVerificationError ? error.reason : String(error) };
    }
    const path = new URL(request.url).pathname;
    this.deliveries.push({ path, headers: request.headers, body, verified });
    return new Response(null, { status: this.hookStatus.get(path) ?? 204 });
  }

  async fetch(
    request: Request,
    signal: AbortSignal | undefined,
    passThrough: typeof fetch,
  ): Promise<Response> {
    const url = new URL(request.url);
    if (url.origin === BACKEND_ORIGIN) {
      if (this.mode === 'down') throw new TypeError('fetch failed: connection refused');
      if (this.mode === 'hang') {
        // Never answers; only the caller's AbortSignal ends it.
        return new Promise((_, reject) => {
          signal?.addEventListener('abort', () => reject(signal.reason));
        });
      }
      if (url.pathname === '/v1/generate') {
        const { seed } = (await request.clone().json()) as { seed: number };
        if (this.generateModes.get(seed) === 'down') throw new TypeError('fetch failed: connection refused');
      }
      return this.app.fetch(request);
    }
    if (url.origin === HOOKS_ORIGIN) return this.receiveWebhook(request);
    return passThrough(request);
  }
}

export const backend = new BackendStub();
