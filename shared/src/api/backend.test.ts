import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { fromZodError } from '../errors.ts';
import {
  BackendModelsResponseSchema,
  BackendReadyResponseSchema,
  DecodeRequestSchema,
  DecodeResponseSchema,
  EmbedRequestSchema,
  EncodeRequestSchema,
  EncodeResponseSchema,
  GenerateRequestSchema,
  GenerateResponseSchema,
  generateSampling,
  RequestIdParamSchema,
} from './backend.ts';
import type { GenerationParams } from './public.ts';

function firstError(schema: z.ZodType, value: unknown): [string | undefined, string] | 'ok' {
  const result = schema.safeParse(value);
  if (result.success) return 'ok';
  const err = fromZodError(result.error);
  return [err.field, err.message];
}

const generate = {
  model: 'gigatok-nano',
  seed: 42,
  class_ids: [1, null, 3],
  cfg_scale: 4,
  cfg_schedule: 'constant',
  temperature: 1,
  top_k: 0,
  top_p: 1,
};

describe('backend requests', () => {
  it("carry a generation's seed and sampling options as its public parameters hold them", () => {
    const params: GenerationParams = {
      seed: 7,
      class_ids: [207, null],
      cfg_scale: 1.75,
      cfg_schedule: 'step',
      temperature: 0.9,
      top_k: 100,
      top_p: 0.95,
      output: { images: true, format: 'png' },
      variation: { source_token_id: `tok_${'a'.repeat(32)}`, keep: 12 },
    };
    const sampling = generateSampling(params);
    expect(sampling).toEqual({
      seed: 7,
      cfg_scale: 1.75,
      cfg_schedule: 'step',
      temperature: 0.9,
      top_k: 100,
      top_p: 0.95,
    });
    expect(firstError(GenerateRequestSchema, { model: 'gigatok-nano', class_ids: [1], ...sampling })).toBe(
      'ok',
    );
  });

  it("take a chunk's first_index in [0, 64] and name it when out of range", () => {
    expect(firstError(GenerateRequestSchema, { ...generate, first_index: 13 })).toBe('ok');
    expect(firstError(GenerateRequestSchema, { ...generate, first_index: 65 })).toEqual([
      'first_index',
      "'first_index' must be an integer in [0, 64], got 65",
    ]);
    expect(firstError(GenerateRequestSchema, { ...generate, first_index: 1.5 })?.[0]).toBe('first_index');
  });

  it("take encode's augment and priority, and name either when unknown", () => {
    const body = { model: 'm', images: ['AAAA'] };
    expect(firstError(EncodeRequestSchema, { ...body, augment: 'ten_crop', priority: 'background' })).toBe(
      'ok',
    );
    expect(firstError(EncodeRequestSchema, { ...body, augment: 'flip', priority: 'interactive' })).toBe('ok');
    expect(firstError(EncodeRequestSchema, { ...body, augment: 'rotate' })).toEqual([
      'augment',
      `'augment' must be one of "none", "flip", "ten_crop", got "rotate"`,
    ]);
    expect(firstError(EncodeRequestSchema, { ...body, priority: 'urgent' })?.[0]).toBe('priority');
  });

  it('accept well-formed encode, decode and generate bodies', () => {
    expect(firstError(EncodeRequestSchema, { model: 'gigatok-nano', images: ['iVBORw0KGgo=', 'AAAA'] })).toBe(
      'ok',
    );
    expect(
      firstError(DecodeRequestSchema, {
        model: 'gigatok-nano',
        tokens: [
          [1, 2],
          [3, 4],
        ],
        format: 'webp',
      }),
    ).toBe('ok');
    expect(firstError(GenerateRequestSchema, generate)).toBe('ok');
    expect(
      firstError(GenerateRequestSchema, {
        ...generate,
        return_images: true,
        format: 'png',
        request_id: 'job_abc-1',
      }),
    ).toBe('ok');
  });

  it('bound batches to 1..64 entries', () => {
    expect(firstError(EncodeRequestSchema, { model: 'm', images: [] })).toEqual([
      'images',
      "'images' must have at least 1 entry",
    ]);
    expect(firstError(EncodeRequestSchema, { model: 'm', images: new Array(65).fill('AAAA') })).toEqual([
      'images',
      "'images' must have at most 64 entries, got 65",
    ]);
    expect(firstError(DecodeRequestSchema, { model: 'm', tokens: new Array(65).fill([1]) })?.[0]).toBe(
      'tokens',
    );
    expect(firstError(GenerateRequestSchema, { ...generate, class_ids: new Array(65).fill(null) })?.[0]).toBe(
      'class_ids',
    );
    expect(firstError(EncodeRequestSchema, { model: 'm', images: new Array(64).fill('AAAA') })).toBe('ok');
  });

  it('require every sampling field (the Worker resolves defaults)', () => {
    for (const field of [
      'model',
      'seed',
      'class_ids',
      'cfg_scale',
      'cfg_schedule',
      'temperature',
      'top_k',
      'top_p',
    ]) {
      const body: Record<string, unknown> = { ...generate };
      delete body[field];
      const error = firstError(GenerateRequestSchema, body);
      expect(error?.[0], field).toBe(field);
    }
    const { cfg_scale: _, ...noCfg } = generate;
    expect(firstError(GenerateRequestSchema, noCfg)).toEqual(['cfg_scale', "'cfg_scale' is required"]);
  });

  it('reject bad values, naming the field', () => {
    expect(firstError(GenerateRequestSchema, { ...generate, seed: -1 })?.[0]).toBe('seed');
    expect(firstError(GenerateRequestSchema, { ...generate, class_ids: [1, 2.5] })?.[0]).toBe('class_ids.1');
    expect(firstError(GenerateRequestSchema, { ...generate, temperature: 0 })?.[0]).toBe('temperature');
    expect(firstError(GenerateRequestSchema, { ...generate, request_id: 'has space' })?.[0]).toBe(
      'request_id',
    );
    expect(firstError(GenerateRequestSchema, { ...generate, steps: 3 })?.[0]).toBe('steps');
    expect(firstError(EncodeRequestSchema, { model: 'm', images: ['not base64'] })?.[0]).toBe('images.0');
    expect(firstError(DecodeRequestSchema, { model: 'm', tokens: [[1, -2]] })?.[0]).toBe('tokens.0.1');
    expect(firstError(DecodeRequestSchema, { model: 'm', tokens: [[1]], format: 'gif' })?.[0]).toBe('format');
    expect(firstError(RequestIdParamSchema, { request_id: '../x' })?.[0]).toBe('request_id');
  });
});

describe('backend responses', () => {
  it('accept the documented shapes', () => {
    expect(
      firstError(EncodeResponseSchema, {
        model: 'm',
        codebook_size: 1024,
        tokens_per_image: 2,
        tokens: [[1, 2]],
      }),
    ).toBe('ok');
    expect(
      firstError(DecodeResponseSchema, {
        model: 'm',
        images: [{ format: 'png', width: 32, height: 32, data: 'iVBORw0KGgo=' }],
      }),
    ).toBe('ok');
    expect(firstError(GenerateResponseSchema, { model: 'm', seed: 1, tokens: [[3, 4]] })).toBe('ok');
    expect(firstError(BackendReadyResponseSchema, { status: 'loading', models: [] })).toBe('ok');
    expect(firstError(BackendModelsResponseSchema, { models: [] })).toBe('ok');
    expect(
      firstError(BackendModelsResponseSchema, {
        models: [],
        estimated_seconds_per_image: { 'gigatok-nano': 0.02 },
      }),
    ).toBe('ok');
    expect(
      firstError(BackendModelsResponseSchema, {
        models: [],
        estimated_seconds_per_image: { 'gigatok-nano': 0 },
      }),
    ).not.toBe('ok');
  });

  it('reject malformed ones', () => {
    expect(firstError(BackendReadyResponseSchema, { status: 'warming', models: [] })?.[0]).toBe('status');
    expect(
      firstError(DecodeResponseSchema, {
        model: 'm',
        images: [{ format: 'png', width: 0, height: 1, data: '' }],
      })?.[0],
    ).toBe('images.0.width');
  });
});

describe('variations and embeddings on the backend', () => {
  it('takes one prefix per image, each of at most T-1 (contract) tokens', () => {
    expect(firstError(GenerateRequestSchema, { ...generate, prefixes: [[1, 2], [], [3]] })).toBe('ok');
    expect(firstError(GenerateRequestSchema, { ...generate, prefixes: [[1]] })).toEqual([
      'prefixes',
      "'prefixes' must have one entry per class_ids entry (3), got 1",
    ]);
    expect(firstError(GenerateRequestSchema, { ...generate, prefixes: [[1], [-1], [2]] })).toEqual([
      'prefixes.1.0',
      "'prefixes' must be an integer in [0, 16777215], got -1",
    ]);
  });

  it('embeds a batch of token rows', () => {
    expect(firstError(EmbedRequestSchema, { model: 'gigatok-nano', tokens: [[1, 2, 3]] })).toBe('ok');
    expect(firstError(EmbedRequestSchema, { model: 'gigatok-nano', tokens: [] })).toEqual([
      'tokens',
      "'tokens' must have at least 1 entry",
    ]);
  });
});
