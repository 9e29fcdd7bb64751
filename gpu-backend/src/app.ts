// Assembles the backend's Hono app: request signal and auth middleware, the routes, one error
// boundary that answers RFC 9457 problem+json, and the not-found handler.
import { ApiError, problemResponse, QUEUE_DEPTH_HEADER } from '@gigatok/shared';
import { Hono } from 'hono';
import type { AppDeps, AppEnv, BackendState } from './context.ts';
import { logger } from './log.ts';
import { signedBody } from './middleware/auth.ts';
import { decodeRoutes } from './routes/decode.ts';
import { embedRoutes } from './routes/embed.ts';
import { encodeRoutes } from './routes/encode.ts';
import { generateRoutes } from './routes/generate.ts';
import { healthRoutes } from './routes/health.ts';
import { modelRoutes } from './routes/models.ts';
import { QueueFullError } from './scheduling/engine.ts';

/** Turns anything thrown by a handler into the problem it should be answered with. */
export function toApiError(error: unknown, signal?: AbortSignal): ApiError {
  if (error instanceof ApiError) return error;
  const reason = signal?.aborted ? signal.reason : undefined;
  if (isTimeout(error) || isTimeout(reason)) {
    return new ApiError('backend_timeout', 'the request did not finish within the backend request timeout');
  }
  return new ApiError('internal', 'internal error');
}

function isTimeout(value: unknown): boolean {
  return value instanceof DOMException && value.name === 'TimeoutError';
}

/** Items waiting in every model's queues plus the images of generate runs in flight: the backend's load. */
export function queueDepth(state: BackendState): number {
  let depth = 0;
  for (const service of state.models.values()) {
    for (const n of Object.values(service.pending())) depth += n;
    depth += service.generating;
  }
  return depth;
}

export function createApp(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.use('*', async (c, next) => {
    const started = performance.now();
    c.set('deps', deps);
    // Aborts on client disconnect (the node adapter aborts the Request's signal) or on timeout.
    c.set('signal', AbortSignal.any([c.req.raw.signal, AbortSignal.timeout(deps.options.requestTimeoutMs)]));
    await next();
    // Every answer, errors included, tells the Worker how loaded this host is (its choice among a pool).
    c.res.headers.set(QUEUE_DEPTH_HEADER, String(queueDepth(deps.state)));
    const route = c.req.routePath || 'unmatched';
    deps.metrics.httpRequests.inc({ route, status: String(c.res.status) });
    logger.debug('request', {
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      ms: Math.round(performance.now() - started),
    });
  });

  // Probes and metrics stay unauthenticated so orchestrators and Prometheus can reach them without the
  // Worker's secret; they reveal model ids and load, nothing a request could act on.
  app.route('/', healthRoutes);
  app.use('/v1/*', signedBody);
  app.route('/v1/models', modelRoutes);
  app.route('/v1/encode', encodeRoutes);
  app.route('/v1/decode', decodeRoutes);
  app.route('/v1/generate', generateRoutes);
  app.route('/v1/embed', embedRoutes);

  app.notFound((c) =>
    problemResponse(new ApiError('not_found', `no route for ${c.req.method} ${c.req.path}`), {
      instance: c.req.path,
    }),
  );

  app.onError((error, c) => {
    const apiError = toApiError(error, c.var.signal);
    if (c.req.raw.signal.aborted) {
      // The client hung up; nobody reads this answer.
      logger.debug('client disconnected', { method: c.req.method, path: c.req.path });
    } else if (apiError.code === 'internal') {
      logger.error('unhandled error', {
        method: c.req.method,
        path: c.req.path,
        error:
          error instanceof Error
            ? { name: error.name, message: error.message, stack: error.stack }
            : String(error),
      });
    }
    const headers: Record<string, string> = {};
    if (apiError instanceof QueueFullError) headers['Retry-After'] = String(apiError.retryAfterSeconds);
    if (apiError.code === 'unauthorized') headers['WWW-Authenticate'] = 'GigaTok-HMAC-SHA256';
    return problemResponse(apiError, { headers, instance: c.req.path });
  });

  return app;
}
