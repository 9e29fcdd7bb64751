// The app's one error boundary and its 404/405 answers: every failure leaves as RFC 9457
// problem+json with a code from shared; anything unexpected is logged with context and answered with a
// generic 500 that leaks nothing internal.
import { ApiError, ErrorCode, problem, problemResponse } from '@gigatok/shared';
import type { Context, Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { headersOf } from './http-errors.ts';
import { allowedMethods } from './not-allowed.ts';

const HTTP_CODES: Record<number, ErrorCode> = {
  400: ErrorCode.invalid_parameter,
  401: ErrorCode.unauthorized,
  404: ErrorCode.not_found,
  405: ErrorCode.method_not_allowed,
  413: ErrorCode.payload_too_large,
  415: ErrorCode.unsupported_media_type,
};

export function renderError(error: Error, c: Context): Response {
  const instance = c.req.path;
  if (error instanceof ApiError) {
    return problemResponse(error, { headers: headersOf(error), instance });
  }
  // Hono's own HTTPExceptions (a malformed multipart body, for one) carry a status and a safe message.
  if (error instanceof HTTPException && HTTP_CODES[error.status]) {
    return problemResponse(problem(HTTP_CODES[error.status]!, error.message || 'bad request', { instance }));
  }
  console.error(
    JSON.stringify({
      message: 'unhandled error',
      method: c.req.method,
      path: c.req.path,
      ray: c.req.header('cf-ray') ?? null,
      error: { name: error.name, message: error.message, stack: error.stack },
    }),
  );
  return problemResponse(problem(ErrorCode.internal, 'an internal error occurred', { instance }));
}

/** 405 with Allow when the path exists under other methods (RFC 9110 section 15.5.6), else 404. */
export function renderNotFound(app: Hono<never>, c: Context): Response {
  const instance = c.req.path;
  const allowed = allowedMethods(app, c.req.path);
  if (allowed.length > 0) {
    const detail = `${c.req.method} is not allowed here; use ${allowed.join(', ')}`;
    return problemResponse(problem(ErrorCode.method_not_allowed, detail, { instance }), {
      headers: { Allow: allowed.join(', ') },
    });
  }
  return problemResponse(
    problem(ErrorCode.not_found, `no route for ${c.req.method} ${c.req.path}`, { instance }),
  );
}
