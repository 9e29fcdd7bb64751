// Read-through copy of immutable R2 blobs in the colo's Cache API (caches.default).
// Decision: responses to clients are `private` (they need an API key), so they must never be cached
// under the request URL, where a shared cache could hand them to another caller. Instead the blob is
// cached under an internal key derived from its content id, and only *after* the route has checked in
// D1 that the caller owns the id: the cache saves the R2 read, never the authorization. The content is
// immutable (the id is its hash), so the copy cannot go stale. Caches are per colo and best-effort:
// a miss (another colo, an eviction) simply reads R2 again.

const CACHE_ORIGIN = 'https://artifacts.gigatok.internal/';

export interface Blob {
  bytes: Uint8Array<ArrayBuffer>;
  contentType: string;
  metadata: Record<string, string>;
}

const METADATA_HEADER = 'x-gigatok-metadata';

export async function readBlob(
  bucket: R2Bucket,
  key: string,
  ctx: { waitUntil(promise: Promise<unknown>): void },
): Promise<Blob | null> {
  const cacheKey = new Request(CACHE_ORIGIN + key);
  const cache = caches.default;
  const hit = await cache.match(cacheKey);
  if (hit) {
    return {
      bytes: new Uint8Array(await hit.arrayBuffer()),
      contentType: hit.headers.get('content-type') ?? 'application/octet-stream',
      metadata: JSON.parse(hit.headers.get(METADATA_HEADER) ?? '{}'),
    };
  }
  const object = await bucket.get(key);
  if (!object) return null;
  const blob: Blob = {
    bytes: new Uint8Array(await object.arrayBuffer()),
    contentType: object.httpMetadata?.contentType ?? 'application/octet-stream',
    metadata: object.customMetadata ?? {},
  };
  const copy = new Response(blob.bytes.slice(), {
    headers: {
      'content-type': blob.contentType,
      'cache-control': 'public, max-age=31536000, immutable',
      [METADATA_HEADER]: JSON.stringify(blob.metadata),
    },
  });
  ctx.waitUntil(cache.put(cacheKey, copy).catch(() => undefined));
  return blob;
}
