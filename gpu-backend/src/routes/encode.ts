// POST /v1/encode: base64 images -> token rows (JSON, or the GTOK binary format when asked for), each
// image preprocessed in the request's `preprocessing` mode (shared's default when absent); with
// `augment`, AUGMENTATION_VIEWS rows per image, image-major; `priority: background` for dataset work.
import { ApiError, EncodeRequestSchema, encodeTokens, fromBase64, TOKENS_MEDIA_TYPE } from '@gigatok/shared';
import { Hono } from 'hono';
import type { AppEnv } from '../context.ts';
import { modelFor, tracked } from './model-call.ts';
import { methodNotAllowed, parseJsonBody, wantsTokenBinary } from './request.ts';

export const encodeRoutes = new Hono<AppEnv>();

encodeRoutes.post('/', async (c) => {
  const body = parseJsonBody(c, EncodeRequestSchema);
  const service = modelFor(c, body.model);
  const images = body.images.map((text, i) => {
    try {
      return fromBase64(text);
    } catch {
      throw new ApiError('invalid_image', `'images.${i}' is not standard padded base64`, {
        field: `images.${i}`,
      });
    }
  });
  const rows = await tracked(c, service.id, 'encoder', () =>
    service.encode(images, c.var.signal, {
      preprocessing: body.preprocessing,
      augment: body.augment,
      priority: body.priority,
    }),
  );
  const { codebook_size: codebookSize, tokens_per_image: tokensPerImage } = service.model.manifest.tokenizer;
  if (wantsTokenBinary(c, TOKENS_MEDIA_TYPE)) {
    const flat = new Uint32Array(rows.length * tokensPerImage);
    for (const [i, row] of rows.entries()) flat.set(row, i * tokensPerImage);
    const bytes = encodeTokens({ model: service.id, codebookSize, tokensPerImage, tokens: flat });
    return c.body(bytes as Uint8Array<ArrayBuffer>, 200, { 'Content-Type': TOKENS_MEDIA_TYPE });
  }
  return c.json({
    model: service.id,
    codebook_size: codebookSize,
    tokens_per_image: tokensPerImage,
    tokens: rows.map((row) => Array.from(row)),
  });
});

encodeRoutes.all('/', methodNotAllowed('POST'));
