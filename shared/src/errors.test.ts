import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  ApiError,
  ErrorCode,
  errorStatus,
  errorTitle,
  fromZodError,
  isErrorCode,
  PROBLEM_CONTENT_TYPE,
  problem,
  problemResponse,
  rangeMessage,
} from './errors.ts';

/** The contract, read the other way round: each HTTP status and the codes that answer with it. */
const codesByStatus: Record<number, string[]> = {
  400: [
    'invalid_json',
    'invalid_parameter',
    'missing_parameter',
    'invalid_image',
    'invalid_tokens',
    'unknown_model',
    'invalid_webhook_url',
  ],
  401: ['unauthorized'],
  403: ['forbidden'],
  404: ['not_found'],
  405: ['method_not_allowed'],
  406: ['not_acceptable'],
  409: ['conflict', 'not_cancelable'],
  413: ['payload_too_large', 'image_too_large'],
  415: ['unsupported_media_type'],
  422: ['image_dimensions_unsupported', 'image_resize_failed', 'idempotency_key_reused'],
  429: ['rate_limited', 'queue_full'],
  500: ['internal'],
  502: ['backend_error'],
  503: ['backend_unavailable', 'service_unavailable'],
  504: ['backend_timeout'],
};
const expectedStatus = Object.fromEntries(
  Object.entries(codesByStatus).flatMap(([status, codes]) => codes.map((code) => [code, Number(status)])),
);

describe('error codes', () => {
  it('map every code of the contract to its status and nothing else', () => {
    expect({ ...errorStatus }).toEqual(expectedStatus);
    expect(Object.keys(ErrorCode).sort()).toEqual(Object.keys(expectedStatus).sort());
  });

  it('use each code as its own value', () => {
    for (const [key, value] of Object.entries(ErrorCode)) expect(value).toBe(key);
  });

  it('give every code a title', () => {
    for (const code of Object.values(ErrorCode)) expect(errorTitle[code].length).toBeGreaterThan(0);
  });

  it('recognise codes and reject other strings', () => {
    expect(isErrorCode('rate_limited')).toBe(true);
    expect(isErrorCode('teapot')).toBe(false);
    expect(isErrorCode(429)).toBe(false);
  });
});

describe('problem', () => {
  it('builds an RFC 9457 body with a URN type and the fixed title', () => {
    expect(problem('not_found', 'no generation job_x')).toEqual({
      type: 'urn:gigatok:problem:not_found',
      title: 'Not found',
      status: 404,
      detail: 'no generation job_x',
      code: 'not_found',
    });
  });

  it('includes field, limit, instance and errors only when given', () => {
    const body = problem('invalid_parameter', "'top_k' must be in [0, 1024], got 20000", {
      field: 'params.top_k',
      limit: 1024,
      instance: '/v1/generations',
      errors: [{ field: 'params.top_k', detail: 'x' }],
    });
    expect(body).toMatchObject({ field: 'params.top_k', limit: 1024, instance: '/v1/generations' });
    expect(body.errors).toHaveLength(1);
    expect('errors' in problem('internal', 'x', { errors: [] })).toBe(false);
    expect('field' in problem('internal', 'x', { field: undefined })).toBe(false);
  });
});

describe('ApiError', () => {
  it('carries code, status, field, limit and cause', () => {
    const cause = new Error('root');
    const err = new ApiError('image_too_large', 'image is 50 megapixels', {
      limit: 40_000_000,
      field: 'image',
      cause,
    });
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('ApiError');
    expect(err.status).toBe(413);
    expect(err.cause).toBe(cause);
    expect(err.toProblem('/v1/tokenize')).toEqual({
      type: 'urn:gigatok:problem:image_too_large',
      title: 'Image too large',
      status: 413,
      detail: 'image is 50 megapixels',
      code: 'image_too_large',
      field: 'image',
      limit: 40_000_000,
      instance: '/v1/tokenize',
    });
  });
});

describe('problemResponse', () => {
  it('answers problem+json with the status and no-store', async () => {
    const res = problemResponse(new ApiError('rate_limited', 'slow down'), {
      headers: { 'Retry-After': '3' },
    });
    expect(res.status).toBe(429);
    expect(res.headers.get('content-type')).toBe(PROBLEM_CONTENT_TYPE);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('retry-after')).toBe('3');
    expect(await res.json()).toMatchObject({ code: 'rate_limited', status: 429, detail: 'slow down' });
  });

  it('takes a plain problem body and an instance', async () => {
    const res = problemResponse(problem('backend_timeout', 'no answer in 30 s'), {
      instance: '/v1/detokenize',
    });
    expect(res.status).toBe(504);
    expect(await res.json()).toMatchObject({ instance: '/v1/detokenize', title: 'Backend timed out' });
  });
});

describe('fromZodError', () => {
  const schema = z
    .object({
      model: z.string(),
      params: z.object({
        top_k: z
          .number()
          .int()
          .max(1024, { error: (iss) => rangeMessage('top_k', 0, 1024, iss.input) }),
      }),
    })
    .strict();

  it('names the first offending field with its path and lists all of them', () => {
    const result = schema.safeParse({ model: 3, params: { top_k: 20000 }, extra: true });
    expect(result.success).toBe(false);
    if (result.success) return;
    const err = fromZodError(result.error);
    expect(err.code).toBe('invalid_parameter');
    expect(err.status).toBe(400);
    const fields = err.errors?.map((e) => e.field);
    expect(fields).toEqual(expect.arrayContaining(['model', 'params.top_k', 'extra']));
    expect(err.field).toBe(fields?.[0]);
    const topK = err.errors?.find((e) => e.field === 'params.top_k');
    expect(topK?.detail).toBe("'top_k' must be in [0, 1024], got 20000");
    const extra = err.errors?.find((e) => e.field === 'extra');
    expect(extra?.detail).toBe("'extra' is not a known field");
  });

  it('prefixes paths and quotes the field in zod-written messages', () => {
    const result = schema.safeParse({ model: 'm', params: { top_k: 1.5 } });
    if (result.success) throw new Error('expected failure');
    const err = fromZodError(result.error, 'body');
    expect(err.field).toBe('body.params.top_k');
    expect(err.message.startsWith("'body.params.top_k': ")).toBe(true);
  });
});
