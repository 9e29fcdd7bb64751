// Test helpers: the tiny-random fixture, a configuration for it, signed requests, images made with sharp,
// and generate queues over the two generation runners.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { signBackendRequest } from '@gigatok/shared';
import sharp from 'sharp';
import type { Config } from '../src/config.ts';
import { chunkRunner } from '../src/generation/chunk-runner.ts';
import { byPrefixLength, graphRunner } from '../src/generation/graph-runner.ts';
import { type GenerateRequest, type GenerationRow, rowsOf } from '../src/generation/request.ts';
import { type StepMode, stepRunner } from '../src/generation/step-runner.ts';
import type { ArStepGraph } from '../src/graphs/ar-step.ts';
import type { GenerateGraph } from '../src/graphs/generate.ts';
import type { GenerateChunkGraph } from '../src/graphs/generate-chunk.ts';
import { Engine, type EngineOptions, type Runner } from '../src/scheduling/engine.ts';

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
    encodeMaxBatch: 16,
    maxQueueDelayMs: 0,
    maxQueue: 256,
    maxActiveBatches: 2,
    generatePath: 'auto',
    chunkSteps: 0,
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

/** A generate request queue over one runner, as the model service builds it (tests and benchmarks). */
export interface TestGenerator {
  generate(request: GenerateRequest, signal?: AbortSignal): Promise<Int32Array[]>;
  engine: Pick<Engine<GenerationRow, Int32Array>, 'queued' | 'active' | 'close'>;
}

type GeneratorOptions = Partial<Omit<EngineOptions<GenerationRow>, 'label'>>;

function generator<B>(runner: Runner<GenerationRow, Int32Array, B>, label: string, o: GeneratorOptions) {
  const engine = new Engine(runner, { label, maxBatch: 16, maxQueue: 256, ...o });
  return { engine, generate: (r: GenerateRequest, signal?: AbortSignal) => engine.submit(rowsOf(r), signal) };
}

/** Generation step by step on ar_step.onnx. */
export function stepGenerator(
  graph: ArStepGraph,
  o: GeneratorOptions & { mode?: StepMode } = {},
): TestGenerator {
  return generator(stepRunner(graph, o.mode ?? 'kv'), 'test/ar_step', { maxActiveBatches: 2, ...o });
}

/** Generation in chunks of `steps` steps on generate_chunk.onnx, rows joining between chunks. */
export function chunkGenerator(
  graph: GenerateChunkGraph,
  steps: number,
  o: GeneratorOptions = {},
): TestGenerator {
  return generator(chunkRunner(graph, steps), 'test/generate_chunk', o);
}

/** Generation in one run of generate.onnx per batch. */
export function graphGenerator(graph: GenerateGraph, o: GeneratorOptions = {}): TestGenerator {
  return generator(graphRunner(graph), 'test/generate', { picker: byPrefixLength, ...o });
}
