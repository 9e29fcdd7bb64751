// Server configuration: every environment variable parsed and validated once at start (zod), so a
// bad value stops the server with a message naming the variable instead of failing later.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LIMITS } from '@gigatok/shared';
import { z } from 'zod';
import { devices } from './runtime/device.ts';

/** The repository root (this file is gpu-backend/src/config.ts). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const defaultModelDir = path.join(repoRoot, 'models', 'gigatok-nano');

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const flag = z
  .enum(['0', '1', 'true', 'false', ''])
  .transform((v) => v === '1' || v === 'true')
  .default(false);

const envSchema = z
  .object({
    GIGATOK_MODEL_DIRS: z.string().default(defaultModelDir),
    GIGATOK_DEVICE: z.enum(devices as [string, ...string[]]).default('cpu'),
    GIGATOK_CUDA_DEVICE_ID: int(0, 64).default(0),
    GIGATOK_INTRA_OP_THREADS: int(0, 1024).default(0),
    GIGATOK_INTER_OP_THREADS: int(0, 1024).default(0),
    GIGATOK_MAX_BATCH: int(1, 256).default(16),
    GIGATOK_ENCODE_MAX_BATCH: int(0, 256).default(0),
    GIGATOK_MAX_QUEUE_DELAY_MS: int(0, 10_000).default(0),
    GIGATOK_MAX_QUEUE: int(64, 1_000_000).default(256),
    GIGATOK_MAX_ACTIVE_BATCHES: int(1, 64).default(2),
    GIGATOK_GENERATE_PATH: z.enum(['auto', 'chunked', 'graph', 'steps']).default('auto'),
    GIGATOK_CHUNK_STEPS: int(0, 65_536).default(0),
    GIGATOK_BACKEND_SECRET: z.string().optional(),
    GIGATOK_INSECURE_DEV: flag,
    GIGATOK_ORT_WORKER: z
      .enum(['0', '1', 'true', 'false'])
      .transform((v) => v === '1' || v === 'true')
      .default(true),
    GIGATOK_WARMUP: z
      .enum(['0', '1', 'true', 'false'])
      .transform((v) => v === '1' || v === 'true')
      .default(true),
    GIGATOK_MAX_BODY_BYTES: int(1024, 2 ** 31).default(64 * 1024 * 1024),
    GIGATOK_MAX_IMAGE_BYTES: int(1024, 2 ** 31).default(LIMITS.maxImageBytes),
    GIGATOK_MAX_IMAGE_PIXELS: int(1, 2 ** 31).default(LIMITS.maxImagePixels),
    GIGATOK_REQUEST_TIMEOUT_MS: int(1000, 3_600_000).default(300_000),
    GIGATOK_SHUTDOWN_TIMEOUT_MS: int(0, 3_600_000).default(30_000),
    GIGATOK_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
    PORT: int(0, 65535).default(8790),
    HOST: z.string().min(1).default('127.0.0.1'),
  })
  .superRefine((env, ctx) => {
    const secrets = (env.GIGATOK_BACKEND_SECRET ?? '').split(',').filter((s) => s.length > 0);
    if (secrets.length === 0 && !env.GIGATOK_INSECURE_DEV) {
      ctx.addIssue({
        code: 'custom',
        path: ['GIGATOK_BACKEND_SECRET'],
        message:
          'is required (the HMAC secret shared with the Worker); set GIGATOK_INSECURE_DEV=1 to run unauthenticated',
      });
    }
    if (secrets.some((s) => s.length < 16)) {
      ctx.addIssue({
        code: 'custom',
        path: ['GIGATOK_BACKEND_SECRET'],
        message: 'each secret must be >= 16 characters',
      });
    }
  });

/**
 * Views per encoder run. On a CPU the encoder is compute-bound and a run of many views is slower per
 * view than a run of one or two (measured through the whole stack, docs/performance.md: S-S 0.89 s per
 * view at 2, 1.11 s at 16), so the CPU default is 2; on CUDA a bigger run fills the device, so the
 * default is GIGATOK_MAX_BATCH. GIGATOK_ENCODE_MAX_BATCH (1 to GIGATOK_MAX_BATCH) sets it by hand.
 */
export function encodeBatch(device: Config['device'], maxBatch: number, setting: number): number {
  if (setting > 0) return Math.min(setting, maxBatch);
  return device === 'cpu' ? Math.min(2, maxBatch) : maxBatch;
}

export interface Config {
  modelDirs: string[];
  device: (typeof devices)[number];
  cudaDeviceId: number;
  intraOpThreads: number;
  interOpThreads: number;
  maxBatch: number;
  /** Images per encoder run (encodeBatch). */
  encodeMaxBatch: number;
  /** Opt-in wait for a fuller batch when a graph is idle; 0 (the default) runs every request at once. */
  maxQueueDelayMs: number;
  maxQueue: number;
  maxActiveBatches: number;
  /**
   * generate through generate_chunk.onnx (`chunked`), generate.onnx (`graph`), ar_step.onnx step by
   * step (`steps`), or the first of chunked and graph the model has (`auto`).
   */
  generatePath: 'auto' | 'chunked' | 'graph' | 'steps';
  /** Steps per run of generate_chunk.onnx; 0 = chosen from the warm-up timing (chunkStepsFor). */
  chunkSteps: number;
  /** Accepted HMAC secrets (several during a rotation); empty only with insecureDev. */
  secrets: string[];
  insecureDev: boolean;
  warmup: boolean;
  /** Run each model's sessions in a worker thread (keeps the event loop free during inference). */
  ortWorker: boolean;
  maxBodyBytes: number;
  maxImageBytes: number;
  maxImagePixels: number;
  requestTimeoutMs: number;
  shutdownTimeoutMs: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  port: number;
  host: string;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Parses the environment. Relative model directories resolve against the directory npm was started
 * from (INIT_CWD), else the working directory, so `GIGATOK_MODEL_DIRS=gpu-backend/test/fixtures/tiny-random
 * npm start -w gpu-backend` works from the repository root.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const e = parsed.data;
  const base = env.INIT_CWD ?? process.cwd();
  const modelDirs = e.GIGATOK_MODEL_DIRS.split(',')
    .map((d) => d.trim())
    .filter((d) => d.length > 0)
    .map((d) => path.resolve(base, d));
  if (modelDirs.length === 0)
    throw new ConfigError('invalid configuration:\n  GIGATOK_MODEL_DIRS: no directory given');
  const missing = modelDirs.filter((d) => !existsSync(path.join(d, 'manifest.json')));
  if (missing.length > 0) {
    throw new ConfigError(
      `invalid configuration:\n  GIGATOK_MODEL_DIRS: no manifest.json in ${missing.join(', ')}` +
        (missing.includes(defaultModelDir)
          ? ' (the default model is not there yet; try GIGATOK_MODEL_DIRS=gpu-backend/test/fixtures/tiny-random)'
          : ''),
    );
  }
  return {
    modelDirs,
    device: e.GIGATOK_DEVICE as Config['device'],
    cudaDeviceId: e.GIGATOK_CUDA_DEVICE_ID,
    intraOpThreads: e.GIGATOK_INTRA_OP_THREADS,
    interOpThreads: e.GIGATOK_INTER_OP_THREADS,
    maxBatch: e.GIGATOK_MAX_BATCH,
    encodeMaxBatch: encodeBatch(
      e.GIGATOK_DEVICE as Config['device'],
      e.GIGATOK_MAX_BATCH,
      e.GIGATOK_ENCODE_MAX_BATCH,
    ),
    maxQueueDelayMs: e.GIGATOK_MAX_QUEUE_DELAY_MS,
    maxQueue: e.GIGATOK_MAX_QUEUE,
    maxActiveBatches: e.GIGATOK_MAX_ACTIVE_BATCHES,
    generatePath: e.GIGATOK_GENERATE_PATH,
    chunkSteps: e.GIGATOK_CHUNK_STEPS,
    secrets: (e.GIGATOK_BACKEND_SECRET ?? '').split(',').filter((s) => s.length > 0),
    insecureDev: e.GIGATOK_INSECURE_DEV,
    warmup: e.GIGATOK_WARMUP,
    ortWorker: e.GIGATOK_ORT_WORKER,
    maxBodyBytes: e.GIGATOK_MAX_BODY_BYTES,
    maxImageBytes: e.GIGATOK_MAX_IMAGE_BYTES,
    maxImagePixels: e.GIGATOK_MAX_IMAGE_PIXELS,
    requestTimeoutMs: e.GIGATOK_REQUEST_TIMEOUT_MS,
    shutdownTimeoutMs: e.GIGATOK_SHUTDOWN_TIMEOUT_MS,
    logLevel: e.GIGATOK_LOG_LEVEL,
    port: e.PORT,
    host: e.HOST,
  };
}
