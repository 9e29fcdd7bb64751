// The JSON view of a stored token set (TokensResponseSchema): the body of POST /v1/tokenize and of
// GET /v1/tokens/{id} under Accept: application/json, built from a decoded GTOK blob.
import { type TokenSet, tokenRows } from '../token-format.ts';
import type { TokensResponse } from './public.ts';

/** The TokensResponse of token set `id`; `shape` is [images, tokens per image]. */
export function tokensResponse(id: string, set: TokenSet): TokensResponse {
  return {
    id,
    object: 'tokens',
    model: set.model,
    codebook_size: set.codebookSize,
    tokens_per_image: set.tokensPerImage,
    shape: [set.count, set.tokensPerImage],
    tokens: tokenRows(set.tokens, set.tokensPerImage),
  };
}
