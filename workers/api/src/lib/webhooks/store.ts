// Webhook deliveries and their attempts in D1. A delivery is one event of one generation job or of one
// dataset run (unique per job and event type, per dataset, run_seq and event type, so a consumer that
// runs twice enqueues it once); every HTTP attempt is recorded, those of the retry schedule and manual
// redeliveries alike.
import type { ListCursor } from '../http/cursor.ts';

export type DeliveryStatus = 'pending' | 'succeeded' | 'failed';

/** What a delivery is an event of: a generation job, or one run (run_seq) of a dataset. */
export type DeliverySubject = { jobId: string } | { datasetId: string; runSeq: number };

export interface Delivery {
  id: string;
  tenantId: string;
  jobId: string | null;
  datasetId: string | null;
  eventType: string;
  url: string;
  payload: string;
  status: DeliveryStatus;
  /** Attempts of the retry schedule (manual redeliveries are not counted). */
  attempts: number;
  createdAt: number;
  completedAt: number | null;
  nextAttemptAt: number | null;
}

interface DeliveryRow {
  id: string;
  tenant_id: string;
  job_id: string | null;
  dataset_id: string | null;
  event_type: string;
  url: string;
  payload: string;
  status: DeliveryStatus;
  attempts: number;
  created_at: number;
  completed_at: number | null;
  next_attempt_at: number | null;
}

function fromRow(row: DeliveryRow): Delivery {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    jobId: row.job_id,
    datasetId: row.dataset_id,
    eventType: row.event_type,
    url: row.url,
    payload: row.payload,
    status: row.status,
    attempts: row.attempts,
    createdAt: row.created_at,
    completedAt: row.completed_at,
    nextAttemptAt: row.next_attempt_at,
  };
}

/** Inserts a delivery; false when its job, or its dataset run, already has one for this event type. */
export async function insertDelivery(
  db: D1Database,
  delivery: Pick<Delivery, 'id' | 'tenantId' | 'eventType' | 'url' | 'payload'> & DeliverySubject,
): Promise<boolean> {
  const dataset = 'datasetId' in delivery ? delivery : null;
  // Enqueued right after the insert: its first attempt is due now.
  const result = await db
    .prepare(
      `INSERT INTO webhook_deliveries (id, tenant_id, job_id, dataset_id, run_seq, event_type, url, payload,
         status, attempts, created_at, next_attempt_at)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', 0, ?9, ?9) ON CONFLICT DO NOTHING`,
    )
    .bind(
      delivery.id,
      delivery.tenantId,
      'jobId' in delivery ? delivery.jobId : null,
      dataset?.datasetId ?? null,
      dataset?.runSeq ?? null,
      delivery.eventType,
      delivery.url,
      delivery.payload,
      Date.now(),
    )
    .run();
  return result.meta.changes === 1;
}

export async function getDelivery(db: D1Database, id: string): Promise<Delivery | null> {
  const row = await db.prepare('SELECT * FROM webhook_deliveries WHERE id = ?').bind(id).first<DeliveryRow>();
  return row ? fromRow(row) : null;
}

/** A delivery of `tenantId`; another tenant's id reads as absent. */
export async function getTenantDelivery(
  db: D1Database,
  tenantId: string,
  id: string,
): Promise<Delivery | null> {
  const row = await db
    .prepare('SELECT * FROM webhook_deliveries WHERE id = ? AND tenant_id = ?')
    .bind(id, tenantId)
    .first<DeliveryRow>();
  return row ? fromRow(row) : null;
}

export interface DeliveryFilter {
  jobId?: string | undefined;
  datasetId?: string | undefined;
  eventType?: string | undefined;
  status?: DeliveryStatus | undefined;
}

/** Newest first; keyset pagination on (created_at, id), as the generations list. */
export async function listTenantDeliveries(
  db: D1Database,
  tenantId: string,
  filter: DeliveryFilter,
  limit: number,
  after: ListCursor | null,
): Promise<{ deliveries: Delivery[]; next: ListCursor | null }> {
  const where = ['tenant_id = ?'];
  const binds: (string | number)[] = [tenantId];
  if (filter.jobId !== undefined) {
    where.push('job_id = ?');
    binds.push(filter.jobId);
  }
  if (filter.datasetId !== undefined) {
    where.push('dataset_id = ?');
    binds.push(filter.datasetId);
  }
  if (filter.eventType !== undefined) {
    where.push('event_type = ?');
    binds.push(filter.eventType);
  }
  if (filter.status !== undefined) {
    where.push('status = ?');
    binds.push(filter.status);
  }
  if (after) {
    where.push('(created_at < ? OR (created_at = ? AND id < ?))');
    binds.push(after.createdAt, after.createdAt, after.id);
  }
  const { results } = await db
    .prepare(
      `SELECT * FROM webhook_deliveries WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT ?`,
    )
    .bind(...binds, limit + 1)
    .all<DeliveryRow>();
  const deliveries = results.slice(0, limit).map(fromRow);
  const last = deliveries[deliveries.length - 1];
  return {
    deliveries,
    next: results.length > limit && last ? { createdAt: last.createdAt, id: last.id } : null,
  };
}

export interface StoredAttempt {
  deliveryId: string;
  manual: boolean;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
  createdAt: number;
}

/** D1 binds at most 100 parameters per statement. */
const IDS_PER_QUERY = 90;

interface AttemptRow {
  delivery_id: string;
  manual: number;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
  created_at: number;
}

/** The attempts of `deliveryIds`, oldest first within each delivery. */
export async function attemptsOf(db: D1Database, deliveryIds: readonly string[]): Promise<StoredAttempt[]> {
  const out: StoredAttempt[] = [];
  for (let i = 0; i < deliveryIds.length; i += IDS_PER_QUERY) {
    const ids = deliveryIds.slice(i, i + IDS_PER_QUERY);
    const { results } = await db
      .prepare(
        `SELECT delivery_id, manual, status_code, error, duration_ms, created_at FROM webhook_attempts
         WHERE delivery_id IN (${ids.map(() => '?').join(', ')}) ORDER BY id`,
      )
      .bind(...ids)
      .all<AttemptRow>();
    for (const row of results) {
      out.push({
        deliveryId: row.delivery_id,
        manual: row.manual === 1,
        statusCode: row.status_code,
        error: row.error,
        durationMs: row.duration_ms,
        createdAt: row.created_at,
      });
    }
  }
  return out;
}

export interface AttemptRecord {
  statusCode: number | null;
  error: string | null;
  durationMs: number;
  /** When the attempt started (ms). */
  startedAt: number;
}

/**
 * Records one attempt of the retry schedule and moves the delivery to `next` (still pending,
 * succeeded or failed) in one transaction; `nextAttemptAt` (ms) is when the queue retries a pending
 * one. Returns the attempt number.
 */
export async function recordAttempt(
  db: D1Database,
  delivery: Delivery,
  attempt: AttemptRecord,
  next: DeliveryStatus,
  nextAttemptAt: number | null = null,
): Promise<number> {
  const now = Date.now();
  const number = delivery.attempts + 1;
  await db.batch([
    db
      .prepare(
        `INSERT INTO webhook_attempts (delivery_id, attempt, status_code, error, duration_ms, created_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
      )
      .bind(delivery.id, number, attempt.statusCode, attempt.error, attempt.durationMs, attempt.startedAt),
    db
      .prepare(
        `UPDATE webhook_deliveries SET attempts = attempts + 1, status = ?, completed_at = ?, next_attempt_at = ?
         WHERE id = ? AND status = 'pending'`,
      )
      .bind(next, next === 'pending' ? null : now, next === 'pending' ? nextAttemptAt : null, delivery.id),
  ]);
  return number;
}

/**
 * Records a manual attempt (a redelivery). One that succeeded marks the delivery succeeded (a queued
 * retry of it then stops); one that failed leaves the status as it was, so a pending delivery keeps
 * its retry schedule and a failed one stays failed.
 */
export async function recordManualAttempt(
  db: D1Database,
  delivery: Delivery,
  attempt: AttemptRecord,
  succeeded: boolean,
): Promise<void> {
  const now = Date.now();
  const statements = [
    db
      .prepare(
        `INSERT INTO webhook_attempts (delivery_id, attempt, manual, status_code, error, duration_ms, created_at)
         VALUES (?1, (SELECT COUNT(*) + 1 FROM webhook_attempts WHERE delivery_id = ?1 AND manual = 1), 1, ?2, ?3, ?4, ?5)`,
      )
      .bind(delivery.id, attempt.statusCode, attempt.error, attempt.durationMs, attempt.startedAt),
  ];
  if (succeeded) {
    statements.push(
      db
        .prepare(
          `UPDATE webhook_deliveries SET status = 'succeeded', completed_at = ?, next_attempt_at = NULL
           WHERE id = ? AND status != 'succeeded'`,
        )
        .bind(now, delivery.id),
    );
  }
  await db.batch(statements);
}

/** Gives up on a delivery that is still pending (the dead-letter path). */
export async function failDelivery(db: D1Database, id: string): Promise<boolean> {
  const result = await db
    .prepare(
      "UPDATE webhook_deliveries SET status = 'failed', completed_at = ?, next_attempt_at = NULL WHERE id = ? AND status = 'pending'",
    )
    .bind(Date.now(), id)
    .run();
  return result.meta.changes === 1;
}

/**
 * Pending deliveries whose next attempt was due before `dueBefore` (ms): their queue message was
 * lost, e.g. the send after the insert failed. Their next attempt is moved to `now` in the same
 * statement, so a later sweep does not pick them again before the message sent now is consumed.
 */
export async function reclaimOverdueDeliveries(
  db: D1Database,
  dueBefore: number,
  limit: number,
  now = Date.now(),
): Promise<string[]> {
  const { results } = await db
    .prepare(
      `UPDATE webhook_deliveries SET next_attempt_at = ?1
       WHERE id IN (SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at < ?2
                    ORDER BY next_attempt_at LIMIT ?3)
       RETURNING id`,
    )
    .bind(now, dueBefore, limit)
    .all<{ id: string }>();
  return results.map((row) => row.id);
}
