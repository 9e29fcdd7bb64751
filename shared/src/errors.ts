// Error codes, their HTTP statuses and the RFC 9457 problem+json body that every route of the Worker and the
// backend answers with, so clients see one error shape whichever piece failed.
import type { z } from 'zod';

/** Every error code of the API. Keys and values are equal so `ErrorCode.not_found` reads as the code itself. */
export const ErrorCode = {
  invalid_json: 'invalid_json',
  invalid_parameter: 'invalid_parameter',
  missing_parameter: 'missing_parameter',
  invalid_image: 'invalid_image',
  invalid_tokens: 'invalid_tokens',
  unknown_model: 'unknown_model',
  invalid_webhook_url: 'invalid_webhook_url',
  unauthorized: 'unauthorized',
  forbidden: 'forbidden',
  not_found: 'not_found',
  method_not_allowed: 'method_not_allowed',
  not_acceptable: 'not_acceptable',
  conflict: 'conflict',
  not_cancelable: 'not_cancelable',
  payload_too_large: 'payload_too_large',
  image_too_large: 'image_too_large',
  image_dimensions_unsupported: 'image_dimensions_unsupported',
  image_resize_failed: 'image_resize_failed',
  unsupported_media_type: 'unsupported_media_type',
  idempotency_key_reused: 'idempotency_key_reused',
  rate_limited: 'rate_limited',
  queue_full: 'queue_full',
  internal: 'internal',
  backend_error: 'backend_error',
  backend_unavailable: 'backend_unavailable',
  backend_timeout: 'backend_timeout',
  service_unavailable: 'service_unavailable',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The HTTP status of each code. A `Record` over the code union, so a code without a status fails to compile. */
export const errorStatus: Readonly<Record<ErrorCode, number>> = Object.freeze({
  invalid_json: 400,
  invalid_parameter: 400,
  missing_parameter: 400,
  invalid_image: 400,
  invalid_tokens: 400,
  unknown_model: 400,
  invalid_webhook_url: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  not_acceptable: 406,
  conflict: 409,
  not_cancelable: 409,
  payload_too_large: 413,
  image_too_large: 413,
  image_dimensions_unsupported: 422,
  image_resize_failed: 422,
  unsupported_media_type: 415,
  idempotency_key_reused: 422,
  rate_limited: 429,
  queue_full: 429,
  internal: 500,
  backend_error: 502,
  backend_unavailable: 503,
  backend_timeout: 504,
  service_unavailable: 503,
});

/**
 * The fixed human title of each code. RFC 9457 section 3.1.3: the title should not change from occurrence
 * to occurrence of a problem type; what differs goes in `detail`.
 */
export const errorTitle: Readonly<Record<ErrorCode, string>> = Object.freeze({
  invalid_json: 'Malformed JSON body',
  invalid_parameter: 'Invalid parameter',
  missing_parameter: 'Missing parameter',
  invalid_image: 'Invalid image',
  invalid_tokens: 'Invalid tokens',
  unknown_model: 'Unknown model',
  invalid_webhook_url: 'Invalid webhook URL',
  unauthorized: 'Unauthorized',
  forbidden: 'Forbidden',
  not_found: 'Not found',
  method_not_allowed: 'Method not allowed',
  not_acceptable: 'Not acceptable',
  conflict: 'Conflict',
  not_cancelable: 'Generation cannot be canceled',
  payload_too_large: 'Payload too large',
  image_too_large: 'Image too large',
  image_dimensions_unsupported: 'Unsupported image dimensions',
  image_resize_failed: 'Image could not be resized',
  unsupported_media_type: 'Unsupported media type',
  idempotency_key_reused: 'Idempotency key reused with a different request',
  rate_limited: 'Too many requests',
  queue_full: 'Generation queue is full',
  internal: 'Internal server error',
  backend_error: 'Backend error',
  backend_unavailable: 'Backend unavailable',
  backend_timeout: 'Backend timed out',
  service_unavailable: 'Service unavailable',
});

/** RFC 9457 section 3: media type of a problem details body. */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
/** Problem type URIs are URNs (RFC 9457 section 3.1.1 allows any URI; a URN does not pretend to be fetchable). */
export const PROBLEM_TYPE_PREFIX = 'urn:gigatok:problem:';

export interface FieldError {
  field: string;
  detail: string;
}

/** RFC 9457 problem details, with this API's extension members (`code`, `field`, `limit`, `errors`). */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  /** JSON path of the offending field, e.g. `params.top_k`. */
  field?: string;
  /** The limit that was exceeded (a number, or a descriptive string such as an allowed range). */
  limit?: number | string;
  instance?: string;
  errors?: FieldError[];
}

export interface ProblemExtras {
  field?: string | undefined;
  limit?: number | string | undefined;
  instance?: string | undefined;
  errors?: FieldError[] | undefined;
}

const errorCodes = new Set<string>(Object.values(ErrorCode));

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && errorCodes.has(value);
}

/** Builds a problem body; absent extras are left out rather than set to undefined. */
export function problem(code: ErrorCode, detail: string, extras: ProblemExtras = {}): Problem {
  const body: Problem = {
    type: PROBLEM_TYPE_PREFIX + code,
    title: errorTitle[code],
    status: errorStatus[code],
    detail,
    code,
  };
  if (extras.field !== undefined) body.field = extras.field;
  if (extras.limit !== undefined) body.limit = extras.limit;
  if (extras.instance !== undefined) body.instance = extras.instance;
  if (extras.errors !== undefined && extras.errors.length > 0) body.errors = extras.errors;
  return body;
}

/** An error that maps onto one problem response. Throw it anywhere; the app's error boundary renders it. */
export class ApiError extends Error {
  // A string, not the literal: subclasses (QueueFullError, BackendError) set their own name.
  override readonly name: string = 'ApiError';
  readonly code: ErrorCode;
  readonly status: number;
  readonly field: string | undefined;
  readonly limit: number | string | undefined;
  readonly errors: FieldError[] | undefined;

  constructor(
    code: ErrorCode,
    detail: string,
    extras: Omit<ProblemExtras, 'instance'> & { cause?: unknown } = {},
  ) {
    super(detail, extras.cause === undefined ? undefined : { cause: extras.cause });
    this.code = code;
    this.status = errorStatus[code];
    this.field = extras.field;
    this.limit = extras.limit;
    this.errors = extras.errors;
  }

  toProblem(instance?: string): Problem {
    return problem(this.code, this.message, {
      field: this.field,
      limit: this.limit,
      errors: this.errors,
      instance,
    });
  }
}

/**
 * A problem+json Response. `Cache-Control: no-store`: an error describes one request and must not be
 * served from a cache to another.
 */
export function problemResponse(
  source: Problem | ApiError,
  init: { headers?: HeadersInit; instance?: string } = {},
): Response {
  const body = source instanceof ApiError ? source.toProblem(init.instance) : source;
  if (!(source instanceof ApiError) && init.instance !== undefined) body.instance = init.instance;
  const headers = new Headers(init.headers);
  headers.set('Content-Type', PROBLEM_CONTENT_TYPE);
  headers.set('Cache-Control', 'no-store');
  return new Response(JSON.stringify(body), { status: body.status, headers });
}

/** ORT-style range message: `'top_k' must be in [0, 1024], got 20000`. */
export function rangeMessage(
  field: string,
  min: number | string,
  max: number | string,
  got: unknown,
): string {
  return `'${field}' must be in [${min}, ${max}], got ${describeValue(got)}`;
}

/** A short, safe rendering of an offending value for messages (never the whole of a large input). */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : String(value);
  if (typeof value === 'string') {
    const shown = value.length > 40 ? `${value.slice(0, 40)}...` : value;
    return JSON.stringify(shown);
  }
  if (value === null || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  return `a value of type ${typeof value}`;
}

/** Joins a zod issue path into the `field` form of the contract: `params.top_k`, `class_id.2`. */
export function joinPath(path: readonly PropertyKey[], prefix?: string): string {
  const parts = path.map((part) => String(part));
  if (prefix) parts.unshift(prefix);
  return parts.join('.');
}

/**
 * Turns a zod error into one `invalid_parameter` ApiError: `field` names the first offending field and
 * `errors` lists every one. Unknown keys (from `.strict()` objects) become one entry per key.
 */
export function fromZodError(error: Pick<z.core.$ZodError, 'issues'>, prefix?: string): ApiError {
  const errors: FieldError[] = [];
  for (const { issue, path } of flattenIssues(error.issues, [])) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const field = joinPath([...path, key], prefix);
        errors.push({ field, detail: `'${field}' is not a known field` });
      }
      continue;
    }
    const field = joinPath(path, prefix);
    // Messages written by our schema helpers already start with the quoted field; zod's own do not.
    const detail = issue.message.startsWith("'")
      ? issue.message
      : field
        ? `'${field}': ${issue.message}`
        : issue.message;
    errors.push({ field, detail });
  }
  const first = errors[0] ?? { field: prefix ?? '', detail: 'invalid request' };
  return new ApiError(ErrorCode.invalid_parameter, first.detail, {
    field: first.field || undefined,
    errors,
  });
}

type Issue = z.core.$ZodIssue;

/**
 * Replaces each failed union by the issues of the alternative that came closest, so `tokens: [[1, "x"]]` reports `tokens.0.1` rather than "Invalid input" at `tokens`.
 * Union branch issues carry paths relative to the union, hence the accumulated `base`.
 */
function flattenIssues(
  issues: readonly Issue[],
  base: readonly PropertyKey[],
): { issue: Issue; path: PropertyKey[] }[] {
  const out: { issue: Issue; path: PropertyKey[] }[] = [];
  for (const issue of issues) {
    const path = [...base, ...issue.path];
    if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      // Deeper beats shallower; then a branch whose type matched (a range or length check failed) beats a
      // type mismatch; then our own message beats zod's generic one.
      const score = (branch: readonly Issue[]) =>
        Math.max(...branch.map((i) => i.path.length)) * 4 +
        (branch[0]?.code === 'invalid_type' ? 0 : 2) +
        (branch[0]?.message.startsWith("'") ? 1 : 0);
      let best = issue.errors[0]!;
      for (const branch of issue.errors) if (score(branch) > score(best)) best = branch;
      out.push(...flattenIssues(best, path));
      continue;
    }
    out.push({ issue, path });
  }
  return out;
}
