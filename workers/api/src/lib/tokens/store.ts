// Stored token sets: rows of tokens, or a GTOK blob the backend encoded, checked against the model,
// named by their content id (tok_…) and written to R2 once. The backend's GTOK bytes are stored as
// they came (shared's encoder is canonical, and decodeTokens refuses any other form), so nothing is
// decoded into arrays only to be encoded into the same bytes again.
import {
  ApiError,
  decodeTokens,
  ErrorCode,
  encodeTokens,
  type ManifestSummary,
  type TokenSet,
  tokenRows,
  tokenSetId,
} from '@gigatok/shared';
import { putTokens } from '../storage/artifacts.ts';

export interface StoredTokenSet {
  id: string;
  set: TokenSet;
  gtok: Uint8Array;
}

/**
 * Stores `rows` (one per image) for `model`. The rows come from the backend, so a wrong shape is the
 * backend breaking the contract (backend_error), never the caller's fault.
 */
export async function storeTokenSet(
  bucket: R2Bucket,
  model: Pick<ManifestSummary, 'id' | 'codebook_size' | 'tokens_per_image'>,
  rows: readonly (readonly number[])[],
  expectedCount: number,
): Promise<StoredTokenSet> {
  const T = model.tokens_per_image;
  const valid =
    rows.length === expectedCount &&
    rows.every(
      (row) => row.length === T && row.every((t) => Number.isInteger(t) && t >= 0 && t < model.codebook_size),
    );
  if (!valid) {
    throw new ApiError(
      ErrorCode.backend_error,
      `the backend returned tokens that do not fit model '${model.id}' (${expectedCount} x ${T}, codebook ${model.codebook_size})`,
    );
  }
  const gtok = encodeTokens({
    model: model.id,
    codebookSize: model.codebook_size,
    tokensPerImage: T,
    tokens: rows,
  });
  const id = await tokenSetId({
    model: model.id,
    codebook_size: model.codebook_size,
    tokens_per_image: T,
    tokens: rows,
  });
  await putTokens(bucket, id, gtok, {
    model: model.id,
    codebookSize: model.codebook_size,
    tokensPerImage: T,
    count: rows.length,
  });
  const set: TokenSet = {
    model: model.id,
    codebookSize: model.codebook_size,
    tokensPerImage: T,
    count: rows.length,
    tokens: Uint32Array.from(rows.flat()),
  };
  return { id, set, gtok };
}

/**
 * Stores a GTOK blob from the backend for `model` as it is, after checking it: its CRC and framing
 * (decodeTokens), its model, codebook and tokens per image against the manifest, and its image count.
 */
export async function storeBackendGtok(
  bucket: R2Bucket,
  model: Pick<ManifestSummary, 'id' | 'codebook_size' | 'tokens_per_image'>,
  gtok: Uint8Array,
  expectedCount: number,
): Promise<StoredTokenSet> {
  let set: TokenSet;
  try {
    set = decodeTokens(gtok);
  } catch (cause) {
    throw new ApiError(
      ErrorCode.backend_error,
      `the backend returned a GTOK blob that does not decode: ${String(cause)}`,
      {
        cause,
      },
    );
  }
  const fits =
    set.model === model.id &&
    set.codebookSize === model.codebook_size &&
    set.tokensPerImage === model.tokens_per_image &&
    set.count === expectedCount;
  if (!fits) {
    throw new ApiError(
      ErrorCode.backend_error,
      `the backend returned tokens of model '${set.model}' (${set.count} x ${set.tokensPerImage}, codebook ${set.codebookSize}); ` +
        `expected '${model.id}' (${expectedCount} x ${model.tokens_per_image}, codebook ${model.codebook_size})`,
    );
  }
  const id = await tokenSetId({
    model: set.model,
    codebook_size: set.codebookSize,
    tokens_per_image: set.tokensPerImage,
    tokens: tokenRows(set.tokens, set.tokensPerImage),
  });
  await putTokens(bucket, id, gtok, {
    model: set.model,
    codebookSize: set.codebookSize,
    tokensPerImage: set.tokensPerImage,
    count: set.count,
  });
  return { id, set, gtok };
}
