// POST /v1/embeddings: the AR model's representation of one image (GigaTok Sec. 4 probes the AR model's
// middle layer: linear-probe accuracy rises with the tokenizer's semantic regularization). The mean
// hidden state at layer n_layer/2 with the null class in front, from the backend's /v1/embed, stored in R2
// under the token set's content id, so a token set is embedded once per tenant. JSON, or with
// Accept: application/octet-stream the vector as little-endian float32 bytes.
import {
  ApiError,
  EmbeddingRequestSchema,
  EmbeddingResponseSchema,
  EmbedResponseSchema,
  ErrorCode,
  fromZodError,
  LIMITS,
} from '@gigatok/shared';
import { Hono } from 'hono';
import type { AppEnv } from '../env.ts';
import { callBackendJson } from '../lib/backend/client.ts';
import { acceptable, JSON_TYPE } from '../lib/http/negotiate.ts';
import { readJson } from '../lib/http/request-body.ts';
import {
  BACKEND,
  binary,
  COMMON,
  cacheHeader,
  describe,
  header,
  jsonBody,
  problems,
  ref,
} from '../lib/openapi/describe.ts';
import { float32Bytes, getEmbedding, putEmbedding } from '../lib/storage/artifacts.ts';
import { bySource, embeddingGrantId, owns, recordOwnership } from '../lib/storage/ownership.ts';
import { resolveTokenSource } from '../lib/tokens/source.ts';
import { limitBody } from '../middleware/body-limit.ts';

export const BINARY_TYPE = 'application/octet-stream';

const operation = describe({
  operationId: 'createEmbedding',
  summary: "The AR model's representation of an image (mean hidden state at layer n_layer/2)",
  description:
    'Stored under the token set id: a tenant that embedded the same image or token set before is answered from storage (X-Cache: hit).',
  requestBody: jsonBody(EmbeddingRequestSchema),
  responses: {
    '200': {
      description: 'The embedding.',
      headers: {
        'X-Cache': cacheHeader,
        'X-Token-Id': header('The token set embedded (tok_...).'),
        'X-Embedding-Dim': header('Number of float32 values.'),
        'X-Embedding-Layer': header('The AR layer read.'),
      },
      content: {
        'application/json': { schema: ref(EmbeddingResponseSchema) },
        'application/octet-stream': {
          schema: { ...binary, description: 'X-Embedding-Dim little-endian float32 values.' },
        },
      },
    },
    ...problems(400, ...COMMON, 404, 406, 413, 415, 422, ...BACKEND),
  },
});

// The source may be an image in base64: the same bound as a JSON tokenize body.
const imageBody = limitBody(LIMITS.maxJsonBodyBytes);

export const embeddings = new Hono<AppEnv>().post('/', operation, imageBody, async (c) => {
  const answerType = acceptable(c.req.header('accept'), [JSON_TYPE, BINARY_TYPE] as const);
  const parsed = EmbeddingRequestSchema.safeParse(await readJson(c.req.raw));
  if (!parsed.success) throw fromZodError(parsed.error);
  const source = await resolveTokenSource(c, parsed.data);
  const { tenantId } = c.get('caller');
  const timing = c.get('timing');

  // A hit is this tenant's own earlier request: the blob is shared by content, the history is not.
  const grantId = embeddingGrantId(source.tokenId);
  const mine = (await timing.measure('own', owns(c.env, tenantId, grantId, c.executionCtx), bySource)).owned;
  let stored = mine ? await timing.measure('blob', getEmbedding(c.env.ARTIFACTS, source.tokenId)) : null;
  const hit = stored !== null;
  if (!stored) {
    const answer = await timing.measure(
      'backend',
      callBackendJson(
        c.env,
        { method: 'POST', path: '/v1/embed', json: { model: source.model, tokens: [source.row] } },
        EmbedResponseSchema,
      ),
    );
    const vector = answer.embeddings[0];
    if (answer.model !== source.model || answer.embeddings.length !== 1 || vector?.length !== answer.dim) {
      throw new ApiError(ErrorCode.backend_error, 'the backend answered /v1/embed with an unexpected shape');
    }
    stored = { values: Float32Array.from(vector), layer: answer.layer };
    // Write-once: a concurrent first request may have stored it already, with the same content.
    await putEmbedding(c.env.ARTIFACTS, source.tokenId, source.model, stored);
    await timing.measure('d1', recordOwnership(c.env, tenantId, [grantId], c.executionCtx));
  }

  const headers = {
    'X-Cache': hit ? 'hit' : 'miss',
    'X-Token-Id': source.tokenId,
    'X-Embedding-Dim': String(stored.values.length),
    'X-Embedding-Layer': String(stored.layer),
    'Cache-Control': 'private, max-age=31536000, immutable',
    Vary: 'Accept',
  };
  if (answerType === BINARY_TYPE) {
    return c.body(float32Bytes(stored.values) as Uint8Array<ArrayBuffer>, 200, {
      ...headers,
      'Content-Type': BINARY_TYPE,
    });
  }
  return c.json(
    {
      object: 'embedding',
      model: source.model,
      token_id: source.tokenId,
      layer: stored.layer,
      dim: stored.values.length,
      embedding: Array.from(stored.values),
    },
    200,
    headers,
  );
});
