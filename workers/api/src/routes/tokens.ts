// GET /v1/tokens/{id}: a stored token set, as JSON or as the GTOK binary (Accept), for its owner only.
import { ApiError, decodeTokens, ErrorCode, TOKEN_ID_RE, TOKENS_MEDIA_TYPE } from '@gigatok/shared';
import { Hono } from 'hono';
import type { AppEnv } from '../env.ts';
import { IMMUTABLE_PRIVATE, matchesIfNoneMatch, notModified } from '../lib/conditional.ts';
import { readBlob } from '../lib/edge-cache.ts';
import { negotiate } from '../lib/negotiate.ts';
import { owns } from '../lib/ownership.ts';
import { tokensKey } from '../lib/storage.ts';
import { tokensBody } from '../lib/tokens-view.ts';

export const JSON_TYPE = 'application/json';

export function notAcceptable(offered: readonly string[]): ApiError {
  return new ApiError(ErrorCode.not_acceptable, `this resource is available as ${offered.join(' or ')}`);
}

export const tokens = new Hono<AppEnv>().get('/:id', async (c) => {
  const id = c.req.param('id');
  const { tenantId } = c.get('caller');
  // Unknown, malformed and other tenants' ids are indistinguishable: all 404.
  if (!TOKEN_ID_RE.test(id) || !(await owns(c.env.DB, tenantId, id))) {
    throw new ApiError(ErrorCode.not_found, `no token set '${id}'`);
  }
  const offered = [JSON_TYPE, TOKENS_MEDIA_TYPE] as const;
  const type = negotiate(c.req.header('accept'), offered);
  if (!type) throw notAcceptable(offered);
  // Two representations, two strong validators (RFC 9110 section 8.8.1: strong means byte-identical).
  const headers = {
    ETag: type === JSON_TYPE ? `"${id}"` : `"${id}.gtok"`,
    'Cache-Control': IMMUTABLE_PRIVATE,
    Vary: 'Accept',
  };
  if (matchesIfNoneMatch(c.req.header('if-none-match'), headers.ETag)) return notModified(headers);
  const blob = await readBlob(c.env.ARTIFACTS, tokensKey(id), c.executionCtx);
  if (!blob) throw new ApiError(ErrorCode.not_found, `no token set '${id}'`);
  if (type === TOKENS_MEDIA_TYPE) {
    return c.body(blob.bytes, 200, { ...headers, 'Content-Type': TOKENS_MEDIA_TYPE });
  }
  return c.json(tokensBody(id, decodeTokens(blob.bytes)), 200, headers);
});
