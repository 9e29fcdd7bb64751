// An uploaded image as a stored token set: the tokenize key (image bytes + model + preprocessing mode), the
// R2 pointer it names when the image was tokenized before, else the backend's /v1/encode, the token set
// stored content-addressed. Shared by POST /v1/tokenize, /v1/variations and /v1/embeddings.
import {
  ApiError,
  DEFAULT_PREPROCESSING,
  decodeTokens,
  EncodeResponseSchema,
  ErrorCode,
  fromBase64,
  imageGeometryProblem,
  LIMITS,
  type PreprocessingMode,
  preprocessingDescriptor,
  readImageSize,
  requireAcceptedImage,
  sha256Hex,
  TOKENS_MEDIA_TYPE,
  type TokenSet,
  toBase64,
  tokenizeKey,
} from '@gigatok/shared';
import { callBackend } from '../backend/client.ts';
import { BackendError } from '../backend/host-request.ts';
import { getModel } from '../backend/models.ts';
import { mediaType } from '../http/request-body.ts';
import type { ServerTiming } from '../http/server-timing.ts';
import { TtlLru } from '../http/ttl-lru.ts';
import { putTokenizePointer, tokenizePointerKey, tokensKey } from '../storage/artifacts.ts';
import { readBlob } from '../storage/edge-cache.ts';
import { recordOwnership } from '../storage/ownership.ts';
import { storeBackendGtok, storeTokenSet } from './store.ts';

/** Problems with the image itself, which the backend names `images.0` (its batch) and this API `image`. */
const IMAGE_PROBLEMS: ReadonlySet<string> = new Set([
  ErrorCode.invalid_image,
  ErrorCode.image_too_large,
  ErrorCode.image_dimensions_unsupported,
  ErrorCode.image_resize_failed,
  ErrorCode.unsupported_media_type,
]);

/** What the backend's /v1/encode answered: GTOK bytes (preferred), or JSON rows. */
type Encoded = { gtok: Uint8Array } | { rows: number[][] };

/** Asks the backend to encode one image in `preprocessing` mode; it answers GTOK (preferred) or JSON. */
async function encodeOnBackend(
  env: Env,
  model: string,
  bytes: Uint8Array,
  preprocessing: PreprocessingMode,
): Promise<Encoded> {
  let response: Response;
  try {
    response = await callBackend(env, {
      method: 'POST',
      path: '/v1/encode',
      json: { model, images: [toBase64(bytes)], preprocessing },
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
    return { gtok: new Uint8Array(await response.arrayBuffer()) };
  }
  const parsed = EncodeResponseSchema.safeParse(await response.json());
  if (!parsed.success)
    throw new ApiError(ErrorCode.backend_error, 'the backend answered /v1/encode with an unexpected shape');
  return { rows: parsed.data.tokens };
}

type NativeBase64 = { fromBase64?: (text: string) => Uint8Array };

/**
 * Base64 already checked by the schema. workerd's native decoder when there is one; shared's fromBase64
 * (also linear in time and stack) otherwise.
 */
export function decodeBase64(text: string): Uint8Array {
  const native = (Uint8Array as unknown as NativeBase64).fromBase64;
  return native ? native(text) : fromBase64(text);
}

/**
 * Size, type and geometry checks of an uploaded image, before any backend call: the bytes decide what it
 * is (shared's sniffing, the same words as the backend's), a declared type is never trusted; the width
 * and height its header claims are held to shared's limits (pixels, longest side, aspect ratio). A
 * header too odd to read here is left to the backend, which checks the same limits with its decoder.
 */
export function checkImageBytes(bytes: Uint8Array): void {
  if (bytes.length > LIMITS.maxImageBytes) {
    throw new ApiError(ErrorCode.image_too_large, `the image must be at most ${LIMITS.maxImageBytes} bytes`, {
      field: 'image',
      limit: LIMITS.maxImageBytes,
    });
  }
  requireAcceptedImage(bytes, 'image');
  const size = readImageSize(bytes);
  const refused = size && imageGeometryProblem(size, 'image', LIMITS.maxImagePixels);
  if (refused) throw refused;
}

export interface ImageTokens {
  tokenId: string;
  set: TokenSet;
  gtok: Uint8Array;
  /** Whether the tokens came from R2 (the backend was not called). */
  hit: boolean;
}

/**
 * This tenant's tokenize pointers seen by this isolate (tenant + tokenize key -> token id). A pointer
 * is write-once, so a copy never goes stale; misses are not kept, so a new pointer is seen at once.
 */
const pointers = new TtlLru<string>(20_000);
const POINTER_TTL_MS = 60 * 60 * 1000;

/** Where a tokenize request runs: the caller's tenant, the request's waitUntil and timing. */
export interface TokenizeScope {
  tenantId: string;
  ctx: { waitUntil(promise: Promise<unknown>): void };
  timing: ServerTiming;
}

/**
 * The token set of checked image bytes for `model` under `preprocessing`: from R2 when this tenant
 * tokenized them before in that mode, else from the backend. Either way the tenant owns the token set afterwards; the per-tenant pointer is
 * written after the grant, so a pointer found means the grant is there.
 */
export async function tokenizeImage(
  env: Env,
  scope: TokenizeScope,
  model: string,
  bytes: Uint8Array,
  preprocessing: PreprocessingMode = DEFAULT_PREPROCESSING,
): Promise<ImageTokens> {
  const { tenantId, ctx, timing } = scope;
  const inputKey = await tokenizeKey({
    model,
    preprocessing: preprocessingDescriptor(preprocessing),
    image_sha256: await sha256Hex(bytes),
  });
  const pointerKey = tokenizePointerKey(tenantId, inputKey);
  let pointed = pointers.get(pointerKey);
  if (pointed === undefined) {
    const pointer = await timing.measure('blob', readBlob(env.ARTIFACTS, pointerKey, ctx));
    pointed = pointer ? new TextDecoder().decode(pointer.bytes).trim() : undefined;
  }
  if (pointed !== undefined) {
    const blob = await timing.measure('blob', readBlob(env.ARTIFACTS, tokensKey(pointed), ctx));
    if (blob) {
      pointers.set(pointerKey, pointed, Date.now() + POINTER_TTL_MS);
      return { tokenId: pointed, set: decodeTokens(blob.bytes), gtok: blob.bytes, hit: true };
    }
  }
  const summary = await getModel(env, model);
  const encoded = await timing.measure('backend', encodeOnBackend(env, model, bytes, preprocessing));
  const stored =
    'gtok' in encoded
      ? await storeBackendGtok(env.ARTIFACTS, summary, encoded.gtok, 1)
      : await storeTokenSet(env.ARTIFACTS, summary, encoded.rows, 1);
  await timing.measure('d1', recordOwnership(env, tenantId, [stored.id], ctx));
  await putTokenizePointer(env.ARTIFACTS, tenantId, inputKey, stored.id, model);
  pointers.set(pointerKey, stored.id, Date.now() + POINTER_TTL_MS);
  return { tokenId: stored.id, set: stored.set, gtok: stored.gtok, hit: false };
}
