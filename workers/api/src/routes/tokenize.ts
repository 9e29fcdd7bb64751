// POST /v1/tokenize: image -> tokens. The image arrives as multipart (field `image`, optional fields
// `model` and `preprocessing`), as a raw image body (`?model=&preprocessing=`), or as JSON
// `{ image: <base64>, model?, preprocessing? }`. Tokenizing is content-addressed: the same image bytes,
// model and preprocessing mode map to one tokenize key, and a key this tenant tokenized before is
// answered from R2 without reaching the backend (X-Cache: hit).
import {
  ACCEPTED_IMAGE_NAMES,
  ApiError,
  DEFAULT_PREPROCESSING,
  ErrorCode,
  fromZodError,
  LIMITS,
  ModelIdSchema,
  type PreprocessingMode,
  PreprocessingModeSchema,
  TOKENS_MEDIA_TYPE,
  TokenizeJsonRequestSchema,
  tokensResponse,
} from '@gigatok/shared';
import { Hono } from 'hono';
import type { AppEnv } from '../env.ts';
import { config } from '../lib/config.ts';
import { acceptable, JSON_TYPE } from '../lib/http/negotiate.ts';
import { mediaType, readJson } from '../lib/http/request-body.ts';
import {
  BACKEND,
  binary,
  COMMON,
  cacheHeader,
  describe,
  header,
  problems,
  ref,
  tokensContent,
} from '../lib/openapi/describe.ts';
import { checkImageBytes, decodeBase64, tokenizeImage } from '../lib/tokens/tokenize.ts';
import { limitBody } from '../middleware/body-limit.ts';

/** Multipart framing around the image: boundaries, part headers, the model field. */
const MULTIPART_OVERHEAD = 64 * 1024;

interface Upload {
  bytes: Uint8Array;
  model: string | undefined;
  preprocessing: PreprocessingMode | undefined;
}

function checkModelField(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  const parsed = ModelIdSchema.safeParse(value);
  if (!parsed.success) throw fromZodError(parsed.error, 'model');
  return parsed.data;
}

function checkPreprocessingField(value: string | null | undefined): PreprocessingMode | undefined {
  if (value === undefined || value === null) return undefined;
  const parsed = PreprocessingModeSchema.safeParse(value);
  if (!parsed.success) throw fromZodError(parsed.error, 'preprocessing');
  return parsed.data;
}

function imageTooLarge(): ApiError {
  return new ApiError(ErrorCode.image_too_large, `the image must be at most ${LIMITS.maxImageBytes} bytes`, {
    field: 'image',
    limit: LIMITS.maxImageBytes,
  });
}

async function readUpload(request: Request, url: URL): Promise<Upload> {
  const type = mediaType(request.headers.get('content-type'));
  if (type === 'multipart/form-data') {
    let form: FormData;
    try {
      form = await request.formData();
    } catch {
      throw new ApiError(ErrorCode.invalid_parameter, 'the multipart body is malformed', { field: 'image' });
    }
    const image = form.get('image');
    if (image === null) {
      throw new ApiError(ErrorCode.missing_parameter, "'image' is required: a multipart file field", {
        field: 'image',
      });
    }
    if (typeof image === 'string') {
      throw new ApiError(ErrorCode.invalid_parameter, "'image' must be a file part, not a text field", {
        field: 'image',
      });
    }
    const model = form.get('model');
    const preprocessing = form.get('preprocessing');
    return {
      bytes: new Uint8Array(await image.arrayBuffer()),
      model: checkModelField(typeof model === 'string' ? model : undefined),
      preprocessing: checkPreprocessingField(typeof preprocessing === 'string' ? preprocessing : undefined),
    };
  }
  if (type.startsWith('image/') || type === 'application/octet-stream') {
    return {
      bytes: new Uint8Array(await request.arrayBuffer()),
      model: checkModelField(url.searchParams.get('model') ?? undefined),
      preprocessing: checkPreprocessingField(url.searchParams.get('preprocessing')),
    };
  }
  if (type === 'application/json') {
    const body = await readJson(request);
    const image = (body as { image?: unknown } | null)?.image;
    if (typeof image === 'string' && image.length > LIMITS.maxImageBase64Chars) throw imageTooLarge();
    const parsed = TokenizeJsonRequestSchema.safeParse(body);
    if (!parsed.success) throw fromZodError(parsed.error);
    return {
      bytes: decodeBase64(parsed.data.image),
      model: parsed.data.model,
      preprocessing: parsed.data.preprocessing,
    };
  }
  throw new ApiError(
    ErrorCode.unsupported_media_type,
    `send the image as multipart/form-data, as an image/* body or as application/json, got ${type === '' ? 'no Content-Type' : `'${type}'`}`,
  );
}

/** Body limit by media type: the image alone, or the image inside multipart or base64 framing. */
function uploadLimit(request: Request) {
  const type = mediaType(request.headers.get('content-type'));
  if (type === 'multipart/form-data') return limitBody(LIMITS.maxImageBytes + MULTIPART_OVERHEAD);
  if (type === 'application/json') return limitBody(LIMITS.maxJsonBodyBytes);
  return limitBody(LIMITS.maxImageBytes, ErrorCode.image_too_large, 'the image');
}

/** The image limits, as the request body's description states them (all from shared's LIMITS). */
const IMAGE_LIMITS =
  `One ${ACCEPTED_IMAGE_NAMES} image of at most ${LIMITS.maxImageBytes} bytes whose header claims at most ` +
  `${LIMITS.maxImagePixels} pixels (413 image_too_large otherwise), a longest side of at most ` +
  `${LIMITS.maxImageSide} pixels (maxImageSide) and a long:short side ratio of at most ` +
  `${LIMITS.maxImageAspectRatio}:1 (maxImageAspectRatio); past either, 422 image_dimensions_unsupported ` +
  'naming the limit, before anything is decoded.';

const operation = describe({
  operationId: 'tokenize',
  summary: 'Tokenize an image',
  description:
    'Content-addressed: the same image bytes, model and preprocessing mode, sent again by the same tenant, are ' +
    `answered from storage (X-Cache: hit). The image type is read from its bytes, never from a header: ${ACCEPTED_IMAGE_NAMES}; ` +
    'a GIF or anything else is refused with 415 before the backend is called. ' +
    `Preprocessing is GigaTok's official transform (ADM center_crop_arr with Pillow's box and bicubic filters, ` +
    `Normalize(0.5, 0.5)), bit for bit; \`preprocessing\` chooses how the file is read (default '${DEFAULT_PREPROCESSING}').`,
  parameters: [
    { name: 'model', in: 'query', required: false, schema: { $ref: '#/components/schemas/ModelId' } },
    {
      name: 'preprocessing',
      in: 'query',
      required: false,
      description: 'For a raw image body; multipart and JSON bodies carry it as a field.',
      schema: { $ref: '#/components/schemas/PreprocessingMode' },
    },
  ],
  requestBody: {
    required: true,
    description: IMAGE_LIMITS,
    content: {
      'multipart/form-data': {
        schema: {
          type: 'object',
          required: ['image'],
          properties: {
            image: binary,
            model: { $ref: '#/components/schemas/ModelId' },
            preprocessing: { $ref: '#/components/schemas/PreprocessingMode' },
          },
        },
      },
      'image/*': { schema: binary },
      'application/json': { schema: ref(TokenizeJsonRequestSchema) },
    },
  },
  responses: {
    '200': {
      description: 'The tokens of the image.',
      headers: { 'X-Cache': cacheHeader, Location: header('URL of the token set.') },
      content: tokensContent,
    },
    ...problems(400, ...COMMON, 406, 413, 415, 422, ...BACKEND),
  },
});

export const tokenize = new Hono<AppEnv>().post(
  '/',
  operation,
  (c, next) => uploadLimit(c.req.raw)(c, next),
  async (c) => {
    const answerType = acceptable(c.req.header('accept'), [JSON_TYPE, TOKENS_MEDIA_TYPE] as const);

    const upload = await readUpload(c.req.raw, new URL(c.req.url));
    checkImageBytes(upload.bytes);
    const model = upload.model ?? config(c.env).defaultModel;
    const { tenantId } = c.get('caller');
    const timing = c.get('timing');
    const { tokenId, set, gtok, hit } = await tokenizeImage(
      c.env,
      { tenantId, ctx: c.executionCtx, timing },
      model,
      upload.bytes,
      upload.preprocessing ?? DEFAULT_PREPROCESSING,
    );

    const headers = { 'X-Cache': hit ? 'hit' : 'miss', Location: `/v1/tokens/${tokenId}`, Vary: 'Accept' };
    if (answerType === TOKENS_MEDIA_TYPE) {
      return c.body(gtok.slice(), 200, { ...headers, 'Content-Type': TOKENS_MEDIA_TYPE });
    }
    const body = timing.measureSync('enc', () => JSON.stringify(tokensResponse(tokenId, set)));
    return c.body(body, 200, { ...headers, 'Content-Type': JSON_TYPE });
  },
);
