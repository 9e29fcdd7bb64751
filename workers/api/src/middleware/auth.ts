// API key authentication: `Authorization: Bearer gtk_live_…` (RFC 6750), looked up by its SHA-256
// (lib/api-keys.ts: isolate and colo caches in front of D1). Missing, malformed, unknown and revoked
// keys all answer 401 with the same code; the detail says which, which tells an attacker nothing a
// valid key holder would not know.
import { API_KEY_RE, ApiError, ErrorCode, hashApiKey } from '@gigatok/shared';
import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../env.ts';
import { lookupApiKey } from '../lib/auth/api-keys.ts';
import { withHeaders } from '../lib/http/http-errors.ts';

function unauthorized(detail: string, error?: 'invalid_token'): ApiError {
  const challenge = error ? `Bearer realm="gigatok", error="${error}"` : 'Bearer realm="gigatok"';
  return withHeaders(new ApiError(ErrorCode.unauthorized, detail), { 'WWW-Authenticate': challenge });
}

export const requireApiKey = createMiddleware<AppEnv>(async (c, next) => {
  const header = c.req.header('authorization');
  if (!header) throw unauthorized('an API key is required: send Authorization: Bearer gtk_live_…');
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  if (!match) throw unauthorized('the Authorization header must be "Bearer <API key>"', 'invalid_token');
  const secret = match[1]!;
  if (!API_KEY_RE.test(secret)) throw unauthorized('the API key is malformed', 'invalid_token');
  const timing = c.get('timing');
  const start = performance.now();
  const found = await lookupApiKey(c.env, c.executionCtx, await hashApiKey(secret));
  timing.record('auth', performance.now() - start, found.source);
  if (found.status !== 'valid') {
    const detail = found.status === 'revoked' ? 'the API key has been revoked' : 'the API key is not valid';
    throw unauthorized(detail, 'invalid_token');
  }
  c.set('caller', found.identity);
  await next();
});
