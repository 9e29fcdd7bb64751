// GET /v1/images/{id}: a decoded or generated image (PNG or WebP), for its owner only. Like
// GET /v1/tokens/{id}, the warm path touches no D1.
import { IMAGE_ID_RE } from '@gigatok/shared';
import { Hono } from 'hono';
import type { AppEnv } from '../env.ts';
import { IMMUTABLE_PRIVATE, matchesIfNoneMatch, notModified } from '../lib/http/conditional.ts';
import { acceptable } from '../lib/http/negotiate.ts';
import {
  artifactHeaders,
  COMMON,
  describe,
  idParam,
  ifNoneMatch,
  imageContent,
  problems,
} from '../lib/openapi/describe.ts';
import { imageKey } from '../lib/storage/artifacts.ts';
import { readArtifact, requireOwned } from '../lib/storage/owned-read.ts';

export const images = new Hono<AppEnv>().get(
  '/:id',
  describe({
    operationId: 'getImage',
    summary: 'A decoded or generated image',
    parameters: [idParam('img', 'image'), ifNoneMatch],
    responses: {
      '200': { description: 'The image.', headers: artifactHeaders, content: imageContent },
      '304': { description: 'Not modified.', headers: artifactHeaders },
      ...problems(...COMMON, 404, 406),
    },
  }),
  async (c) => {
    const id = c.req.param('id');
    await requireOwned(c, id, IMAGE_ID_RE, `no image '${id}'`);
    // One representation per id (the format is part of the id), so one strong ETag.
    const headers = { ETag: `"${id}"`, 'Cache-Control': IMMUTABLE_PRIVATE };
    if (matchesIfNoneMatch(c.req.header('if-none-match'), headers.ETag)) return notModified(headers);
    const blob = await readArtifact(c, imageKey(id), `no image '${id}'`);
    acceptable(c.req.header('accept'), [blob.contentType]);
    return c.body(blob.bytes, 200, { ...headers, 'Content-Type': blob.contentType });
  },
);
