// The one image a variation or an embedding is about: an uploaded image (base64, tokenized through the
// tokenize cache) or a token set id the caller owns, holding exactly one image.
import { ApiError, decodeTokens, ErrorCode, tokenRows } from '@gigatok/shared';
import type { Context } from 'hono';
import type { AppEnv } from '../env.ts';
import { config } from './config.ts';
import { readBlob } from './edge-cache.ts';
import { checkImageBytes, decodeBase64, tokenizeImage } from './image-tokens.ts';
import { owns, recordOwnership } from './ownership.ts';
import { tokensKey } from './storage.ts';

export interface TokenSource {
  model: string;
  tokenId: string;
  row: number[];
}

/**
 * The one row of a token set the caller owns (field `token_id`). Another tenant's id answers
 * exactly like an id that does not exist; `model`, when given, must be the set's model.
 */
export async function ownedTokenRow(
  c: Context<AppEnv>,
  tokenId: string,
  model: string | undefined,
): Promise<TokenSource> {
  const { tenantId } = c.get('caller');
  const blob = (await owns(c.env.DB, tenantId, tokenId))
    ? await readBlob(c.env.ARTIFACTS, tokensKey(tokenId), c.executionCtx)
    : null;
  if (!blob) throw new ApiError(ErrorCode.not_found, `no token set '${tokenId}'`, { field: 'token_id' });
  const set = decodeTokens(blob.bytes);
  if (model !== undefined && model !== set.model) {
    throw new ApiError(
      ErrorCode.invalid_parameter,
      `'model' must match the token set's model '${set.model}', got '${model}'`,
      { field: 'model' },
    );
  }
  if (set.count !== 1) {
    throw new ApiError(
      ErrorCode.invalid_tokens,
      `token set '${tokenId}' holds ${set.count} images; one is required`,
      {
        field: 'token_id',
        limit: 1,
      },
    );
  }
  return { model: set.model, tokenId, row: tokenRows(set.tokens, set.tokensPerImage)[0]! };
}

export async function resolveTokenSource(
  c: Context<AppEnv>,
  body: { image?: string | undefined; token_id?: string | undefined; model?: string | undefined },
): Promise<TokenSource> {
  const { tenantId } = c.get('caller');
  if (body.token_id !== undefined) return ownedTokenRow(c, body.token_id, body.model);
  const bytes = decodeBase64(body.image!);
  checkImageBytes(bytes);
  const model = body.model ?? config(c.env).defaultModel;
  const tokens = await tokenizeImage(c.env, c.executionCtx, model, bytes);
  // The caller may fetch the source's tokens too (GET /v1/tokens/{id}), as after POST /v1/tokenize.
  await recordOwnership(c.env.DB, tenantId, [tokens.tokenId]);
  return { model, tokenId: tokens.tokenId, row: tokenRows(tokens.set.tokens, tokens.set.tokensPerImage)[0]! };
}
