// Reads the body of every /v1 request under the size limit and verifies the Worker's HMAC request
// signature (shared/src/backend-auth.ts: method, path with query, timestamp, body hash; 300 s window).
import {
  ApiError,
  BACKEND_SIGNATURE_HEADER,
  BACKEND_TIMESTAMP_HEADER,
  BackendAuthError,
  verifyBackendRequest,
} from '@gigatok/shared';
import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../context.ts';
import { readBody } from './body.ts';

export const signedBody = createMiddleware<AppEnv>(async (c, next) => {
  const { options } = c.var.deps;
  // GIGATOK_INSECURE_DEV=1 without a secret: local development only (config refuses it otherwise).
  const checking = !(options.insecureDev && options.secrets.length === 0);
  // Unsigned requests are refused before their body is read.
  if (checking && (!c.req.header(BACKEND_TIMESTAMP_HEADER) || !c.req.header(BACKEND_SIGNATURE_HEADER))) {
    throw new ApiError(
      'unauthorized',
      `missing ${BACKEND_TIMESTAMP_HEADER} or ${BACKEND_SIGNATURE_HEADER} header`,
    );
  }
  const body = await readBody(c.req.raw, options.maxBodyBytes);
  if (checking) {
    const url = new URL(c.req.url);
    try {
      await verifyBackendRequest({
        secrets: options.secrets,
        method: c.req.method,
        path: url.pathname + url.search,
        headers: c.req.raw.headers,
        body,
      });
    } catch (error) {
      if (error instanceof BackendAuthError) {
        throw new ApiError('unauthorized', `request signature rejected (${error.reason}): ${error.message}`);
      }
      throw error;
    }
  }
  c.set('rawBody', body);
  await next();
});
