// POST /v1/detokenize: tokens -> image (PNG or WebP). The tokens come inline (one row) or as the id of a
// token set the caller owns. The image is content-addressed (img_… from the token set id and format):
// rendered once by the backend, then served from R2 (X-Cache: hit).
import { checkTokensForModel, DetokenizeRequestSchema, fromZodError } from '@gigatok/shared';
import { Hono } from 'hono';
import type { AppEnv } from '../env.ts';
import { IMMUTABLE_PRIVATE } from '../lib/conditional.ts';
import { config } from '../lib/config.ts';
import { readBlob } from '../lib/edge-cache.ts';
import { ensureImages } from '../lib/image-store.ts';
import { getModel } from '../lib/models.ts';
import { negotiate } from '../lib/negotiate.ts';
import { recordOwnership } from '../lib/ownership.ts';
import { readJson } from '../lib/request-body.ts';
import { imageKey } from '../lib/storage.ts';
import { ownedTokenRow } from '../lib/token-source.ts';
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
    ({ model, tokenId, row } = await ownedTokenRow(c, body.token_id, body.model));
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
