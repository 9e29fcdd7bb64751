// Webhook deliveries and their attempts in D1. A delivery is one event of one job (unique per job and
// event type, so a consumer that runs twice enqueues it once); every HTTP attempt is recorded.

export type DeliveryStatus = 'pending' | 'succeeded' | 'failed';

export interface Delivery {
  id: string;
  tenantId: string;
  jobId: string;
  eventType: string;
  url: string;
  payload: string;
  status: DeliveryStatus;
  attempts: number;
}

/** Inserts a delivery; false when this job already has one for this event type. */
export async function insertDelivery(
  db: D1Database,
  delivery: Omit<Delivery, 'status' | 'attempts'>,
): Promise<boolean> {
  const result = await db
    .prepare(
      `INSERT INTO webhook_deliveries (id, tenant_id, job_id, event_type, url, payload, status, attempts, created_at)
       VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?) ON CONFLICT DO NOTHING`,
    )
    .bind(
      delivery.id,
      delivery.tenantId,
      delivery.jobId,
      delivery.eventType,
      delivery.url,
      delivery.payload,
      Date.now(),
    )
    .run();
  return result.meta.changes === 1;
}

export async function getDelivery(db: D1Database, id: string): Promise<Delivery | null> {
  const row = await db.prepare('SELECT * FROM webhook_deliveries WHERE id = ?').bind(id).first<{
    id: string;
    tenant_id: string;
    job_id: string;
    event_type: string;
    url: string;
    payload: string;
    status: DeliveryStatus;
    attempts: number;
  }>();
  if (!row) return null;
  return {
    id: row.id,
    tenantId: row.tenant_id,
    jobId: row.job_id,
    eventType: row.event_type,
    url: row.url,
    payload: row.payload,
    status: row.status,
    attempts: row.attempts,
  };
}

export interface AttemptRecord {
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

/**
 * Records one attempt and moves the delivery to `next` (still pending, succeeded or failed) in one
 * transaction; returns the attempt number.
 */
export async function recordAttempt(
  db: D1Database,
  delivery: Delivery,
  attempt: AttemptRecord,
  next: DeliveryStatus,
): Promise<number> {
  const now = Date.now();
  const number = delivery.attempts + 1;
  await db.batch([
    db
      .prepare(
        `INSERT INTO webhook_attempts (delivery_id, attempt, status_code, error, duration_ms, created_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
      )
      .bind(delivery.id, number, attempt.statusCode, attempt.error, attempt.durationMs, now),
    db
      .prepare(
        `UPDATE webhook_deliveries SET attempts = attempts + 1, status = ?, completed_at = ?
         WHERE id = ? AND status = 'pending'`,
      )
      .bind(next, next === 'pending' ? null : now, delivery.id),
  ]);
  return number;
}

/** Gives up on a delivery that is still pending (the dead-letter path). */
export async function failDelivery(db: D1Database, id: string): Promise<boolean> {
  const result = await db
    .prepare(
      "UPDATE webhook_deliveries SET status = 'failed', completed_at = ? WHERE id = ? AND status = 'pending'",
    )
    .bind(Date.now(), id)
    .run();
  return result.meta.changes === 1;
}
