// Typed, checked view of the Worker's vars (wrangler.toml [vars]); a bad value is a deployment error
// and fails loudly rather than falling back to a silent default.

export interface Config {
  backendUrl: string;
  backendTimeoutMs: number;
  generateTimeoutMs: number;
  maxQueuedJobsPerTenant: number;
  allowInsecureWebhooks: boolean;
  defaultModel: string;
  /** Seconds between webhook attempts (its length is the number of retries); undefined: the built-in schedule. */
  webhookRetryDelays: readonly number[] | undefined;
}

function positiveInt(env: Env, name: keyof Env & string): number {
  const raw = env[name];
  const value = Number(raw);
  if (typeof raw !== 'string' || !Number.isSafeInteger(value) || value <= 0) {
    throw new Error(`var ${name} must be a positive integer, got ${JSON.stringify(raw)}`);
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

const cache = new WeakMap<Env, Config>();

export function config(env: Env): Config {
  const hit = cache.get(env);
  if (hit) return hit;
  let backendUrl: string;
  try {
    backendUrl = new URL(env.BACKEND_URL).toString().replace(/\/+$/, '');
  } catch (cause) {
    throw new Error(`var BACKEND_URL must be an absolute URL, got ${JSON.stringify(env.BACKEND_URL)}`, {
      cause,
    });
  }
  const value: Config = Object.freeze({
    backendUrl,
    backendTimeoutMs: positiveInt(env, 'BACKEND_TIMEOUT_MS'),
    generateTimeoutMs: positiveInt(env, 'GENERATE_TIMEOUT_MS'),
    maxQueuedJobsPerTenant: positiveInt(env, 'MAX_QUEUED_JOBS_PER_TENANT'),
    allowInsecureWebhooks: env.ALLOW_INSECURE_WEBHOOKS === '1',
    defaultModel: env.DEFAULT_MODEL,
    webhookRetryDelays: delayList(env, 'WEBHOOK_RETRY_DELAYS'),
  });
  cache.set(env, value);
  return value;
}
