// A tenant's Standard Webhooks signing secrets in D1: the current one, and after a rotation the
// previous one until its overlap window ends. During the window deliveries carry a signature under
// each (spec "Signature scheme": the header may hold several space-separated signatures), so a
// receiver holding either secret verifies them and can switch over without dropping an event.

/** The current secret, as GET /v1/webhooks/secret shows it. */
export async function currentWebhookSecret(db: D1Database, tenantId: string): Promise<string | null> {
  const row = await db
    .prepare('SELECT webhook_secret FROM tenants WHERE id = ?')
    .bind(tenantId)
    .first<{ webhook_secret: string }>();
  return row?.webhook_secret ?? null;
}

/** The secrets that sign a delivery sent at `now` (ms): the current one first, then the previous one while it lasts. */
export async function signingSecrets(db: D1Database, tenantId: string, now: number): Promise<string[]> {
  const row = await db
    .prepare(
      'SELECT webhook_secret, previous_webhook_secret, previous_webhook_secret_expires_at FROM tenants WHERE id = ?',
    )
    .bind(tenantId)
    .first<{
      webhook_secret: string;
      previous_webhook_secret: string | null;
      previous_webhook_secret_expires_at: number | null;
    }>();
  if (!row) return [];
  const previousLive =
    row.previous_webhook_secret !== null &&
    row.previous_webhook_secret_expires_at !== null &&
    now < row.previous_webhook_secret_expires_at;
  return previousLive ? [row.webhook_secret, row.previous_webhook_secret!] : [row.webhook_secret];
}

/**
 * Makes `secret` the tenant's signing secret; the one it replaces keeps signing until `now + overlapMs`
 * (not at all when overlapMs is 0). A rotation inside an earlier window ends that window: only the
 * secret just replaced stays valid. Returns the previous secret's expiry (ms) or null; null for an
 * unknown tenant too, told apart by `rotated`.
 */
export async function rotateWebhookSecret(
  db: D1Database,
  tenantId: string,
  secret: string,
  overlapMs: number,
  now: number,
): Promise<{ rotated: boolean; previousExpiresAt: number | null }> {
  const expiresAt = overlapMs > 0 ? now + overlapMs : null;
  // SQLite evaluates every SET expression against the row as it was, so `webhook_secret` on the
  // right-hand side is the secret being replaced.
  const row = await db
    .prepare(
      `UPDATE tenants SET
         previous_webhook_secret = CASE WHEN ?1 IS NULL THEN NULL ELSE webhook_secret END,
         previous_webhook_secret_expires_at = ?1,
         webhook_secret = ?2
       WHERE id = ?3 RETURNING id`,
    )
    .bind(expiresAt, secret, tenantId)
    .first<{ id: string }>();
  return { rotated: row !== null, previousExpiresAt: row ? expiresAt : null };
}
