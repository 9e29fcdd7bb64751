// POST /v1/embed: token rows -> the AR model's representation of each (embed.onnx: the mean hidden
// state at layer n_layer/2 with the null class in front; GigaTok Sec. 4 probes this layer).
import { EmbedRequestSchema } from '@gigatok/shared';
import { Hono } from 'hono';
import type { AppEnv } from '../context.ts';
import { modelFor, tracked } from './model-call.ts';
import { methodNotAllowed, parseJsonBody } from './request.ts';

export const embedRoutes = new Hono<AppEnv>();

embedRoutes.post('/', async (c) => {
  const body = parseJsonBody(c, EmbedRequestSchema);
  const service = modelFor(c, body.model);
  const rows = service.checkTokens(body.tokens, 'tokens');
  const vectors = await tracked(c, service.id, 'embed', () => service.embed(rows, c.var.signal));
  return c.json({
    model: service.id,
    layer: service.model.manifest.ar.embedding_layer,
    dim: vectors[0]?.length ?? 0,
    // float32 values as JSON numbers: each prints as the shortest double that reads back to it.
    embeddings: vectors.map((v) => Array.from(v)),
  });
});

embedRoutes.all('/', methodNotAllowed('POST'));
