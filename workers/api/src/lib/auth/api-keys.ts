// Which tenant an API key belongs to, without a D1 round trip on the warm path. A key that D1 found
// live is trusted for `authCacheTtlMs` from that check (AUTH_CACHE_TTL_SECONDS, at most 60 s): in the
// isolate (a bounded LRU) and in the colo's Cache API, so other isolates of the colo share the answer.
// Entries carry the time of the D1 check and expire that long after it wherever they are copied, so
// a key revoked at time R is refused everywhere by R + TTL. Unknown and revoked keys are never cached:
// a key created a moment ago works at once. The cache is keyed by a hash of the key's hash, never by
// the secret. docs/architecture.md ("API keys") says what a revoked key can still do inside the bound.
import { sha256Hex } from '@gigatok/shared';
import { config } from '../config.ts';
import { TtlLru } from '../http/ttl-lru.ts';
import { findKeyByHash } from './tenants.ts';

export interface KeyIdentity {
  keyId: string;
  tenantId: string;
}

/** Where the answer came from (Server-Timing `auth` desc). */
export type KeySource = 'isolate' | 'colo' | 'd1';

export type KeyLookup =
  | { status: 'valid'; identity: KeyIdentity; source: KeySource }
  | { status: 'unknown' | 'revoked'; source: 'd1' };

/** Keys a busy isolate sees; each entry is about 200 bytes. */
const ISOLATE_KEYS = 10_000;
const keys = new TtlLru<KeyIdentity>(ISOLATE_KEYS);

const CACHE_ORIGIN = 'https://api-keys.gigatok.internal/';

interface CachedKey {
  key_id: string;
  tenant_id: string;
  /** When D1 last said the key was live (epoch ms). */
  checked_at: number;
}

async function colocationKey(keyHash: string): Promise<Request> {
  return new Request(CACHE_ORIGIN + (await sha256Hex(`gigatok-api-key-cache/v1:${keyHash}`)));
}

function fromColo(
  text: string,
  ttlMs: number,
  now: number,
): { identity: KeyIdentity; expiresAt: number } | null {
  try {
    const value = JSON.parse(text) as Partial<CachedKey>;
    if (typeof value.key_id !== 'string' || typeof value.tenant_id !== 'string') return null;
    if (typeof value.checked_at !== 'number' || value.checked_at > now) return null;
    const expiresAt = value.checked_at + ttlMs;
    if (expiresAt <= now) return null;
    return { identity: { keyId: value.key_id, tenantId: value.tenant_id }, expiresAt };
  } catch {
    return null;
  }
}

export async function lookupApiKey(
  env: Env,
  ctx: { waitUntil(promise: Promise<unknown>): void },
  keyHash: string,
): Promise<KeyLookup> {
  const ttlMs = config(env).authCacheTtlMs;
  const now = Date.now();
  if (ttlMs > 0) {
    const local = keys.get(keyHash, now);
    if (local) return { status: 'valid', identity: local, source: 'isolate' };
    const cached = await caches.default.match(await colocationKey(keyHash));
    const shared = cached ? fromColo(await cached.text(), ttlMs, now) : null;
    if (shared) {
      keys.set(keyHash, shared.identity, shared.expiresAt);
      return { status: 'valid', identity: shared.identity, source: 'colo' };
    }
  }
  const record = await findKeyByHash(env.DB, keyHash);
  if (!record) return { status: 'unknown', source: 'd1' };
  if (record.revokedAt !== null) return { status: 'revoked', source: 'd1' };
  const identity = { keyId: record.keyId, tenantId: record.tenantId };
  if (ttlMs > 0) {
    const checkedAt = Date.now();
    keys.set(keyHash, identity, checkedAt + ttlMs);
    const body: CachedKey = { key_id: identity.keyId, tenant_id: identity.tenantId, checked_at: checkedAt };
    const entry = new Response(JSON.stringify(body), {
      headers: { 'content-type': 'application/json', 'cache-control': `max-age=${Math.ceil(ttlMs / 1000)}` },
    });
    ctx.waitUntil(
      colocationKey(keyHash)
        .then((request) => caches.default.put(request, entry))
        .catch(() => undefined),
    );
  }
  return { status: 'valid', identity, source: 'd1' };
}

/** Drops a revoked key from this isolate and this colo at once; other colos stop within the TTL. */
export async function forgetApiKey(keyHash: string): Promise<void> {
  keys.delete(keyHash);
  await caches.default.delete(await colocationKey(keyHash));
}
