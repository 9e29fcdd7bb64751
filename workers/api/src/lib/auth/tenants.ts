// Tenants and their API keys in D1. Keys are stored as the hex SHA-256 of the secret only: the secret
// is 160 random bits, so a fast hash is enough (nothing to brute-force), and a D1 leak reveals no key.

export interface KeyRecord {
  keyId: string;
  tenantId: string;
  revokedAt: number | null;
}

export async function insertTenant(
  db: D1Database,
  tenant: { id: string; name: string; webhookSecret: string },
): Promise<void> {
  await db
    .prepare('INSERT INTO tenants (id, name, webhook_secret, created_at) VALUES (?, ?, ?, ?)')
    .bind(tenant.id, tenant.name, tenant.webhookSecret, Date.now())
    .run();
}

export async function tenantExists(db: D1Database, tenantId: string): Promise<boolean> {
  return (await db.prepare('SELECT 1 FROM tenants WHERE id = ?').bind(tenantId).first()) !== null;
}

export async function insertApiKey(
  db: D1Database,
  key: { id: string; tenantId: string; keyHash: string; prefix: string; name: string | null },
): Promise<void> {
  await db
    .prepare(
      'INSERT INTO api_keys (id, tenant_id, key_hash, prefix, name, created_at) VALUES (?, ?, ?, ?, ?, ?)',
    )
    .bind(key.id, key.tenantId, key.keyHash, key.prefix, key.name, Date.now())
    .run();
}

export async function findKeyByHash(db: D1Database, keyHash: string): Promise<KeyRecord | null> {
  const row = await db
    .prepare('SELECT id, tenant_id, revoked_at FROM api_keys WHERE key_hash = ?')
    .bind(keyHash)
    .first<{ id: string; tenant_id: string; revoked_at: number | null }>();
  return row ? { keyId: row.id, tenantId: row.tenant_id, revokedAt: row.revoked_at } : null;
}

/** Revokes a key; the hash of the key when it existed and was live, else null. */
export async function revokeApiKey(db: D1Database, keyId: string): Promise<string | null> {
  const row = await db
    .prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL RETURNING key_hash')
    .bind(Date.now(), keyId)
    .first<{ key_hash: string }>();
  return row?.key_hash ?? null;
}
