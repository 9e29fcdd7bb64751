// POST /v1/tokenize: image -> tokens. The image arrives as multipart (field `image`, optional field
// `model`), as a raw image body (`?model=`), or as JSON `{ image: <base64>, model? }`. Tokenizing is
// content-addressed: the same image bytes, model and preprocessing map to one tokenize key, and a key
// found in R2 is answered from R2 without reaching the backend (X-Cache: hit).
import {
  ApiError,
  decodeTokens,
  EncodeResponseSchema,
  ErrorCode,
  fromBase64,
  fromZodError,
  LIMITS,
  ModelIdSchema,
  sha256Hex,
  TOKENS_MEDIA_TYPE,
  TokenizeJsonRequestSchema,
  type TokenSet,
  toBase64,
  tokenizeKey,
} from '@gigatok/shared';
import { Hono } from 'hono';
import type { AppEnv } from '../env.ts';
import { BackendError, callBackend } from '../lib/backend.ts';
import { config } from '../lib/config.ts';
import { readBlob } from '../lib/edge-cache.ts';
import { sniffImageType } from '../lib/image-sniff.ts';
import { getModel } from '../lib/models.ts';
import { negotiate } from '../lib/negotiate.ts';
import { recordOwnership } from '../lib/ownership.ts';
import { mediaType, readJson } from '../lib/request-body.ts';
import { getTokenizePointer, putTokenizePointer, tokensKey } from '../lib/storage.ts';
import { storeTokenSet } from '../lib/token-store.ts';
import { tokensBody } from '../lib/tokens-view.ts';
import { limitBody } from '../middleware/body-limit.ts';
import { JSON_TYPE, notAcceptable } from './tokens.ts';

/**
 * The backend's preprocessing (resize the short side, centre-crop to the model's size). Part of the
 * tokenize key: a change of preprocessing must be a new descriptor, so old cache entries stop matching.
 */
export const PREPROCESSING = 'resize-short-center-crop/v1';

/** Multipart framing around the image: boundaries, part headers, the model field. */
const MULTIPART_OVERHEAD = 64 * 1024;

interface Upload {
  bytes: Uint8Array;
  model: string | undefined;
  declaredType: string;
}

function checkModelField(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  const parsed = ModelIdSchema.safeParse(value);
  if (!parsed.success) throw fromZodError(parsed.error, 'model');
  return parsed.data;
}

function imageTooLarge(): ApiError {
  return new ApiError(ErrorCode.image_too_large, `the image must be at most ${LIMITS.maxImageBytes} bytes`, {
    field: 'image',
    limit: LIMITS.maxImageBytes,
  });
}

type NativeBase64 = { fromBase64?: (text: string) => Uint8Array };

/**
 * Base64 already checked by the schema. workerd's native decoder when there is one; shared's fromBase64
 * (also linear in time and stack) otherwise.
 */
function decodeBase64(text: string): Uint8Array {
  const native = (Uint8Array as unknown as NativeBase64).fromBase64;
  return native ? native(text) : fromBase64(text);
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
    return {
      bytes: new Uint8Array(await image.arrayBuffer()),
      model: checkModelField(typeof model === 'string' ? model : undefined),
      declaredType: mediaType(image.type),
    };
  }
  if (type.startsWith('image/') || type === 'application/octet-stream') {
    return {
      bytes: new Uint8Array(await request.arrayBuffer()),
      model: checkModelField(url.searchParams.get('model') ?? undefined),
      declaredType: type,
    };
  }
  if (type === 'application/json') {
    const body = await readJson(request);
    const image = (body as { image?: unknown } | null)?.image;
    if (typeof image === 'string' && image.length > LIMITS.maxImageBase64Chars) throw imageTooLarge();
    const parsed = TokenizeJsonRequestSchema.safeParse(body);
    if (!parsed.success) throw fromZodError(parsed.error);
    return { bytes: decodeBase64(parsed.data.image), model: parsed.data.model, declaredType: '' };
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

/** Problems with the image itself, which the backend names `images.0` (its batch) and this API `image`. */
const IMAGE_PROBLEMS: ReadonlySet<string> = new Set([
  ErrorCode.invalid_image,
  ErrorCode.image_too_large,
  ErrorCode.unsupported_media_type,
]);

/** Asks the backend to encode one image; it answers GTOK (preferred) or JSON. */
async function encodeOnBackend(env: Env, model: string, bytes: Uint8Array): Promise<number[][]> {
  let response: Response;
  try {
    response = await callBackend(env, {
      method: 'POST',
      path: '/v1/encode',
      json: { model, images: [toBase64(bytes)] },
      accept: `${TOKENS_MEDIA_TYPE}, application/json;q=0.5`,
    });
  } catch (error) {
    if (error instanceof BackendError && IMAGE_PROBLEMS.has(error.code)) {
      throw new ApiError(error.code, error.message.replaceAll("'images.0'", "'image'"), {
        field: 'image',
        limit: error.limit,
      });
    }
    throw error;
  }
  if (mediaType(response.headers.get('content-type')) === TOKENS_MEDIA_TYPE) {
    const set = decodeTokens(new Uint8Array(await response.arrayBuffer()));
    return [...Array(set.count).keys()].map((i) =>
      Array.from(set.tokens.subarray(i * set.tokensPerImage, (i + 1) * set.tokensPerImage)),
    );
  }
  const parsed = EncodeResponseSchema.safeParse(await response.json());
  if (!parsed.success)
    throw new ApiError(ErrorCode.backend_error, 'the backend answered /v1/encode with an unexpected shape');
  return parsed.data.tokens;
}

export const tokenize = new Hono<AppEnv>().post(
  '/',
  (c, next) => uploadLimit(c.req.raw)(c, next),
  async (c) => {
    const offered = [JSON_TYPE, TOKENS_MEDIA_TYPE] as const;
    const answerType = negotiate(c.req.header('accept'), offered);
    if (!answerType) throw notAcceptable(offered);

    const upload = await readUpload(c.req.raw, new URL(c.req.url));
    if (upload.bytes.length === 0) {
      throw new ApiError(ErrorCode.invalid_image, "'image' is empty", { field: 'image' });
    }
    if (upload.bytes.length > LIMITS.maxImageBytes) {
      throw new ApiError(
        ErrorCode.image_too_large,
        `the image must be at most ${LIMITS.maxImageBytes} bytes`,
        {
          field: 'image',
          limit: LIMITS.maxImageBytes,
        },
      );
    }
    // The bytes decide what the upload is; a declared image type is never trusted.
    if (!sniffImageType(upload.bytes)) {
      const claimed = upload.declaredType ? ` (declared as ${upload.declaredType})` : '';
      throw new ApiError(ErrorCode.invalid_image, `'image' is not a PNG, JPEG, WebP or GIF file${claimed}`, {
        field: 'image',
      });
    }
    const model = upload.model ?? config(c.env).defaultModel;
    const { tenantId } = c.get('caller');

    const inputKey = await tokenizeKey({
      model,
      preprocessing: PREPROCESSING,
      image_sha256: await sha256Hex(upload.bytes),
    });
    let tokenId = await getTokenizePointer(c.env.ARTIFACTS, inputKey);
    let set: TokenSet | null = null;
    let gtok: Uint8Array | null = null;
    if (tokenId) {
      const blob = await readBlob(c.env.ARTIFACTS, tokensKey(tokenId), c.executionCtx);
      if (blob) {
        gtok = blob.bytes;
        set = decodeTokens(blob.bytes);
      }
    }
    const hit = set !== null;
    if (!set || !gtok || !tokenId) {
      const summary = await getModel(c.env, model);
      const rows = await encodeOnBackend(c.env, model, upload.bytes);
      const stored = await storeTokenSet(c.env.ARTIFACTS, summary, rows, 1);
      tokenId = stored.id;
      set = stored.set;
      gtok = stored.gtok;
      await putTokenizePointer(c.env.ARTIFACTS, inputKey, tokenId, model);
    }
    await recordOwnership(c.env.DB, tenantId, [tokenId]);

    const headers = { 'X-Cache': hit ? 'hit' : 'miss', Location: `/v1/tokens/${tokenId}`, Vary: 'Accept' };
    if (answerType === TOKENS_MEDIA_TYPE) {
      return c.body(gtok.slice(), 200, { ...headers, 'Content-Type': TOKENS_MEDIA_TYPE });
    }
    return c.json(tokensBody(tokenId, set), 200, headers);
  },
);
