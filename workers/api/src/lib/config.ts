// Typed, checked view of the Worker's vars (wrangler.toml [vars]); a bad value is a deployment error
// and fails loudly rather than falling back to a silent default.

export interface Config {
  backendUrl: string;
  backendTimeoutMs: number;
  generateTimeoutMs: number;
  maxQueuedJobsPerTenant: number;
  allowInsecureWebhooks: boolean;
  defaultModel: string;
}

function positiveInt(env: Env, name: keyof Env & string): number {
  const raw = env[name];
  const value = Number(raw);
  if (typeof raw !== 'string' || !Number.isSafeInteger(value) || value <= 0) {
    throw new Error(`var ${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  }
  return value;
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
  });
  cache.set(env, value);
  return value;
}
