// POST /v1/detokenize: tokens -> image (PNG or WebP). The tokens come inline (one row) or as the id of a
// token set the caller owns. The image is content-addressed (img_… from the token set id and format):
// rendered once by the backend, then served from R2 (X-Cache: hit).
import {
  ApiError,
  checkTokensForModel,
  DetokenizeRequestSchema,
  decodeTokens,
  ErrorCode,
  fromZodError,
  tokenRows,
} from '@gigatok/shared';
import { Hono } from 'hono';
import type { AppEnv } from '../env.ts';
import { IMMUTABLE_PRIVATE } from '../lib/conditional.ts';
import { config } from '../lib/config.ts';
import { readBlob } from '../lib/edge-cache.ts';
import { ensureImages } from '../lib/image-store.ts';
import { getModel } from '../lib/models.ts';
import { negotiate } from '../lib/negotiate.ts';
import { owns, recordOwnership } from '../lib/ownership.ts';
import { readJson } from '../lib/request-body.ts';
import { imageKey, tokensKey } from '../lib/storage.ts';
import { storeTokenSet } from '../lib/token-store.ts';
import { JSON_BODY_LIMIT, limitBody } from '../middleware/body-limit.ts';
import { notAcceptable } from './tokens.ts';

export const detokenize = new Hono<AppEnv>().post('/', limitBody(JSON_BODY_LIMIT), async (c) => {
  const parsed = DetokenizeRequestSchema.safeParse(await readJson(c.req.raw));
  if (!parsed.success) throw fromZodError(parsed.error);
  const body = parsed.data;
  const format = body.format ?? 'png';
  const contentType = `image/${format}`;
  if (!negotiate(c.req.header('accept'), [contentType])) throw notAcceptable([contentType]);
  const { tenantId } = c.get('caller');

  let model: string;
  let tokenId: string;
  let row: number[];
  if (body.token_id !== undefined) {
    tokenId = body.token_id;
    const blob = (await owns(c.env.DB, tenantId, tokenId))
      ? await readBlob(c.env.ARTIFACTS, tokensKey(tokenId), c.executionCtx)
      : null;
    if (!blob) throw new ApiError(ErrorCode.not_found, `no token set '${tokenId}'`, { field: 'token_id' });
    const set = decodeTokens(blob.bytes);
    if (body.model !== undefined && body.model !== set.model) {
      throw new ApiError(
        ErrorCode.invalid_parameter,
        `'model' must match the token set's model '${set.model}', got '${body.model}'`,
        { field: 'model' },
      );
    }
    if (set.count !== 1) {
      throw new ApiError(
        ErrorCode.invalid_tokens,
        `token set '${tokenId}' holds ${set.count} images; one is required`,
        {
          field: 'token_id',
        },
      );
    }
    model = set.model;
    row = tokenRows(set.tokens, set.tokensPerImage)[0]!;
  } else {
    model = body.model ?? config(c.env).defaultModel;
    const summary = await getModel(c.env, model);
    row = checkTokensForModel(body.tokens!, summary);
    tokenId = (await storeTokenSet(c.env.ARTIFACTS, summary, [row], 1)).id;
  }

  const { ids, stored, decoded } = (await ensureImages(c.env, model, [{ tokenId, row: () => row }], format))!;
  const id = ids[0]!;
  let bytes = decoded.get(id);
  if (!bytes) {
    const blob = await readBlob(c.env.ARTIFACTS, imageKey(id), c.executionCtx);
    if (!blob) throw new Error(`image ${id} vanished from R2`);
    bytes = blob.bytes;
  }
  await recordOwnership(c.env.DB, tenantId, [tokenId, id]);
  return c.body(bytes.slice(), 200, {
    'Content-Type': contentType,
    'X-Image-Id': id,
    'X-Token-Id': tokenId,
    'X-Cache': stored[0] ? 'hit' : 'miss',
    Location: `/v1/images/${id}`,
    ETag: `"${id}"`,
    'Cache-Control': IMMUTABLE_PRIVATE,
  });
});
