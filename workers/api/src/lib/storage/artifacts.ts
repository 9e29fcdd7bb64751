// Content-addressed artifacts in R2. Keys are content ids, so a blob under a key never changes:
// every write is conditional (`If-None-Match: *`) and a second writer of the same content is a no-op.
//   tokens/<tok_id>      GTOK binary (shared/src/token-format.ts)
//   images/<img_id>      PNG or WebP bytes
//   tokenize/<tenant>/<tki_key>  the tok_id an image (bytes + model + preprocessing) tokenized to
//   generations/<tenant>/<gpk>   the token ids a set of generation parameters (seed included) produced
// The last two are cache indexes, one per tenant: the blobs they point to are shared by content, but
// "was this computed before" is answered from the caller's own history only, so no tenant can learn
// from a cache hit (or its speed) what another tenant tokenized or generated.
//   embeddings/<tok_id>  the AR embedding of a one-image token set: little-endian float32 values
import { TOKENS_MEDIA_TYPE } from '@gigatok/shared';

const WRITE_ONCE = (): Headers => new Headers({ 'If-None-Match': '*' });

/** Writes `key` unless it exists; true when this call wrote it. */
export async function putOnce(
  bucket: R2Bucket,
  key: string,
  body: Uint8Array | string,
  options: { contentType: string; customMetadata?: Record<string, string> },
): Promise<boolean> {
  const written = await bucket.put(key, body, {
    onlyIf: WRITE_ONCE(),
    httpMetadata: { contentType: options.contentType },
    customMetadata: options.customMetadata ?? {},
  });
  return written !== null;
}

export const tokensKey = (tokenId: string) => `tokens/${tokenId}`;
export const imageKey = (imageId: string) => `images/${imageId}`;
export const tokenizePointerKey = (tenantId: string, inputKey: string) => `tokenize/${tenantId}/${inputKey}`;
export const generationPointerKey = (tenantId: string, paramsKey: string) =>
  `generations/${tenantId}/${paramsKey}`;
export const embeddingKey = (tokenId: string) => `embeddings/${tokenId}`;

export interface StoredTokensMeta {
  model: string;
  codebookSize: number;
  tokensPerImage: number;
  count: number;
}

export async function putTokens(bucket: R2Bucket, tokenId: string, gtok: Uint8Array, meta: StoredTokensMeta) {
  return putOnce(bucket, tokensKey(tokenId), gtok, {
    contentType: TOKENS_MEDIA_TYPE,
    customMetadata: {
      model: meta.model,
      shape: `${meta.count}x${meta.tokensPerImage}`,
      codebook_size: String(meta.codebookSize),
    },
  });
}

export async function getBytes(bucket: R2Bucket, key: string): Promise<Uint8Array | null> {
  const object = await bucket.get(key);
  return object ? new Uint8Array(await object.arrayBuffer()) : null;
}

export async function putImage(
  bucket: R2Bucket,
  imageId: string,
  bytes: Uint8Array,
  meta: { format: 'png' | 'webp'; tokenId: string; model: string; width: number; height: number },
) {
  return putOnce(bucket, imageKey(imageId), bytes, {
    contentType: `image/${meta.format}`,
    customMetadata: {
      model: meta.model,
      token_id: meta.tokenId,
      format: meta.format,
      shape: `${meta.height}x${meta.width}x3`,
    },
  });
}

export async function putTokenizePointer(
  bucket: R2Bucket,
  tenantId: string,
  inputKey: string,
  tokenId: string,
  model: string,
) {
  return putOnce(bucket, tokenizePointerKey(tenantId, inputKey), tokenId, {
    contentType: 'text/plain; charset=utf-8',
    customMetadata: { token_id: tokenId, model },
  });
}

/** What one set of generation parameters produced: a token set per image, in image order. */
export interface StoredGeneration {
  model: string;
  seed: number;
  token_ids: string[];
}

export async function getGeneration(
  bucket: R2Bucket,
  tenantId: string,
  paramsKey: string,
): Promise<StoredGeneration | null> {
  const object = await bucket.get(generationPointerKey(tenantId, paramsKey));
  return object ? ((await object.json()) as StoredGeneration) : null;
}

export async function putGeneration(
  bucket: R2Bucket,
  tenantId: string,
  paramsKey: string,
  value: StoredGeneration,
) {
  return putOnce(bucket, generationPointerKey(tenantId, paramsKey), JSON.stringify(value), {
    contentType: 'application/json',
    customMetadata: { model: value.model, count: String(value.token_ids.length) },
  });
}

/** The embedding of a token set: its values and the layer they were read at. */
export interface StoredEmbedding {
  values: Float32Array;
  layer: number;
}

/** Little-endian float32 bytes of `values` (the stored and the binary answer's layout). */
export function float32Bytes(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  for (const [i, v] of values.entries()) view.setFloat32(i * 4, v, true);
  return out;
}

export async function getEmbedding(bucket: R2Bucket, tokenId: string): Promise<StoredEmbedding | null> {
  const object = await bucket.get(embeddingKey(tokenId));
  if (!object) return null;
  const bytes = new DataView(await object.arrayBuffer());
  const values = new Float32Array(bytes.byteLength / 4);
  for (let i = 0; i < values.length; i++) values[i] = bytes.getFloat32(i * 4, true);
  return { values, layer: Number(object.customMetadata?.layer ?? 0) };
}

export async function putEmbedding(
  bucket: R2Bucket,
  tokenId: string,
  model: string,
  stored: StoredEmbedding,
) {
  return putOnce(bucket, embeddingKey(tokenId), float32Bytes(stored.values), {
    contentType: 'application/octet-stream',
    customMetadata: {
      model,
      layer: String(stored.layer),
      dim: String(stored.values.length),
      dtype: 'float32-le',
    },
  });
}
