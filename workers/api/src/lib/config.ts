// Typed, checked view of the Worker's vars (wrangler.toml [vars]); a bad value is a deployment error
// and fails loudly rather than falling back to a silent default.
import { type BackendPool, LIMITS, parseBackendPools } from '@gigatok/shared';

export interface Config {
  /**
   * Which backends serve which models: BACKEND_POOLS when set, else one pool of BACKEND_URL serving
   * whatever it lists. Base URLs carry no trailing slash.
   */
  backendPools: readonly BackendPool[];
  backendTimeoutMs: number;
  generateTimeoutMs: number;
  /** Images per backend call of a generation job when the backend reports no measured speed. */
  generationChunkImages: number;
  /** The most images one backend call of a generation job may carry, whatever the measured speed. */
  generationMaxChunkImages: number;
  maxQueuedJobsPerTenant: number;
  allowInsecureWebhooks: boolean;
  defaultModel: string;
  /** Seconds between webhook attempts (its length is the number of retries); undefined: the built-in schedule. */
  webhookRetryDelays: readonly number[] | undefined;
  /**
   * How long a checked API key is trusted without asking D1 again (isolate and colo caches): the
   * bound on how long a revoked key keeps working. 0 checks D1 on every request.
   */
  authCacheTtlMs: number;
  /** How long a rotated-out webhook secret keeps signing deliveries next to the new one; 0 stops it at once. */
  webhookSecretOverlapMs: number;
}

function positiveInt(env: Env, name: keyof Env & string): number {
  const raw = env[name];
  const value = Number(raw);
  if (typeof raw !== 'string' || !Number.isSafeInteger(value) || value <= 0) {
    throw new Error(`var ${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  }
  return value;
}

/** Defaults of GENERATION_CHUNK_IMAGES and GENERATION_MAX_CHUNK_IMAGES when a var is absent or empty. */
export const DEFAULT_GENERATION_CHUNK_IMAGES = 4;
export const DEFAULT_GENERATION_MAX_CHUNK_IMAGES = LIMITS.maxCount;

function chunkImages(
  env: Env,
  name: 'GENERATION_CHUNK_IMAGES' | 'GENERATION_MAX_CHUNK_IMAGES',
  fallback: number,
): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (typeof raw !== 'string' || !Number.isSafeInteger(value) || value < 1 || value > LIMITS.maxCount) {
    throw new Error(`var ${name} must be an integer in [1, ${LIMITS.maxCount}], got ${JSON.stringify(raw)}`);
  }
  return value;
}

/** Queues refuse delays over 12 hours; wrangler.toml gives the webhooks consumer max_retries = 8. */
const MAX_DELAY_SECONDS = 43_200;
const MAX_WEBHOOK_RETRIES = 8;

function delayList(env: Env, name: 'WEBHOOK_RETRY_DELAYS'): number[] | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const values = raw.split(',').map((part) => Number(part.trim()));
  const ok =
    values.length <= MAX_WEBHOOK_RETRIES &&
    values.every((v) => Number.isSafeInteger(v) && v >= 1 && v <= MAX_DELAY_SECONDS);
  if (!ok) {
    throw new Error(
      `var ${name} must be 1 to ${MAX_WEBHOOK_RETRIES} comma-separated integers of seconds in [1, ${MAX_DELAY_SECONDS}], got ${JSON.stringify(raw)}`,
    );
  }
  return values;
}

/** The longest revocation delay this API accepts (docs/architecture.md, API keys). */
export const MAX_AUTH_CACHE_TTL_SECONDS = 60;
const DEFAULT_AUTH_CACHE_TTL_SECONDS = 30;

function authCacheTtlSeconds(env: Env): number {
  const raw = env.AUTH_CACHE_TTL_SECONDS;
  if (raw === undefined || raw === '') return DEFAULT_AUTH_CACHE_TTL_SECONDS;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0 || value > MAX_AUTH_CACHE_TTL_SECONDS) {
    throw new Error(
      `var AUTH_CACHE_TTL_SECONDS must be a number of seconds in [0, ${MAX_AUTH_CACHE_TTL_SECONDS}], got ${JSON.stringify(raw)}`,
    );
  }
  return value;
}

/** The longest overlap of two webhook secrets after a rotation (7 days). */
export const MAX_WEBHOOK_SECRET_OVERLAP_SECONDS = 604_800;
const DEFAULT_WEBHOOK_SECRET_OVERLAP_SECONDS = 86_400;

function webhookSecretOverlapSeconds(env: Env): number {
  const raw = env.WEBHOOK_SECRET_OVERLAP_SECONDS;
  if (raw === undefined || raw === '') return DEFAULT_WEBHOOK_SECRET_OVERLAP_SECONDS;
  const value = Number(raw);
  if (!/^[0-9]{1,6}$/.test(raw) || value > MAX_WEBHOOK_SECRET_OVERLAP_SECONDS) {
    throw new Error(
      `var WEBHOOK_SECRET_OVERLAP_SECONDS must be an integer of seconds in [0, ${MAX_WEBHOOK_SECRET_OVERLAP_SECONDS}], got ${JSON.stringify(raw)}`,
    );
  }
  return value;
}

/** BACKEND_POOLS when set (it replaces BACKEND_URL), else BACKEND_URL as the one pool. */
function backendPools(env: Env): BackendPool[] {
  const raw = env.BACKEND_POOLS;
  if (raw !== undefined && raw.trim() !== '') return parseBackendPools(raw).pools;
  try {
    return [{ urls: [new URL(env.BACKEND_URL).toString().replace(/\/+$/, '')] }];
  } catch (cause) {
    throw new Error(`var BACKEND_URL must be an absolute URL, got ${JSON.stringify(env.BACKEND_URL)}`, {
      cause,
    });
  }
}

const cache = new WeakMap<Env, Config>();

export function config(env: Env): Config {
  const hit = cache.get(env);
  if (hit) return hit;
  const value: Config = Object.freeze({
    backendPools: backendPools(env),
    backendTimeoutMs: positiveInt(env, 'BACKEND_TIMEOUT_MS'),
    generateTimeoutMs: positiveInt(env, 'GENERATE_TIMEOUT_MS'),
    generationChunkImages: chunkImages(env, 'GENERATION_CHUNK_IMAGES', DEFAULT_GENERATION_CHUNK_IMAGES),
    generationMaxChunkImages: chunkImages(
      env,
      'GENERATION_MAX_CHUNK_IMAGES',
      DEFAULT_GENERATION_MAX_CHUNK_IMAGES,
    ),
    maxQueuedJobsPerTenant: positiveInt(env, 'MAX_QUEUED_JOBS_PER_TENANT'),
    allowInsecureWebhooks: env.ALLOW_INSECURE_WEBHOOKS === '1',
    defaultModel: env.DEFAULT_MODEL,
    webhookRetryDelays: delayList(env, 'WEBHOOK_RETRY_DELAYS'),
    authCacheTtlMs: authCacheTtlSeconds(env) * 1000,
    webhookSecretOverlapMs: webhookSecretOverlapSeconds(env) * 1000,
  });
  cache.set(env, value);
  return value;
}
