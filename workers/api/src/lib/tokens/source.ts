// The one image a variation or an embedding is about: an uploaded image (base64, tokenized through the
// tokenize cache) or a token set id the caller owns, holding exactly one image.
import { ApiError, decodeTokens, ErrorCode, TOKEN_ID_RE, tokenRows } from '@gigatok/shared';
import type { Context } from 'hono';
import type { AppEnv } from '../../env.ts';
import { config } from '../config.ts';
import { tokensKey } from '../storage/artifacts.ts';
import { readArtifact, requireOwned } from '../storage/owned-read.ts';
import { checkImageBytes, decodeBase64, tokenizeImage } from './tokenize.ts';

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
  const detail = `no token set '${tokenId}'`;
  await requireOwned(c, tokenId, TOKEN_ID_RE, detail, 'token_id');
  const blob = await readArtifact(c, tokensKey(tokenId), detail, 'token_id');
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
  // The caller owns the source's tokens afterwards (GET /v1/tokens/{id}), as after POST /v1/tokenize.
  const tokens = await tokenizeImage(
    c.env,
    { tenantId, ctx: c.executionCtx, timing: c.get('timing') },
    model,
    bytes,
  );
  return { model, tokenId: tokens.tokenId, row: tokenRows(tokens.set.tokens, tokens.set.tokensPerImage)[0]! };
}
