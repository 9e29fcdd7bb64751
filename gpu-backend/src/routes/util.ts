// Helpers the routes share: JSON body parsing against a shared zod schema, model lookup, and the
// request bookkeeping for Triton-style request metrics.
import { ApiError, fromZodError, problemResponse } from '@gigatok/shared';
import type { Context } from 'hono';
import type { z } from 'zod';
import type { AppEnv } from '../context.ts';
import type { GraphName } from '../metrics.ts';
import type { ModelService } from '../model-service.ts';

const decoder = new TextDecoder('utf-8', { fatal: true });

/** The body as JSON validated by `schema`: `invalid_json` if it does not parse, `invalid_parameter` naming the field. */
export function parseJsonBody<S extends z.ZodType>(c: Context<AppEnv>, schema: S): z.output<S> {
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/json\b/i.test(type)) {
    throw new ApiError(
      'unsupported_media_type',
      `expected Content-Type application/json, got '${type || 'nothing'}'`,
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(decoder.decode(c.var.rawBody));
  } catch (error) {
    throw new ApiError(
      'invalid_json',
      `the body is not valid JSON: ${error instanceof Error ? error.message : ''}`,
    );
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw fromZodError(parsed.error);
  return parsed.data;
}

export function modelFor(c: Context<AppEnv>, id: string): ModelService {
  const { state } = c.var.deps;
  const service = state.models.get(id);
  if (service !== undefined) return service;
  if (state.status === 'loading') throw new ApiError('backend_unavailable', 'models are still loading');
  const known = [...state.models.keys()].join(', ');
  throw new ApiError('unknown_model', `'model' must be one of [${known}], got '${id}'`, { field: 'model' });
}

/** Runs `work`, recording one Triton-style request (success or failure by problem code) for `graph`. */
export async function tracked<T>(
  c: Context<AppEnv>,
  model: string,
  graph: GraphName,
  work: () => Promise<T>,
): Promise<T> {
  const started = performance.now();
  try {
    const result = await work();
    c.var.deps.metrics.recordRequest(model, graph, (performance.now() - started) * 1000);
    return result;
  } catch (error) {
    const code = error instanceof ApiError ? error.code : 'internal';
    c.var.deps.metrics.recordRequest(model, graph, (performance.now() - started) * 1000, code);
    throw error;
  }
}

export function wantsTokenBinary(c: Context<AppEnv>, mediaType: string): boolean {
  const accept = c.req.header('accept') ?? '';
  return accept.split(',').some((part) => part.trim().toLowerCase().startsWith(mediaType));
}

/** A handler answering 405 with `Allow` for the other methods on a route (RFC 9110 section 15.5.6). */
export function methodNotAllowed(allow: string) {
  return (c: Context<AppEnv>) =>
    problemResponse(new ApiError('method_not_allowed', `${c.req.method} is not allowed here; use ${allow}`), {
      headers: { Allow: allow },
      instance: c.req.path,
    });
}
