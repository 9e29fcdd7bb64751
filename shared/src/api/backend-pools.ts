// What the Worker and the GPU backends agree on when a model is served by several hosts: the Worker's
// BACKEND_POOLS var (which backend base URLs serve which models) and the queue depth every backend
// answer reports, which the Worker's host choice weighs (docs/architecture.md, Backend pools).
import { z } from 'zod';
import { ModelIdSchema } from '../model-manifest.ts';

/** Header on every backend answer: items queued or running in the backend's engines when it answered. */
export const QUEUE_DEPTH_HEADER = 'x-gigatok-queue-depth';

const QueueDepthSchema = z
  .string()
  .regex(/^[0-9]{1,9}$/)
  .transform(Number);

/** The queue depth a backend answer reports; null when the header is absent or not a non-negative integer. */
export function parseQueueDepth(value: string | null | undefined): number | null {
  const parsed = QueueDepthSchema.safeParse(value);
  return parsed.success ? parsed.data : null;
}

/** Most backends one pool may list, and most pools. */
export const MAX_POOL_URLS = 64;
export const MAX_POOLS = 64;

const BackendUrlSchema = z
  .string()
  .refine(
    (value) => {
      try {
        const url = new URL(value);
        return (
          (url.protocol === 'http:' || url.protocol === 'https:') && url.search === '' && url.hash === ''
        );
      } catch {
        return false;
      }
    },
    {
      error: (iss) =>
        `must be an absolute http(s) URL without query or fragment, got ${JSON.stringify(iss.input)}`,
    },
  )
  .transform((value) => new URL(value).toString().replace(/\/+$/, ''));

export const BackendPoolSchema = z.strictObject({
  /** Base URLs of the backends (each may itself be a load balancer); a call goes to one of them. */
  urls: z.array(BackendUrlSchema).min(1).max(MAX_POOL_URLS),
  /** The models this pool serves; absent: whatever each of its backends lists on GET /v1/models. */
  models: z.array(ModelIdSchema).min(1).optional(),
});
export type BackendPool = z.output<typeof BackendPoolSchema>;

export const BackendPoolsSchema = z
  .strictObject({ pools: z.array(BackendPoolSchema).min(1).max(MAX_POOLS) })
  .superRefine((value, ctx) => {
    const seen = new Set<string>();
    value.pools.forEach((pool, p) => {
      pool.urls.forEach((url, u) => {
        if (seen.has(url)) {
          ctx.addIssue({
            code: 'custom',
            path: ['pools', p, 'urls', u],
            message: `lists ${url} a second time (a backend belongs to one pool)`,
          });
        }
        seen.add(url);
      });
    });
  });
export type BackendPools = z.output<typeof BackendPoolsSchema>;

/** Parses the BACKEND_POOLS var (JSON); throws an Error naming the var, each bad path and what is wrong. */
export function parseBackendPools(raw: string): BackendPools {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (cause) {
    throw new Error(`var BACKEND_POOLS must be JSON like {"pools":[{"urls":["https://gpu-1.example"]}]}`, {
      cause,
    });
  }
  const parsed = BackendPoolsSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map(
      (issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`,
    );
    throw new Error(`var BACKEND_POOLS is invalid: ${issues.join('; ')}`);
  }
  return parsed.data;
}
