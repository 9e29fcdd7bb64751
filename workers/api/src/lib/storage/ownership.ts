// Which tenant may read which content-addressed object. R2 blobs are shared by content (two tenants
// tokenizing the same image share one blob); D1's `objects` table is the record of who may read what,
// and an id that belongs to another tenant answers 404 exactly like an id that does not exist.
//
// A grant never changes once made, so a positive answer is cached: in the isolate (bounded LRU) and in
// the colo's Cache API, which the grant itself fills. A negative answer is never cached and always
// asks D1, so a grant made a moment ago, in any isolate, is seen at once. docs/architecture.md
// ("Ownership") has the decision and its trade-offs.
import { TtlLru } from '../http/ttl-lru.ts';

export type OwnershipSource = 'isolate' | 'colo' | 'd1';

/** Grants a busy isolate keeps; each entry is about 150 bytes. */
const ISOLATE_GRANTS = 20_000;
/** Grants are permanent; the expiry only bounds how long a copy outlives a deleted tenant. */
const ISOLATE_TTL_MS = 60 * 60 * 1000;
const COLO_TTL_SECONDS = 24 * 60 * 60;

const grants = new TtlLru<true>(ISOLATE_GRANTS);
const CACHE_ORIGIN = 'https://grants.gigatok.internal/';

const grantKey = (tenantId: string, objectId: string) => `${tenantId}/${objectId}`;
const coloKey = (tenantId: string, objectId: string) =>
  new Request(CACHE_ORIGIN + encodeURIComponent(grantKey(tenantId, objectId)));

type WaitUntil = { waitUntil(promise: Promise<unknown>): void };

function remember(tenantId: string, objectId: string, ctx: WaitUntil | undefined): Promise<void> {
  grants.set(grantKey(tenantId, objectId), true, Date.now() + ISOLATE_TTL_MS);
  const entry = new Response('1', { headers: { 'cache-control': `max-age=${COLO_TTL_SECONDS}` } });
  const put = caches.default.put(coloKey(tenantId, objectId), entry).catch(() => undefined);
  if (!ctx) return put;
  ctx.waitUntil(put);
  return Promise.resolve();
}

/** Records that `tenantId` may read `objectIds` (idempotent) and caches the grants. */
export async function recordOwnership(
  env: Env,
  tenantId: string,
  objectIds: readonly string[],
  ctx?: WaitUntil,
): Promise<void> {
  if (objectIds.length === 0) return;
  const unique = [...new Set(objectIds)];
  await recordGrants(env, tenantId, unique);
  await Promise.all(unique.map((id) => remember(tenantId, id, ctx)));
}

/**
 * Records the grants in D1 only, leaving the caches as they are: for bulk grants (a dataset run's
 * token sets) that nobody is about to read one by one, which would only push hot grants out of the
 * isolate's cache and cost a Cache API write each. A later read asks D1 once and caches the answer.
 */
export async function recordGrants(env: Env, tenantId: string, objectIds: readonly string[]): Promise<void> {
  if (objectIds.length === 0) return;
  const now = Date.now();
  const statement = env.DB.prepare(
    'INSERT INTO objects (tenant_id, object_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
  );
  await env.DB.batch([...new Set(objectIds)].map((id) => statement.bind(tenantId, id, now)));
}

/** Whether `tenantId` may read `objectId`, and which layer answered. */
export async function owns(
  env: Env,
  tenantId: string,
  objectId: string,
  ctx?: WaitUntil,
): Promise<{ owned: boolean; source: OwnershipSource }> {
  if (grants.get(grantKey(tenantId, objectId))) return { owned: true, source: 'isolate' };
  const cached = await caches.default.match(coloKey(tenantId, objectId));
  if (cached) {
    await cached.body?.cancel();
    grants.set(grantKey(tenantId, objectId), true, Date.now() + ISOLATE_TTL_MS);
    return { owned: true, source: 'colo' };
  }
  const row = await env.DB.prepare('SELECT 1 FROM objects WHERE tenant_id = ? AND object_id = ?')
    .bind(tenantId, objectId)
    .first();
  if (row === null) return { owned: false, source: 'd1' };
  await remember(tenantId, objectId, ctx);
  return { owned: true, source: 'd1' };
}

/** Server-Timing desc of an ownership answer: the layer that gave it. */
export const bySource = (answer: { source: OwnershipSource }) => answer.source;

/**
 * The id under which a tenant's embedding of a token set is granted: the embedding blob is shared by
 * content, but whether this tenant asked for it before (its X-Cache) is the tenant's own history.
 */
export const embeddingGrantId = (tokenId: string) => `${tokenId}/embedding`;
