// Reading requests and answering them the same way on every route: the JSON body checked against a
// shared zod schema, content negotiation for the GTOK token format, and 405 for other methods.
import { ApiError, fromZodError, problemResponse } from '@gigatok/shared';
import type { Context } from 'hono';
import type { z } from 'zod';
import type { AppEnv } from '../context.ts';

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
