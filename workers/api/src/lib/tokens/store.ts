// Turning rows of tokens into a stored token set: checked against the model, encoded as GTOK, named by
// its content id (tok_…) and written to R2 once.
import {
  ApiError,
  ErrorCode,
  encodeTokens,
  type ManifestSummary,
  type TokenSet,
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
