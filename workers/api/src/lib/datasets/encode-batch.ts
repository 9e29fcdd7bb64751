// One batch of dataset images in three steps, idempotent per image. prepareBatch: an image this tenant
// already tokenized under the same model, preprocessing and augmentation (its tokenize pointer
// tokenize/<tenant>/<tki_…> exists) is not sent again, and its token set is read (one R2 get, so its
// GTOK bytes can be recorded in D1); the others' bytes are read from R2. encodeBatch:
// one /v1/encode call with `augment` and priority 'background'. storeBatch: each image's A rows are
// stored as one token set (content-addressed, as POST /v1/tokenize stores them) with the tenant's grant
// (in D1 only: ownership.ts, recordGrants) and pointer. With augmentation 'none' the key is the tokenize
// key itself, so images sent to POST /v1/tokenize before are reused too.
import {
  ApiError,
  AUGMENTATION_VIEWS,
  augmentedDescriptor,
  decodeTokens,
  EncodeResponseSchema,
  ErrorCode,
  TOKENS_MEDIA_TYPE,
  toBase64,
  tokenizeKey,
  tokenRows,
} from '@gigatok/shared';
import { callBackend } from '../backend/client.ts';
import { BackendError } from '../backend/host-request.ts';
import { getModel } from '../backend/models.ts';
import { config } from '../config.ts';
import { mediaType } from '../http/request-body.ts';
import { getBytes, putTokenizePointer, tokenizePointerKey, tokensKey } from '../storage/artifacts.ts';
import { recordGrants } from '../storage/ownership.ts';
import { storeTokenSet } from '../tokens/store.ts';
import type { DatasetImage, DatasetRecord } from './store.ts';
import { datasetImageKey } from './upload.ts';

/** An image's token set: its id and its GTOK bytes (the R2 object tokens/<tokenId>). */
export interface ImageTokenSet {
  name: string;
  tokenId: string;
  gtok: Uint8Array;
}

interface FoundTokenSet {
  tokenId: string;
  gtok: Uint8Array;
}

/** Images per backend call: the backend's batch limit counts rows, A per image. */
export function batchImages(maxBackendBatch: number, rowsPerImage: number): number {
  return Math.max(1, Math.floor(maxBackendBatch / rowsPerImage));
}

/** The token set this tenant's pointer names, if the pointer and the token set are both there. */
async function pointed(bucket: R2Bucket, pointerKey: string): Promise<FoundTokenSet | null> {
  const pointer = await getBytes(bucket, pointerKey);
  if (!pointer) return null;
  const tokenId = new TextDecoder().decode(pointer).trim();
  const gtok = await getBytes(bucket, tokensKey(tokenId));
  return gtok ? { tokenId, gtok } : null;
}

async function encode(env: Env, dataset: DatasetRecord, images: readonly Uint8Array[]): Promise<number[][]> {
  let response: Response;
  try {
    response = await callBackend(env, {
      method: 'POST',
      path: '/v1/encode',
      json: {
        model: dataset.model,
        images: images.map((bytes) => toBase64(bytes)),
        preprocessing: dataset.preprocessing,
        augment: dataset.augmentation,
        priority: 'background',
      },
      accept: `${TOKENS_MEDIA_TYPE}, application/json;q=0.5`,
      timeoutMs: config(env).generateTimeoutMs,
    });
  } catch (error) {
    if (
      error instanceof BackendError &&
      error.code === ErrorCode.invalid_parameter &&
      /augment/.test(error.message)
    ) {
      throw new ApiError(
        ErrorCode.invalid_parameter,
        `the backend does not support augmentation '${dataset.augmentation}': ${error.message}`,
        { field: 'augmentation' },
      );
    }
    throw error;
  }
  if (mediaType(response.headers.get('content-type')) === TOKENS_MEDIA_TYPE) {
    try {
      const set = decodeTokens(new Uint8Array(await response.arrayBuffer()));
      return tokenRows(set.tokens, set.tokensPerImage);
    } catch (cause) {
      throw new ApiError(ErrorCode.backend_error, 'the backend returned a GTOK blob that does not decode', {
        cause,
      });
    }
  }
  const parsed = EncodeResponseSchema.safeParse(await response.json());
  if (!parsed.success)
    throw new ApiError(ErrorCode.backend_error, 'the backend answered /v1/encode with an unexpected shape');
  return parsed.data.tokens;
}

/** A batch read and ready for the backend: its tokenize keys, the ids already there, the bytes to send. */
export interface PreparedBatch {
  images: readonly DatasetImage[];
  keys: string[];
  /** The token set of each image, null for the ones to encode. */
  found: (FoundTokenSet | null)[];
  /** Indices into `images` of the ones to encode, and their bytes. */
  missing: number[];
  bytes: Uint8Array[];
}

/**
 * Looks up each image's tokenize pointer, reads the token sets of the ones that have one and the image
 * bytes of the others (R2 reads).
 */
export async function prepareBatch(
  env: Env,
  dataset: DatasetRecord,
  images: readonly DatasetImage[],
): Promise<PreparedBatch> {
  const descriptor = augmentedDescriptor(dataset.preprocessing, dataset.augmentation);
  const keys = await Promise.all(
    images.map((image) =>
      tokenizeKey({ model: dataset.model, preprocessing: descriptor, image_sha256: image.sha256 }),
    ),
  );
  const found = await Promise.all(
    keys.map((key) => pointed(env.ARTIFACTS, tokenizePointerKey(dataset.tenantId, key))),
  );
  const missing = images.flatMap((_, i) => (found[i] === null ? [i] : []));
  const bytes = await Promise.all(
    missing.map(async (i) => {
      const image = await getBytes(env.ARTIFACTS, datasetImageKey(dataset.tenantId, images[i]!.sha256));
      if (!image) throw new Error(`image ${images[i]!.name} of dataset ${dataset.id} is missing from R2`);
      return image;
    }),
  );
  return { images, keys, found, missing, bytes };
}

/** The backend's rows for the batch's missing images, A per image, image-major (one /v1/encode call). */
export async function encodeBatch(
  env: Env,
  dataset: DatasetRecord,
  batch: PreparedBatch,
): Promise<number[][]> {
  if (batch.missing.length === 0) return [];
  const A = AUGMENTATION_VIEWS[dataset.augmentation];
  const rows = await encode(env, dataset, batch.bytes);
  if (rows.length !== batch.missing.length * A) {
    throw new ApiError(
      ErrorCode.backend_error,
      `the backend returned ${rows.length} rows for ${batch.missing.length} images with augment '${dataset.augmentation}' (${A} each)`,
    );
  }
  return rows;
}

/**
 * Stores each encoded image's A rows as one token set with the tenant's grant and tokenize pointer
 * (R2 writes, one D1 batch); returns the token set of every image of the batch, in its order.
 */
export async function storeBatch(
  env: Env,
  dataset: DatasetRecord,
  batch: PreparedBatch,
  rows: readonly number[][],
): Promise<ImageTokenSet[]> {
  const found = [...batch.found];
  if (batch.missing.length > 0) {
    const A = AUGMENTATION_VIEWS[dataset.augmentation];
    const summary = await getModel(env, dataset.model);
    const stored = await Promise.all(
      batch.missing.map((_, m) => storeTokenSet(env.ARTIFACTS, summary, rows.slice(m * A, (m + 1) * A), A)),
    );
    await recordGrants(
      env,
      dataset.tenantId,
      stored.map((s) => s.id),
    );
    await Promise.all(
      batch.missing.map((i, m) => {
        found[i] = { tokenId: stored[m]!.id, gtok: stored[m]!.gtok };
        return putTokenizePointer(
          env.ARTIFACTS,
          dataset.tenantId,
          batch.keys[i]!,
          stored[m]!.id,
          dataset.model,
        );
      }),
    );
  }
  return batch.images.map((image, i) => ({ name: image.name, ...found[i]! }));
}
