// Test helpers: the tiny-random fixture, a configuration for it, signed requests, images made with sharp.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { signBackendRequest } from '@gigatok/shared';
import sharp from 'sharp';
import type { Config } from '../src/config.ts';

export const FIXTURE_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'tiny-random');
export const SECRET = 'test-secret-0123456789abcdef';

export function testConfig(overrides: Partial<Config> = {}): Config {
  return {
    modelDirs: [FIXTURE_DIR],
    device: 'cpu',
    cudaDeviceId: 0,
    intraOpThreads: 1,
    interOpThreads: 1,
    maxBatch: 16,
    maxQueueDelayMs: 2,
    maxQueue: 256,
    maxActiveBatches: 2,
    generatePath: 'auto',
    secrets: [SECRET],
    insecureDev: false,
    warmup: true,
    ortWorker: true,
    maxBodyBytes: 4 * 1024 * 1024,
    maxImageBytes: 1024 * 1024,
    maxImagePixels: 4_000_000,
    requestTimeoutMs: 30_000,
    shutdownTimeoutMs: 5_000,
    logLevel: (process.env.GIGATOK_TEST_LOG_LEVEL as Config['logLevel'] | undefined) ?? 'silent',
    port: 0,
    host: '127.0.0.1',
    ...overrides,
  };
}

/** fetch with the Worker's signature (shared/src/backend-auth.ts). */
export async function signedFetch(
  base: string,
  pathWithQuery: string,
  init: {
    method?: string;
    body?: string | Uint8Array;
    headers?: Record<string, string>;
    timestamp?: number;
    secret?: string;
  } = {},
): Promise<Response> {
  const method = init.method ?? (init.body === undefined ? 'GET' : 'POST');
  const auth = await signBackendRequest({
    secret: init.secret ?? SECRET,
    method,
    path: pathWithQuery,
    body: init.body,
    ...(init.timestamp === undefined ? {} : { timestamp: init.timestamp }),
  });
  return fetch(base + pathWithQuery, {
    method,
    headers: {
      ...auth,
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...init.headers,
    },
    body: init.body as string | Uint8Array<ArrayBuffer> | undefined,
  });
}

export async function postJson(base: string, p: string, body: unknown, headers: Record<string, string> = {}) {
  return signedFetch(base, p, { body: JSON.stringify(body), headers });
}

/** A small deterministic test image: a colour gradient with a seed-dependent offset. */
export async function gradient(
  seed: number,
  width = 24,
  height = 20,
  format: 'png' | 'jpeg' | 'webp' = 'png',
) {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      raw[i] = (x * 10 + seed * 37) % 256;
      raw[i + 1] = (y * 12 + seed * 91) % 256;
      raw[i + 2] = (x * y + seed * 13) % 256;
    }
  }
  const img = sharp(raw, { raw: { width, height, channels: 3 } });
  const out = format === 'png' ? img.png() : format === 'jpeg' ? img.jpeg() : img.webp();
  return new Uint8Array(await out.toBuffer());
}

export function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}

export async function expectProblem(res: Response, status: number, code: string) {
  const text = await res.text();
  if (res.status !== status) throw new Error(`expected ${status} ${code}, got ${res.status}: ${text}`);
  if (!(res.headers.get('content-type') ?? '').startsWith('application/problem+json')) {
    throw new Error(`expected problem+json, got ${res.headers.get('content-type')}: ${text}`);
  }
  const body = JSON.parse(text) as {
    code: string;
    status: number;
    type: string;
    field?: string;
    detail: string;
  };
  if (body.code !== code) throw new Error(`expected code ${code}, got ${body.code}: ${text}`);
  if (body.status !== status || body.type !== `urn:gigatok:problem:${code}`)
    throw new Error(`bad problem: ${text}`);
  return body;
}
