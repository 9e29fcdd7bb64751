// Which tenant may read which content-addressed object. R2 blobs are shared by content (two tenants
// tokenizing the same image share one blob); reads always check this table first, so an id that
// belongs to another tenant answers 404 exactly like an id that does not exist.

export async function recordOwnership(
  db: D1Database,
  tenantId: string,
  objectIds: readonly string[],
): Promise<void> {
  if (objectIds.length === 0) return;
  const now = Date.now();
  const statement = db.prepare(
    'INSERT INTO objects (tenant_id, object_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
  );
  await db.batch([...new Set(objectIds)].map((id) => statement.bind(tenantId, id, now)));
}

export async function owns(db: D1Database, tenantId: string, objectId: string): Promise<boolean> {
  const row = await db
    .prepare('SELECT 1 FROM objects WHERE tenant_id = ? AND object_id = ?')
    .bind(tenantId, objectId)
    .first();
  return row !== null;
}
