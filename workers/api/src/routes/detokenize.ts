// POST /v1/detokenize: tokens -> image (PNG or WebP). The tokens come inline (one row) or as the id of a
// token set the caller owns. The image is content-addressed (img_… from the token set id and format):
// rendered by the backend the first time this tenant asks, then served from R2 (X-Cache: hit).
import { checkTokensForModel, DetokenizeRequestSchema, fromZodError, imageId } from '@gigatok/shared';
import { Hono } from 'hono';
import type { AppEnv } from '../env.ts';
import { getModel } from '../lib/backend/models.ts';
import { config } from '../lib/config.ts';
import { IMMUTABLE_PRIVATE } from '../lib/http/conditional.ts';
import { acceptable } from '../lib/http/negotiate.ts';
import { readJson } from '../lib/http/request-body.ts';
import { decodeImages } from '../lib/images/store.ts';
import {
  artifactHeaders,
  BACKEND,
  COMMON,
  cacheHeader,
  describe,
  header,
  imageContent,
  jsonBody,
  problems,
} from '../lib/openapi/describe.ts';
import { imageKey } from '../lib/storage/artifacts.ts';
import { readBlob } from '../lib/storage/edge-cache.ts';
import { bySource, owns, recordOwnership } from '../lib/storage/ownership.ts';
import { ownedTokenRow } from '../lib/tokens/source.ts';
import { storeTokenSet } from '../lib/tokens/store.ts';
import { JSON_BODY_LIMIT, limitBody } from '../middleware/body-limit.ts';

const operation = describe({
  operationId: 'detokenize',
  summary: 'Render tokens as an image',
  requestBody: jsonBody(DetokenizeRequestSchema),
  responses: {
    '200': {
      description: 'The image.',
      headers: {
        ...artifactHeaders,
        'X-Image-Id': header('The image id (img_...).'),
        'X-Token-Id': header('The token set rendered (tok_...).'),
        'X-Cache': cacheHeader,
        Location: header('URL of the image.'),
      },
      content: imageContent,
    },
    ...problems(400, ...COMMON, 404, 406, 413, 415, ...BACKEND),
  },
});

export const detokenize = new Hono<AppEnv>().post('/', operation, limitBody(JSON_BODY_LIMIT), async (c) => {
  const parsed = DetokenizeRequestSchema.safeParse(await readJson(c.req.raw));
  if (!parsed.success) throw fromZodError(parsed.error);
  const body = parsed.data;
  const format = body.format ?? 'png';
  const contentType = `image/${format}`;
  acceptable(c.req.header('accept'), [contentType]);
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

  // X-Cache says whether this tenant rendered this image before; another tenant's copy of the same
  // blob is rendered again (and rewrites nothing), so the answer reveals nothing about other tenants.
  const timing = c.get('timing');
  const id = await imageId({ token_id: tokenId, format });
  const mine = (await timing.measure('own', owns(c.env, tenantId, id, c.executionCtx), bySource)).owned;
  let bytes: Uint8Array | undefined = mine
    ? (await timing.measure('blob', readBlob(c.env.ARTIFACTS, imageKey(id), c.executionCtx)))?.bytes
    : undefined;
  const hit = bytes !== undefined;
  if (bytes === undefined) {
    const decoded = await timing.measure(
      'backend',
      decodeImages(c.env, model, [{ tokenId, imageId: id, row: () => row }], format),
    );
    bytes = decoded.get(id)!;
    await timing.measure('d1', recordOwnership(c.env, tenantId, [tokenId, id], c.executionCtx));
  }
  return c.body(bytes.slice(), 200, {
    'Content-Type': contentType,
    'X-Image-Id': id,
    'X-Token-Id': tokenId,
    'X-Cache': hit ? 'hit' : 'miss',
    Location: `/v1/images/${id}`,
    ETag: `"${id}"`,
    'Cache-Control': IMMUTABLE_PRIVATE,
  });
});
