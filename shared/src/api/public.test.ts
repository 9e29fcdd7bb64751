import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { fromZodError, problem } from '../errors.ts';
import type { ManifestSummary } from '../model-manifest.ts';
import { resolveGenerationParams } from './model-checks.ts';
import {
  DetokenizeRequestSchema,
  GenerationListSchema,
  GenerationRequestSchema,
  GenerationSchema,
  IdempotencyKeySchema,
  LIMITS,
  ListGenerationsQuerySchema,
  ModelListSchema,
  ProblemSchema,
  parsePreferWait,
  TokenizeJsonRequestSchema,
  TokensResponseSchema,
  WebhookPayloadSchema,
  WebhookSecretResponseSchema,
} from './public.ts';

const tok = `tok_${'a'.repeat(32)}`;
const img = `img_${'b'.repeat(32)}`;
const job = `job_${'c'.repeat(32)}`;
const gpk = `gpk_${'d'.repeat(32)}`;

const summary: ManifestSummary = {
  id: 'gigatok-nano',
  description: 'nano',
  dtype: 'float32',
  image_size: 32,
  tokens_per_image: 4,
  codebook_size: 1024,
  num_classes: 10,
  class_labels: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
  sampling_defaults: { cfg_scale: 4, cfg_schedule: 'constant', temperature: 1, top_k: 0, top_p: 1 },
  single_graph_sampling: false,
};

/** The first error as the API would report it: [field, detail], or 'ok'. */
function firstError(schema: z.ZodType, value: unknown): [string | undefined, string] | 'ok' {
  const result = schema.safeParse(value);
  if (result.success) return 'ok';
  const err = fromZodError(result.error);
  return [err.field, err.message];
}

describe('TokenizeJsonRequestSchema', () => {
  it('accepts a base64 image and an optional model', () => {
    expect(firstError(TokenizeJsonRequestSchema, { image: 'iVBORw0KGgo=' })).toBe('ok');
    expect(firstError(TokenizeJsonRequestSchema, { image: 'iVBORw0KGgo=', model: 'gigatok-nano' })).toBe(
      'ok',
    );
  });

  it('rejects a missing or non-base64 image, a bad model id and unknown fields', () => {
    expect(firstError(TokenizeJsonRequestSchema, {})).toEqual(['image', "'image' is required"]);
    expect(firstError(TokenizeJsonRequestSchema, { image: 'not base64!' })?.[0]).toBe('image');
    expect(firstError(TokenizeJsonRequestSchema, { image: 42 })?.[0]).toBe('image');
    expect(firstError(TokenizeJsonRequestSchema, { image: 'AAAA', model: 'Giga Tok' })?.[0]).toBe('model');
    expect(firstError(TokenizeJsonRequestSchema, { image: 'AAAA', size: 3 })).toEqual([
      'size',
      "'size' is not a known field",
    ]);
  });

  it('rejects images over the base64 length of 10 MiB', () => {
    const tooLong = 'A'.repeat(LIMITS.maxImageBase64Chars + 4);
    expect(firstError(TokenizeJsonRequestSchema, { image: tooLong })?.[1]).toMatch(/at most 13981016 base64/);
  });
});

describe('TokensResponseSchema', () => {
  const body = {
    id: tok,
    object: 'tokens',
    model: 'gigatok-nano',
    codebook_size: 1024,
    tokens_per_image: 4,
    shape: [1, 4],
    tokens: [[1, 2, 3, 4]],
  };
  it('accepts a token set and rejects a malformed id or shape', () => {
    expect(firstError(TokensResponseSchema, body)).toBe('ok');
    expect(firstError(TokensResponseSchema, { ...body, id: 'tok_x' })?.[0]).toBe('id');
    expect(firstError(TokensResponseSchema, { ...body, shape: [1] })?.[0]).toBe('shape');
  });
});

describe('DetokenizeRequestSchema', () => {
  it('accepts one flat row, one nested row, or a token id', () => {
    expect(firstError(DetokenizeRequestSchema, { tokens: [1, 2, 3, 4] })).toBe('ok');
    expect(firstError(DetokenizeRequestSchema, { tokens: [[1, 2, 3, 4]], format: 'webp' })).toBe('ok');
    expect(firstError(DetokenizeRequestSchema, { token_id: tok, model: 'gigatok-nano' })).toBe('ok');
  });

  it('requires exactly one of tokens and token_id', () => {
    expect(firstError(DetokenizeRequestSchema, {})).toEqual([
      'tokens',
      "'tokens': exactly one of 'tokens' and 'token_id' must be given",
    ]);
    expect(firstError(DetokenizeRequestSchema, { tokens: [1], token_id: tok })?.[0]).toBe('token_id');
  });

  it('names the offending token, flat or nested', () => {
    expect(firstError(DetokenizeRequestSchema, { tokens: [1, 2, -3] })).toEqual([
      'tokens.2',
      "'tokens' must be an integer in [0, 16777215], got -3",
    ]);
    expect(firstError(DetokenizeRequestSchema, { tokens: [[1, 2, 'x']] })).toEqual([
      'tokens.0.2',
      '\'tokens\' must be an integer in [0, 16777215], got "x"',
    ]);
    expect(firstError(DetokenizeRequestSchema, { tokens: [1.5] })?.[0]).toBe('tokens.0');
  });

  it('rejects several rows, an empty row, unknown formats and fields', () => {
    expect(firstError(DetokenizeRequestSchema, { tokens: [[1], [2]] })?.[0]).toMatch(/^tokens/);
    expect(firstError(DetokenizeRequestSchema, { tokens: [] })?.[0]).toBe('tokens');
    expect(firstError(DetokenizeRequestSchema, { tokens: [1], format: 'jpeg' })).toEqual([
      'format',
      '\'format\' must be one of "png", "webp", got "jpeg"',
    ]);
    expect(firstError(DetokenizeRequestSchema, { tokens: [1], scale: 2 })?.[0]).toBe('scale');
  });
});

describe('GenerationRequestSchema', () => {
  const ok = (v: unknown) => expect(firstError(GenerationRequestSchema, v)).toBe('ok');
  const bad = (v: unknown) => firstError(GenerationRequestSchema, v);

  it('accepts an empty request and a full one', () => {
    ok({});
    ok({
      model: 'gigatok-nano',
      class_id: 3,
      count: 4,
      seed: 0xffffffff,
      cfg_scale: 1.75,
      cfg_schedule: 'step',
      temperature: 1,
      top_k: 100,
      top_p: 0.95,
      output: { images: false, format: 'webp' },
      webhook: { url: 'https://example.com/hook', events: ['generation.completed'] },
    });
    ok({ class_id: null });
    ok({ class_id: [1, null, 9] });
    ok({ class_id: [1, 2], count: 2 });
    ok({ class_id: 'golden retriever' });
    ok({ class_id: ['Golden Retriever', 207, null] });
  });

  it('accepts the ends of every range', () => {
    ok({ count: 1, seed: 0, cfg_scale: 0, temperature: 5, top_k: 0, top_p: 1 });
    ok({ count: 16, cfg_scale: 20, temperature: 1e-9, top_p: 1e-9 });
  });

  it('names the field and the range for every out-of-range value', () => {
    expect(bad({ count: 0 })).toEqual(['count', "'count' must be an integer in [1, 16], got 0"]);
    expect(bad({ count: 17 })).toEqual(['count', "'count' must be an integer in [1, 16], got 17"]);
    expect(bad({ seed: -1 })).toEqual(['seed', "'seed' must be an integer in [0, 4294967295], got -1"]);
    expect(bad({ seed: 2 ** 32 })?.[0]).toBe('seed');
    expect(bad({ cfg_scale: 20.5 })).toEqual([
      'cfg_scale',
      "'cfg_scale' must be a number in [0, 20], got 20.5",
    ]);
    expect(bad({ cfg_scale: -0.1 })?.[0]).toBe('cfg_scale');
    expect(bad({ temperature: 0 })).toEqual([
      'temperature',
      "'temperature' must be a number in (0, 5], got 0",
    ]);
    expect(bad({ temperature: 5.01 })?.[0]).toBe('temperature');
    expect(bad({ top_p: 0 })).toEqual(['top_p', "'top_p' must be a number in (0, 1], got 0"]);
    expect(bad({ top_p: 1.01 })?.[0]).toBe('top_p');
    expect(bad({ top_k: -1 })).toEqual(['top_k', "'top_k' must be an integer in [0, 16777216], got -1"]);
    expect(bad({ cfg_schedule: 'cosine' })?.[0]).toBe('cfg_schedule');
  });

  it('rejects fractions, NaN, Infinity and numeric strings instead of coercing them', () => {
    for (const [field, value] of [
      ['count', 1.5],
      ['seed', 0.5],
      ['top_k', 2.5],
      ['count', '5'],
      ['seed', 'NaN'],
      ['cfg_scale', 'Infinity'],
      ['cfg_scale', Number.NaN],
      ['temperature', Number.POSITIVE_INFINITY],
      ['top_p', '0.9'],
      ['seed', true],
      ['top_k', null],
    ] as const) {
      expect(bad({ [field]: value })?.[0], `${field}=${String(value)}`).toBe(field);
    }
    expect(bad({ cfg_scale: Number.NaN })?.[1]).toBe("'cfg_scale' must be a number in [0, 20], got NaN");
  });

  it('checks classes: ids, labels or null, at most 16, count matching the array', () => {
    const expected =
      "'class_id' must be a class id (an integer in [0, 16777215]) or a class label (1 to 200 characters)";
    expect(bad({ class_id: -1 })).toEqual(['class_id', `${expected}, got -1`]);
    expect(bad({ class_id: 2.5 })).toEqual(['class_id', `${expected}, got 2.5`]);
    expect(bad({ class_id: '' })).toEqual(['class_id', `${expected}, got ""`]);
    expect(bad({ class_id: 'x'.repeat(201) })?.[0]).toBe('class_id');
    expect(bad({ class_id: true })).toEqual(['class_id', `${expected}, got true`]);
    expect(bad({ class_id: [1, -1] })?.[0]).toBe('class_id.1');
    expect(bad({ class_id: [1, {}] })?.[0]).toBe('class_id.1');
    expect(bad({ class_id: [] })).toEqual(['class_id', "'class_id' must not be an empty array"]);
    expect(bad({ class_id: new Array(17).fill(1) })).toEqual([
      'class_id',
      "'class_id' must have at most 16 entries, got 17",
    ]);
    expect(bad({ class_id: [1, 2], count: 3 })).toEqual([
      'count',
      "'count' must equal the length of 'class_id' (2), got 3",
    ]);
  });

  it('rejects unknown fields at every level', () => {
    expect(bad({ steps: 10 })?.[0]).toBe('steps');
    expect(bad({ output: { images: true, quality: 9 } })?.[0]).toBe('output.quality');
    expect(bad({ webhook: { url: 'https://a.example', secret: 'x' } })?.[0]).toBe('webhook.secret');
  });

  it('checks the webhook url form and event names', () => {
    expect(bad({ webhook: { url: 'not a url' } })?.[0]).toBe('webhook.url');
    expect(bad({ webhook: {} })).toEqual(['webhook.url', "'webhook.url' is required"]);
    expect(bad({ webhook: { url: 'https://a.example', events: ['generation.exploded'] } })?.[0]).toBe(
      'webhook.events.0',
    );
    expect(bad({ webhook: { url: 'https://a.example', events: [] } })?.[0]).toBe('webhook.events');
    expect(bad({ webhook: { url: `https://a.example/${'x'.repeat(2100)}` } })?.[0]).toBe('webhook.url');
  });
});

describe('Generation objects', () => {
  const generation = {
    id: job,
    object: 'generation',
    status: 'succeeded',
    model: 'gigatok-nano',
    params: resolveGenerationParams({ class_id: 1 }, summary, 3),
    params_key: gpk,
    created_at: '2026-01-02T03:04:05.678Z',
    started_at: '2026-01-02T03:04:06.000Z',
    completed_at: null,
    cached: false,
    attempts: 1,
    progress: { images_done: 1, images_total: 1 },
    error: null,
    result: {
      images: [
        {
          index: 0,
          class_id: 1,
          token_id: tok,
          tokens_url: `/v1/tokens/${tok}`,
          image_id: img,
          image_url: `/v1/images/${img}`,
        },
      ],
    },
  };

  it('accepts a job, a failed job with a problem, a list page and a webhook payload', () => {
    expect(firstError(GenerationSchema, generation)).toBe('ok');
    const failed = {
      ...generation,
      status: 'failed',
      result: null,
      error: problem('backend_timeout', 'no answer'),
    };
    expect(firstError(GenerationSchema, failed)).toBe('ok');
    expect(firstError(GenerationListSchema, { object: 'list', data: [generation], next_cursor: null })).toBe(
      'ok',
    );
    expect(
      firstError(WebhookPayloadSchema, {
        type: 'generation.completed',
        timestamp: generation.created_at,
        data: generation,
      }),
    ).toBe('ok');
  });

  it('rejects unknown statuses, non-ISO times and malformed ids', () => {
    expect(firstError(GenerationSchema, { ...generation, status: 'done' })?.[0]).toBe('status');
    expect(firstError(GenerationSchema, { ...generation, created_at: 'yesterday' })?.[0]).toBe('created_at');
    expect(firstError(GenerationSchema, { ...generation, id: 'job_1' })?.[0]).toBe('id');
  });

  it('accepts every problem the error module builds', () => {
    expect(firstError(ProblemSchema, problem('invalid_parameter', 'x', { field: 'top_k', limit: 5 }))).toBe(
      'ok',
    );
    expect(firstError(ProblemSchema, { ...problem('internal', 'x'), code: 'teapot' })?.[0]).toBe('code');
  });
});

describe('list query, headers and small responses', () => {
  it('parses limit from the query string as a bounded integer', () => {
    expect(ListGenerationsQuerySchema.parse({ limit: '10' })).toEqual({ limit: 10 });
    expect(ListGenerationsQuerySchema.parse({})).toEqual({});
    for (const limit of ['0', '101', 'abc', '1.5', '-1', '', '1e2']) {
      expect(firstError(ListGenerationsQuerySchema, { limit })?.[0], limit).toBe('limit');
    }
  });

  it('reads Prefer: wait=N capped at 60 s, ignoring other preferences', () => {
    expect(parsePreferWait('wait=10')).toBe(10);
    expect(parsePreferWait('respond-async, wait=100')).toBe(60);
    expect(parsePreferWait('Wait = 5')).toBe(5);
    expect(parsePreferWait('return=minimal')).toBeUndefined();
    expect(parsePreferWait('wait=soon')).toBeUndefined();
    expect(parsePreferWait(null)).toBeUndefined();
  });

  it('accepts visible-ASCII idempotency keys up to 255 characters', () => {
    expect(IdempotencyKeySchema.safeParse('a4f1-22b').success).toBe(true);
    expect(IdempotencyKeySchema.safeParse('x'.repeat(256)).success).toBe(false);
    expect(IdempotencyKeySchema.safeParse('has space').success).toBe(false);
    expect(IdempotencyKeySchema.safeParse('').success).toBe(false);
  });

  it('validates the webhook secret and model list responses', () => {
    expect(firstError(WebhookSecretResponseSchema, { secret: `whsec_${'A'.repeat(32)}` })).toBe('ok');
    expect(firstError(WebhookSecretResponseSchema, { secret: 'shh' })?.[0]).toBe('secret');
    expect(firstError(ModelListSchema, { object: 'list', data: [summary] })).toBe('ok');
  });
});
