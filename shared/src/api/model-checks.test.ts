import { describe, expect, it } from 'vitest';
import { ApiError } from '../errors.ts';
import { generationParamsKey } from '../ids.ts';
import type { ManifestSummary } from '../model-manifest.ts';
import {
  checkSamplingForModel,
  checkTokensForModel,
  resolveGenerationParams,
  resolveVariationParams,
  variationKeep,
} from './model-checks.ts';
import { VariationRequestSchema } from './public.ts';

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

function apiErrorOf(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error('expected an ApiError');
}

describe('checkSamplingForModel', () => {
  it('accepts top_k up to the codebook size and class ids below num_classes', () => {
    expect(() => checkSamplingForModel({ top_k: 1024, class_id: 9 }, summary)).not.toThrow();
    expect(() => checkSamplingForModel({ class_id: [0, null, 9] }, summary)).not.toThrow();
    expect(() => checkSamplingForModel({ class_id: null, class_ids: [null, 3] }, summary)).not.toThrow();
  });

  it('rejects top_k above the codebook size with invalid_parameter naming top_k', () => {
    const err = apiErrorOf(() => checkSamplingForModel({ top_k: 20000 }, summary));
    expect(err.code).toBe('invalid_parameter');
    expect(err.status).toBe(400);
    expect(err.field).toBe('top_k');
    expect(err.limit).toBe(1024);
    expect(err.message).toBe("'top_k' must be in [0, 1024] (the model's codebook size), got 20000");
  });

  it('rejects class ids >= num_classes, naming the array entry', () => {
    expect(apiErrorOf(() => checkSamplingForModel({ class_id: 10 }, summary)).field).toBe('class_id');
    expect(apiErrorOf(() => checkSamplingForModel({ class_id: [1, 10] }, summary)).field).toBe('class_id.1');
    const err = apiErrorOf(() => checkSamplingForModel({ class_ids: [3, 4, 12] }, summary));
    expect(err.field).toBe('class_ids.2');
    expect(err.message).toMatch(/must be in \[0, 9\] or null, got 12/);
  });
});

describe('checkTokensForModel', () => {
  it('returns the row when it has tokens_per_image tokens below the codebook size', () => {
    expect(checkTokensForModel([0, 1, 2, 1023], summary)).toEqual([0, 1, 2, 1023]);
    expect(checkTokensForModel([[5, 6, 7, 8]], summary)).toEqual([5, 6, 7, 8]);
  });

  it('rejects a wrong length or an out-of-range token with invalid_tokens', () => {
    const short = apiErrorOf(() => checkTokensForModel([1, 2, 3], summary));
    expect(short.code).toBe('invalid_tokens');
    expect(short.message).toBe("'tokens' must have 4 entries (the model's tokens per image), got 3");
    const big = apiErrorOf(() => checkTokensForModel([[1, 2, 1024, 3]], summary));
    expect(big.field).toBe('tokens.0.2');
    expect(big.message).toBe("'tokens.0.2' must be in [0, 1023], got 1024");
    expect(
      apiErrorOf(() =>
        checkTokensForModel(
          [
            [1, 2, 3, 4],
            [1, 2, 3, 4],
          ],
          summary,
        ),
      ).field,
    ).toBe('tokens');
  });
});

describe('resolveGenerationParams', () => {
  it('fills in the model defaults, one null class per image and png images', () => {
    expect(resolveGenerationParams({ count: 2 }, summary, 77)).toEqual({
      seed: 77,
      class_ids: [null, null],
      cfg_scale: 4,
      cfg_schedule: 'constant',
      temperature: 1,
      top_k: 0,
      top_p: 1,
      output: { images: true, format: 'png' },
    });
  });

  it('keeps what the request says and repeats a single class', () => {
    const params = resolveGenerationParams(
      { class_id: 3, count: 3, seed: 5, top_k: 50, cfg_schedule: 'step', output: { format: 'webp' } },
      summary,
      77,
    );
    expect(params).toMatchObject({ seed: 5, class_ids: [3, 3, 3], top_k: 50, cfg_schedule: 'step' });
    expect(params.output).toEqual({ images: true, format: 'webp' });
    expect(resolveGenerationParams({ class_id: [1, null] }, summary, 0).class_ids).toEqual([1, null]);
  });

  it('draws a random seed when none is given', () => {
    const seeds = new Set(Array.from({ length: 20 }, () => resolveGenerationParams({}, summary).seed));
    expect(seeds.size).toBeGreaterThan(1);
    for (const s of seeds) expect(Number.isInteger(s) && s >= 0 && s <= 0xffffffff).toBe(true);
  });

  it('checks the request against the model', () => {
    expect(() => resolveGenerationParams({ top_k: 2000 }, summary, 1)).toThrow(ApiError);
  });

  it('resolves class labels to ids first, so a label and its id key the same result', async () => {
    const named = { ...summary, class_labels: ['zero', 'one', 'two', 'Two', 'four'], num_classes: 5 };
    const byLabel = resolveGenerationParams({ class_id: 'one', seed: 3 }, named, 0);
    const byId = resolveGenerationParams({ class_id: 1, seed: 3 }, named, 0);
    expect(byLabel.class_ids).toEqual([1]);
    expect(await generationParamsKey({ model: 'm', ...byLabel })).toBe(
      await generationParamsKey({ model: 'm', ...byId }),
    );
    expect(resolveGenerationParams({ class_id: ['FOUR', 0, null] }, named, 0).class_ids).toEqual([
      4,
      0,
      null,
    ]);
    expect(resolveGenerationParams({ class_id: 'ZERO', count: 2 }, named, 0).class_ids).toEqual([0, 0]);
    expect(apiErrorOf(() => resolveGenerationParams({ class_id: 'TWO' }, named, 0)).message).toContain(
      'matches 2 classes',
    );
    const unknown = apiErrorOf(() => resolveGenerationParams({ class_id: [0, 'for'] }, named, 0));
    expect(unknown.field).toBe('class_id.1');
    expect(unknown.message).toContain('near matches: 4 "four"');
    // An id is still range-checked after resolution.
    expect(apiErrorOf(() => resolveGenerationParams({ class_id: ['one', 5] }, named, 0)).field).toBe(
      'class_id.1',
    );
  });

  it("resolves a variation's class label as a generation's", () => {
    const source = `tok_${'b'.repeat(32)}`;
    const params = resolveVariationParams({ token_id: source, class_id: '7' }, summary, source, 1);
    expect(params.class_ids).toEqual([7]);
  });

  it('gives equal keys for requests that resolve equal', async () => {
    const a = resolveGenerationParams({ class_id: [2, 2], top_p: 1 }, summary, 9);
    const b = resolveGenerationParams({ count: 2, class_id: 2, seed: 9 }, summary, 1);
    expect(await generationParamsKey({ model: 'gigatok-nano', ...a })).toBe(
      await generationParamsKey({ model: 'gigatok-nano', ...b }),
    );
  });
});

describe('variations', () => {
  const source = `tok_${'a'.repeat(32)}`;

  it('keeps `keep` tokens, or keep_fraction of them rounded, or half by default, never all', () => {
    expect(variationKeep({ keep: 3 }, summary)).toBe(3);
    expect(variationKeep({ keep: 0 }, summary)).toBe(0);
    expect(variationKeep({ keep_fraction: 0.25 }, summary)).toBe(1);
    expect(variationKeep({ keep_fraction: 0.6 }, summary)).toBe(2);
    expect(variationKeep({ keep_fraction: 1 }, summary)).toBe(3);
    expect(variationKeep({}, summary)).toBe(2);
    const err = apiErrorOf(() => variationKeep({ keep: 4 }, summary));
    expect(err.field).toBe('keep');
    expect(err.limit).toBe(3);
    expect(err.message).toBe("'keep' must be in [0, 3] (the model's tokens per image - 1), got 4");
  });

  it('resolves to the generation parameters of the same sampling fields plus the variation', () => {
    const params = resolveVariationParams(
      { token_id: source, keep: 2, class_id: 3, count: 2 },
      summary,
      source,
      8,
    );
    expect(params).toEqual({
      ...resolveGenerationParams({ class_id: 3, count: 2 }, summary, 8),
      variation: { source_token_id: source, keep: 2 },
    });
    expect(resolveVariationParams({ token_id: source }, summary, source, 1).class_ids).toEqual([null]);
  });

  it('keys a variation apart from the plain generation with the same seed', async () => {
    const plain = resolveGenerationParams({}, summary, 4);
    const variation = resolveVariationParams({ token_id: source, keep: 0 }, summary, source, 4);
    expect(await generationParamsKey({ model: 'm', ...plain })).not.toBe(
      await generationParamsKey({ model: 'm', ...variation }),
    );
  });

  it('requires exactly one source and at most one of keep and keep_fraction', () => {
    const issues = (value: unknown) => {
      const r = VariationRequestSchema.safeParse(value);
      return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    expect(issues({ token_id: source })).toEqual([]);
    expect(issues({ image: 'AAAA', keep: 1 })).toEqual([]);
    expect(issues({})).toEqual(["image: exactly one of 'image' and 'token_id' must be given"]);
    expect(issues({ image: 'AAAA', token_id: source })).toEqual([
      "token_id: exactly one of 'image' and 'token_id' must be given",
    ]);
    expect(issues({ token_id: source, keep: 1, keep_fraction: 0.5 })).toEqual([
      "keep_fraction: give at most one of 'keep' and 'keep_fraction'",
    ]);
    expect(issues({ token_id: source, keep_fraction: 1.5 })[0]).toMatch(
      /'keep_fraction' must be a number in \[0, 1\]/,
    );
  });
});
