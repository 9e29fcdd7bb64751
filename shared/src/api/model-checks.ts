// Checks of a validated request against a loaded model, and the defaults it resolves to. The schemas bound
// ranges; only the model knows its codebook size, token count and classes.
import { ApiError, ErrorCode as Codes } from '../errors.ts';
import type { ManifestSummary } from '../model-manifest.ts';
import { resolveClassRefs } from './class-label.ts';
import type { GenerationParams, GenerationRequest, VariationRequest } from './public.ts';

function invalid(field: string, detail: string, limit: number | string): never {
  throw new ApiError(Codes.invalid_parameter, detail, { field, limit, errors: [{ field, detail }] });
}

/**
 * Rejects sampling parameters the model cannot honour: top_k above its codebook size, class ids
 * >= num_classes (use null for unconditional). Throws ApiError invalid_parameter naming the field.
 */
export function checkSamplingForModel(
  params: {
    top_k?: number | undefined;
    class_id?: number | null | readonly (number | null)[] | undefined;
    class_ids?: readonly (number | null)[] | undefined;
  },
  summary: Pick<ManifestSummary, 'codebook_size' | 'num_classes'>,
): void {
  if (params.top_k !== undefined && params.top_k > summary.codebook_size) {
    invalid(
      'top_k',
      `'top_k' must be in [0, ${summary.codebook_size}] (the model's codebook size), got ${params.top_k}`,
      summary.codebook_size,
    );
  }
  const checkClass = (field: string, id: number | null) => {
    if (id !== null && id >= summary.num_classes) {
      invalid(
        field,
        `'${field}' must be in [0, ${summary.num_classes - 1}] or null, got ${id} (the model has ${summary.num_classes} classes)`,
        summary.num_classes - 1,
      );
    }
  };
  if (Array.isArray(params.class_id)) {
    for (const [i, id] of params.class_id.entries()) checkClass(`class_id.${i}`, id);
  } else if (params.class_id !== undefined) {
    checkClass('class_id', params.class_id as number | null);
  }
  for (const [i, id] of (params.class_ids ?? []).entries()) checkClass(`class_ids.${i}`, id);
}

/**
 * Checks detokenize input against the model: exactly tokens_per_image tokens, each below the codebook
 * size. Returns the single row. Throws ApiError invalid_tokens naming the offending entry.
 */
export function checkTokensForModel(
  tokens: readonly number[] | readonly (readonly number[])[],
  summary: Pick<ManifestSummary, 'codebook_size' | 'tokens_per_image'>,
): number[] {
  const nested = tokens.length > 0 && Array.isArray(tokens[0]);
  const row = (nested ? (tokens as readonly (readonly number[])[])[0]! : tokens) as readonly number[];
  const prefix = nested ? 'tokens.0' : 'tokens';
  const fail = (field: string, detail: string, limit: number): never => {
    throw new ApiError(Codes.invalid_tokens, detail, { field, limit, errors: [{ field, detail }] });
  };
  if (nested && tokens.length !== 1)
    fail('tokens', `'tokens' must hold exactly one row, got ${tokens.length}`, 1);
  if (row.length !== summary.tokens_per_image) {
    fail(
      prefix,
      `'tokens' must have ${summary.tokens_per_image} entries (the model's tokens per image), got ${row.length}`,
      summary.tokens_per_image,
    );
  }
  row.forEach((t, i) => {
    if (!Number.isInteger(t) || t < 0 || t >= summary.codebook_size) {
      fail(
        `${prefix}.${i}`,
        `'${prefix}.${i}' must be in [0, ${summary.codebook_size - 1}], got ${t}`,
        summary.codebook_size - 1,
      );
    }
  });
  return [...row];
}

/** A fresh random seed in [0, 2^32 - 1] (WebCrypto). */
export function randomSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0]!;
}

/**
 * Applies the model's defaults to a validated request and fixes the seed: the parameters the job runs
 * with and that `generationParamsKey({ model, ...params })` hashes. Class labels become ids first
 * (class-label.ts), so a label and its id give the same parameters; an absent class_id means unconditional.
 */
export function resolveGenerationParams(
  request: GenerationRequest,
  summary: Pick<
    ManifestSummary,
    'id' | 'codebook_size' | 'num_classes' | 'class_labels' | 'sampling_defaults'
  >,
  seed: number = randomSeed(),
): GenerationParams {
  const classId = resolveClassRefs(request.class_id, summary);
  checkSamplingForModel({ top_k: request.top_k, class_id: classId }, summary);
  const defaults = summary.sampling_defaults;
  const classIds = Array.isArray(classId)
    ? classId
    : new Array<number | null>(request.count ?? 1).fill(classId ?? null);
  return {
    seed: request.seed ?? seed,
    class_ids: classIds,
    cfg_scale: request.cfg_scale ?? defaults.cfg_scale,
    cfg_schedule: request.cfg_schedule ?? defaults.cfg_schedule,
    temperature: request.temperature ?? defaults.temperature,
    top_k: request.top_k ?? defaults.top_k,
    top_p: request.top_p ?? defaults.top_p,
    output: { images: request.output?.images ?? true, format: request.output?.format ?? 'png' },
  };
}

/**
 * Tokens a variation keeps: `keep`, or `keep_fraction` of tokens_per_image rounded to the nearest token,
 * or half of them when neither is given; never all of them (keeping T tokens leaves nothing to sample).
 */
export function variationKeep(
  request: Pick<VariationRequest, 'keep' | 'keep_fraction'>,
  summary: Pick<ManifestSummary, 'tokens_per_image'>,
): number {
  const T = summary.tokens_per_image;
  if (request.keep !== undefined) {
    if (request.keep > T - 1) {
      invalid(
        'keep',
        `'keep' must be in [0, ${T - 1}] (the model's tokens per image - 1), got ${request.keep}`,
        T - 1,
      );
    }
    return request.keep;
  }
  const fraction = request.keep_fraction ?? 0.5;
  return Math.min(Math.round(fraction * T), T - 1);
}

/**
 * The generation parameters of a variation of the token set `sourceTokenId`: those of
 * resolveGenerationParams for the same sampling fields, plus `variation` (source and tokens kept).
 */
export function resolveVariationParams(
  request: VariationRequest,
  summary: Pick<
    ManifestSummary,
    'id' | 'codebook_size' | 'num_classes' | 'class_labels' | 'sampling_defaults' | 'tokens_per_image'
  >,
  sourceTokenId: string,
  seed: number = randomSeed(),
): GenerationParams {
  const keep = variationKeep(request, summary);
  const { image: _image, token_id: _tokenId, keep: _keep, keep_fraction: _fraction, ...sampling } = request;
  return {
    ...resolveGenerationParams(sampling, summary, seed),
    variation: { source_token_id: sourceTokenId, keep },
  };
}
