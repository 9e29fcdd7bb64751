// Read-through copies of immutable R2 blobs: small ones in the isolate (a byte-bounded LRU), all of them
// in the colo's Cache API (caches.default).
// Decision: responses to clients are `private` (they need an API key), so they must never be cached
// under the request URL, where a shared cache could hand them to another caller. Instead the blob is
// cached under an internal key derived from its content id, and only *after* the route has checked
// that the caller owns the id: the cache saves the R2 read, never the authorization. The content is
// immutable (the id is its hash), so the copy cannot go stale. Caches are per colo and best-effort:
// a miss (another colo, an eviction) simply reads R2 again. The isolate copy is the same idea one level
// closer: hot token sets and images are answered from memory, bounded in bytes so a few large blobs
// cannot crowd the isolate's 128 MB.

import { TtlLru } from '../http/ttl-lru.ts';

const CACHE_ORIGIN = 'https://artifacts.gigatok.internal/';

export interface Blob {
  bytes: Uint8Array<ArrayBuffer>;
  contentType: string;
  metadata: Record<string, string>;
}

const METADATA_HEADER = 'x-gigatok-metadata';

/** Blobs kept in the isolate: at most 16 MiB in all, none over 256 KiB, for an hour. */
const ISOLATE_BLOB_BYTES = 16 * 1024 * 1024;
const ISOLATE_BLOB_MAX = 256 * 1024;
const ISOLATE_BLOB_TTL_MS = 60 * 60 * 1000;
const blobs = new TtlLru<Blob>(4096, {
  maxWeight: ISOLATE_BLOB_BYTES,
  weigh: (blob) => (blob.bytes.length > ISOLATE_BLOB_MAX ? Number.POSITIVE_INFINITY : blob.bytes.length),
});

export async function readBlob(
  bucket: R2Bucket,
  key: string,
  ctx: { waitUntil(promise: Promise<unknown>): void },
): Promise<Blob | null> {
  const local = blobs.get(key);
  if (local) return local;
  const cacheKey = new Request(CACHE_ORIGIN + key);
  const cache = caches.default;
  const hit = await cache.match(cacheKey);
  if (hit) {
    const blob: Blob = {
      bytes: new Uint8Array(await hit.arrayBuffer()),
      contentType: hit.headers.get('content-type') ?? 'application/octet-stream',
      metadata: JSON.parse(hit.headers.get(METADATA_HEADER) ?? '{}'),
    };
    blobs.set(key, blob, Date.now() + ISOLATE_BLOB_TTL_MS);
    return blob;
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
  blobs.set(key, blob, Date.now() + ISOLATE_BLOB_TTL_MS);
  return blob;
}
