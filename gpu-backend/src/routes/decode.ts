// POST /v1/decode: token rows (JSON, or a GTOK body) -> PNG or WebP images, base64 in JSON.
import {
  ApiError,
  DecodeRequestSchema,
  decodeTokens,
  LIMITS,
  TOKENS_MEDIA_TYPE,
  TokenFormatError,
  toBase64,
} from '@gigatok/shared';
import { Hono } from 'hono';
import type { AppEnv } from '../context.ts';
import { modelFor, tracked } from './model-call.ts';
import { methodNotAllowed, parseJsonBody } from './request.ts';

export const decodeRoutes = new Hono<AppEnv>();

decodeRoutes.post('/', async (c) => {
  const type = (c.req.header('content-type') ?? '').toLowerCase();
  let model: string;
  let rows: (readonly number[])[] | Int32Array[];
  let format: 'png' | 'webp';
  if (type.startsWith(TOKENS_MEDIA_TYPE)) {
    // A GTOK body carries its model; the output format comes from ?format= (default png).
    const q = c.req.query('format') ?? 'png';
    if (q !== 'png' && q !== 'webp') {
      throw new ApiError('invalid_parameter', `'format' must be one of png, webp, got '${q}'`, {
        field: 'format',
      });
    }
    format = q;
    try {
      const set = decodeTokens(c.var.rawBody);
      if (set.count > LIMITS.maxBackendBatch) {
        throw new ApiError(
          'invalid_tokens',
          `the token file holds ${set.count} images; at most ${LIMITS.maxBackendBatch} per request`,
          { limit: LIMITS.maxBackendBatch },
        );
      }
      model = set.model;
      const service = modelFor(c, model);
      const { codebook_size: V, tokens_per_image: T } = service.model.manifest.tokenizer;
      if (set.codebookSize !== V || set.tokensPerImage !== T) {
        throw new ApiError(
          'invalid_tokens',
          `the token file has codebook ${set.codebookSize} x ${set.tokensPerImage} tokens; ${model} needs ${V} x ${T}`,
        );
      }
      rows = Array.from({ length: set.count }, (_, i) =>
        Int32Array.from(set.tokens.subarray(i * T, (i + 1) * T)),
      );
    } catch (error) {
      if (error instanceof TokenFormatError) {
        throw new ApiError(
          'invalid_tokens',
          `the body is not a valid token file (${error.reason}): ${error.message}`,
        );
      }
      throw error;
    }
  } else {
    const body = parseJsonBody(c, DecodeRequestSchema);
    model = body.model;
    rows = body.tokens;
    format = body.format ?? 'png';
  }
  const service = modelFor(c, model);
  const checked = service.checkTokens(rows, 'tokens');
  const images = await tracked(c, service.id, 'decoder', () => service.decode(checked, format, c.var.signal));
  return c.json({
    model: service.id,
    images: images.map((img) => ({
      format: img.format,
      width: img.width,
      height: img.height,
      data: toBase64(img.data),
    })),
  });
});

decodeRoutes.all('/', methodNotAllowed('POST'));
