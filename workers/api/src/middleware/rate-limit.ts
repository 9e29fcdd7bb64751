// Per-API-key request rate limit through the Workers rate limiting binding (RATE_LIMITER in
// wrangler.toml; miniflare implements it locally). Counters are per colo and eventually consistent:
// a guard against floods, not an exact quota.
import { ApiError, ErrorCode } from '@gigatok/shared';
import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../env.ts';
import { withHeaders } from '../lib/http/http-errors.ts';

/** The binding's window (wrangler.toml `simple.period`): the longest a refused caller must wait. */
const PERIOD_SECONDS = 60;

export const rateLimit = createMiddleware<AppEnv>(async (c, next) => {
  const { keyId } = c.get('caller');
  const { success } = await c.env.RATE_LIMITER.limit({ key: keyId });
  if (!success) {
    throw withHeaders(new ApiError(ErrorCode.rate_limited, 'too many requests for this API key; slow down'), {
      'Retry-After': String(PERIOD_SECONDS),
    });
  }
  await next();
});
