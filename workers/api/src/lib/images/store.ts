// Rendering token sets as images through the backend's /v1/decode, content-addressed: the image of
// token set tok_… in a format is img_… = H(token id, format), decoded once and then read from R2.
import {
  ApiError,
  DecodeResponseSchema,
  type EncodedImage,
  ErrorCode,
  fromBase64,
  type ImageFormat,
  imageId,
  sniffImageType,
} from '@gigatok/shared';
import { callBackendJson } from '../backend/client.ts';
import { imageKey, putImage } from '../storage/artifacts.ts';

export interface ImageSource {
  tokenId: string;
  /** The tokens, read only when the image has to be decoded. */
  row: () => Promise<readonly number[]> | readonly number[];
}

/** Checks a backend image against what was asked and stores it; returns its bytes. */
export async function storeEncodedImage(
  bucket: R2Bucket,
  id: string,
  encoded: EncodedImage,
  meta: { model: string; tokenId: string; format: ImageFormat },
): Promise<Uint8Array> {
  const bytes = fromBase64(encoded.data);
  if (encoded.format !== meta.format || sniffImageType(bytes) !== `image/${meta.format}`) {
    throw new ApiError(ErrorCode.backend_error, `the backend returned an image that is not ${meta.format}`);
  }
  await putImage(bucket, id, bytes, {
    format: meta.format,
    tokenId: meta.tokenId,
    model: meta.model,
    width: encoded.width,
    height: encoded.height,
  });
  return bytes;
}

/** Decodes `sources` in one backend call and stores each image under its id; returns the bytes by id. */
export async function decodeImages(
  env: Env,
  model: string,
  sources: readonly (ImageSource & { imageId: string })[],
  format: ImageFormat,
): Promise<Map<string, Uint8Array>> {
  const decoded = new Map<string, Uint8Array>();
  if (sources.length === 0) return decoded;
  const answer = await callBackendJson(
    env,
    {
      method: 'POST',
      path: '/v1/decode',
      json: { model, tokens: await Promise.all(sources.map((s) => s.row())), format },
    },
    DecodeResponseSchema,
  );
  if (answer.images.length !== sources.length) {
    throw new ApiError(
      ErrorCode.backend_error,
      `the backend decoded ${answer.images.length} of ${sources.length} images`,
    );
  }
  await Promise.all(
    sources.map(async (source, k) => {
      const bytes = await storeEncodedImage(env.ARTIFACTS, source.imageId, answer.images[k]!, {
        model,
        tokenId: source.tokenId,
        format,
      });
      decoded.set(source.imageId, bytes);
    }),
  );
  return decoded;
}

/** The image ids of `sources` in `format` (source order), and the sources whose image is not in R2. */
export async function findImages(
  env: Env,
  sources: readonly ImageSource[],
  format: ImageFormat,
): Promise<{ ids: string[]; missing: (ImageSource & { imageId: string })[] }> {
  const ids = await Promise.all(sources.map((s) => imageId({ token_id: s.tokenId, format })));
  const stored = await Promise.all(ids.map(async (id) => (await env.ARTIFACTS.head(imageKey(id))) !== null));
  const missing = sources.flatMap((source, i) => (stored[i] ? [] : [{ ...source, imageId: ids[i]! }]));
  return { ids, missing };
}
