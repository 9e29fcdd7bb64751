// GET /v1/tokens/{id}: a stored token set, as JSON or as the GTOK binary (Accept), for its owner only.
// The warm path touches no D1: the API key and the ownership grant come from the isolate's caches.
import { decodeTokens, TOKEN_ID_RE, TOKENS_MEDIA_TYPE, tokensResponse } from '@gigatok/shared';
import { Hono } from 'hono';
import type { AppEnv } from '../env.ts';
import { IMMUTABLE_PRIVATE, matchesIfNoneMatch, notModified } from '../lib/http/conditional.ts';
import { acceptable, JSON_TYPE } from '../lib/http/negotiate.ts';
import {
  artifactHeaders,
  COMMON,
  describe,
  idParam,
  ifNoneMatch,
  problems,
  tokensContent,
} from '../lib/openapi/describe.ts';
import { tokensKey } from '../lib/storage/artifacts.ts';
import { readArtifact, requireOwned } from '../lib/storage/owned-read.ts';

export const tokens = new Hono<AppEnv>().get(
  '/:id',
  describe({
    operationId: 'getTokens',
    summary: 'A stored token set',
    description:
      'JSON (ETag "tok_…") or, with Accept: application/vnd.gigatok.tokens, the GTOK binary (ETag "tok_….gtok").',
    parameters: [idParam('tok', 'token set'), ifNoneMatch],
    responses: {
      '200': { description: 'The token set.', headers: artifactHeaders, content: tokensContent },
      '304': { description: 'Not modified.', headers: artifactHeaders },
      ...problems(...COMMON, 404, 406),
    },
  }),
  async (c) => {
    const id = c.req.param('id');
    // Unknown, malformed and other tenants' ids are indistinguishable: all 404.
    await requireOwned(c, id, TOKEN_ID_RE, `no token set '${id}'`);
    const type = acceptable(c.req.header('accept'), [JSON_TYPE, TOKENS_MEDIA_TYPE] as const);
    // Two representations, two strong validators (RFC 9110 section 8.8.1: strong means byte-identical).
    const headers = {
      ETag: type === JSON_TYPE ? `"${id}"` : `"${id}.gtok"`,
      'Cache-Control': IMMUTABLE_PRIVATE,
      Vary: 'Accept',
    };
    if (matchesIfNoneMatch(c.req.header('if-none-match'), headers.ETag)) return notModified(headers);
    const blob = await readArtifact(c, tokensKey(id), `no token set '${id}'`);
    if (type === TOKENS_MEDIA_TYPE) {
      return c.body(blob.bytes, 200, { ...headers, 'Content-Type': TOKENS_MEDIA_TYPE });
    }
    const body = c
      .get('timing')
      .measureSync('enc', () => JSON.stringify(tokensResponse(id, decodeTokens(blob.bytes))));
    return c.body(body, 200, { ...headers, 'Content-Type': 'application/json' });
  },
);
