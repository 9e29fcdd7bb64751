// Generation jobs and idempotency keys in D1. Every state change is one conditional UPDATE, so a queue
// message delivered twice, a consumer racing a cancel, or a retry racing a stale attempt cannot move a
// job backwards or run it twice: `queued -> running` bumps `attempts`, and only the holder of that
// attempt number (a fencing token) may finish the job. A job of several chunks (backend calls) records
// each finished chunk under the same fence, and the next chunk's claim continues the attempt.
import {
  type Generation,
  type GenerationParams,
  generationParamsKey,
  type JobStatus,
  newJobId,
  type Problem,
} from '@gigatok/shared';
import type { ListCursor } from '../http/cursor.ts';

export interface JobWebhook {
  url: string;
  events: string[];
}

export interface Job {
  id: string;
  tenantId: string;
  status: JobStatus;
  model: string;
  /** Resolved parameters, seed included, exactly as the API reports them. */
  params: GenerationParams;
  paramsKey: string;
  webhook: JobWebhook | null;
  cached: boolean;
  attempts: number;
  leaseUntil: number | null;
  /** Images finished so far (chunks written by `recordChunk`); the image count once succeeded. */
  imagesDone: number;
  /** Token set id of each finished image, images 0..imagesDone-1, while the job runs. */
  doneTokenIds: string[];
  error: Problem | null;
  result: Generation['result'];
  createdAt: number;
  startedAt: number | null;
  completedAt: number | null;
}

interface JobRow {
  id: string;
  tenant_id: string;
  status: JobStatus;
  model: string;
  params: string;
  params_key: string;
  webhook_url: string | null;
  webhook_events: string | null;
  cached: number;
  attempts: number;
  lease_until: number | null;
  images_done: number;
  done_token_ids: string | null;
  error: string | null;
  result: string | null;
  created_at: number;
  started_at: number | null;
  completed_at: number | null;
}

function fromRow(row: JobRow): Job {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    status: row.status,
    model: row.model,
    params: JSON.parse(row.params),
    paramsKey: row.params_key,
    webhook:
      row.webhook_url === null
        ? null
        : { url: row.webhook_url, events: JSON.parse(row.webhook_events ?? '[]') as string[] },
    cached: row.cached === 1,
    attempts: row.attempts,
    leaseUntil: row.lease_until,
    imagesDone: row.images_done,
    doneTokenIds: row.done_token_ids === null ? [] : (JSON.parse(row.done_token_ids) as string[]),
    error: row.error === null ? null : (JSON.parse(row.error) as Problem),
    result: row.result === null ? null : JSON.parse(row.result),
    createdAt: row.created_at,
    startedAt: row.started_at,
    completedAt: row.completed_at,
  };
}

/** A job as POST /v1/generations first records it: queued, unclaimed, nothing done. */
export async function newQueuedJob(
  tenantId: string,
  model: string,
  params: GenerationParams,
  webhook: JobWebhook | null,
  now = Date.now(),
): Promise<Job> {
  return {
    id: newJobId(),
    tenantId,
    status: 'queued',
    model,
    params,
    paramsKey: await generationParamsKey({ model, ...params }),
    webhook,
    cached: false,
    attempts: 0,
    leaseUntil: null,
    imagesDone: 0,
    doneTokenIds: [],
    error: null,
    result: null,
    createdAt: now,
    startedAt: null,
    completedAt: null,
  };
}

export interface IdempotencyClaim {
  key: string;
  requestHash: string;
}

/**
 * Inserts a job, and its idempotency key when given, in one transaction (a D1 batch). A concurrent
 * request with the same key makes the batch fail on the key's primary key and nothing is written;
 * the caller then reads the winner's job with `findIdempotencyKey`.
 */
export async function insertJob(db: D1Database, job: Job, idempotency?: IdempotencyClaim): Promise<void> {
  const statements = [
    db
      .prepare(
        `INSERT INTO jobs (id, tenant_id, status, model, params, params_key, webhook_url, webhook_events,
           cached, attempts, images_done, error, result, created_at, started_at, completed_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .bind(
        job.id,
        job.tenantId,
        job.status,
        job.model,
        JSON.stringify(job.params),
        job.paramsKey,
        job.webhook?.url ?? null,
        job.webhook ? JSON.stringify(job.webhook.events) : null,
        job.cached ? 1 : 0,
        job.attempts,
        job.imagesDone,
        job.error ? JSON.stringify(job.error) : null,
        job.result ? JSON.stringify(job.result) : null,
        job.createdAt,
        job.startedAt,
        job.completedAt,
      ),
  ];
  if (idempotency) {
    statements.push(
      db
        .prepare(
          'INSERT INTO idempotency_keys (tenant_id, key, request_hash, job_id, created_at) VALUES (?, ?, ?, ?, ?)',
        )
        .bind(job.tenantId, idempotency.key, idempotency.requestHash, job.id, job.createdAt),
    );
  }
  await db.batch(statements);
}

export async function findIdempotencyKey(
  db: D1Database,
  tenantId: string,
  key: string,
): Promise<{ requestHash: string; jobId: string } | null> {
  const row = await db
    .prepare('SELECT request_hash, job_id FROM idempotency_keys WHERE tenant_id = ? AND key = ?')
    .bind(tenantId, key)
    .first<{ request_hash: string; job_id: string }>();
  return row ? { requestHash: row.request_hash, jobId: row.job_id } : null;
}

export async function getJob(db: D1Database, jobId: string): Promise<Job | null> {
  const row = await db.prepare('SELECT * FROM jobs WHERE id = ?').bind(jobId).first<JobRow>();
  return row ? fromRow(row) : null;
}

/** A job only if `tenantId` owns it: another tenant's job id reads as absent. */
export async function getTenantJob(db: D1Database, tenantId: string, jobId: string): Promise<Job | null> {
  const row = await db
    .prepare('SELECT * FROM jobs WHERE id = ? AND tenant_id = ?')
    .bind(jobId, tenantId)
    .first<JobRow>();
  return row ? fromRow(row) : null;
}

/** Newest first; keyset pagination on (created_at, id) so pages stay stable while jobs are added. */
export async function listTenantJobs(
  db: D1Database,
  tenantId: string,
  limit: number,
  after: ListCursor | null,
): Promise<{ jobs: Job[]; next: ListCursor | null }> {
  const query = after
    ? db
        .prepare(
          `SELECT * FROM jobs WHERE tenant_id = ? AND (created_at < ? OR (created_at = ? AND id < ?))
           ORDER BY created_at DESC, id DESC LIMIT ?`,
        )
        .bind(tenantId, after.createdAt, after.createdAt, after.id, limit + 1)
    : db
        .prepare('SELECT * FROM jobs WHERE tenant_id = ? ORDER BY created_at DESC, id DESC LIMIT ?')
        .bind(tenantId, limit + 1);
  const { results } = await query.all<JobRow>();
  const jobs = results.slice(0, limit).map(fromRow);
  const last = jobs[jobs.length - 1];
  return { jobs, next: results.length > limit && last ? { createdAt: last.createdAt, id: last.id } : null };
}

export async function countActiveJobs(db: D1Database, tenantId: string): Promise<number> {
  const row = await db
    .prepare("SELECT COUNT(*) AS n FROM jobs WHERE tenant_id = ? AND status IN ('queued', 'running')")
    .bind(tenantId)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

/**
 * Takes the chunk of a job that starts at image `from` (0 for a new job): `queued -> running` as a
 * new attempt, or a `running` job whose lease ran out (its consumer died) as a new attempt, or a
 * `running` job whose previous chunk finished (`recordChunk` left it without a lease) under the same
 * attempt. Only a job whose finished images are exactly `from` is taken, so a chunk runs once.
 * Returns the claimed job, or null when someone else holds it, the chunk is done, or the job finished.
 */
export async function claimJob(
  db: D1Database,
  jobId: string,
  leaseMs: number,
  now = Date.now(),
  from = 0,
): Promise<Job | null> {
  const row = await db
    .prepare(
      `UPDATE jobs SET status = 'running', lease_until = ?1 + ?2, started_at = COALESCE(started_at, ?1),
         attempts = CASE WHEN status = 'running' AND lease_until IS NULL THEN attempts ELSE attempts + 1 END
       WHERE id = ?3 AND images_done = ?4
         AND (status = 'queued' OR (status = 'running' AND (lease_until IS NULL OR lease_until < ?1)))
       RETURNING *`,
    )
    .bind(now, leaseMs, jobId, from)
    .first<JobRow>();
  return row ? fromRow(row) : null;
}

/**
 * Records the chunk [from, to) of a running job as finished, its token set ids appended, and leaves the
 * job running without a lease for the next chunk's claim. Fenced like `completeJob`: false when the
 * job was canceled or taken over meanwhile, and the chunk then counts for nothing.
 */
export async function recordChunk(
  db: D1Database,
  jobId: string,
  attempt: number,
  from: number,
  doneTokenIds: readonly string[],
  now = Date.now(),
): Promise<Job | null> {
  const row = await db
    .prepare(
      `UPDATE jobs SET images_done = ?, done_token_ids = ?, lease_until = NULL, chunk_recorded_at = ?
       WHERE id = ? AND status = 'running' AND attempts = ? AND images_done = ?
       RETURNING *`,
    )
    .bind(doneTokenIds.length, JSON.stringify(doneTokenIds), now, jobId, attempt, from)
    .first<JobRow>();
  return row ? fromRow(row) : null;
}

/** Hands a claimed job back to the queue (the backend was unavailable); only the claim holder may. */
export async function releaseJob(db: D1Database, jobId: string, attempt: number): Promise<boolean> {
  const result = await db
    .prepare(
      `UPDATE jobs SET status = 'queued', lease_until = NULL
       WHERE id = ? AND status = 'running' AND attempts = ?`,
    )
    .bind(jobId, attempt)
    .run();
  return result.meta.changes === 1;
}

/** `running -> succeeded` for the holder of `attempt`; false when canceled or taken over meanwhile. */
export async function completeJob(
  db: D1Database,
  jobId: string,
  attempt: number,
  result: NonNullable<Generation['result']>,
  cached: boolean,
  now = Date.now(),
): Promise<Job | null> {
  const row = await db
    .prepare(
      `UPDATE jobs SET status = 'succeeded', result = ?, cached = ?, completed_at = ?, lease_until = NULL,
         images_done = ?, done_token_ids = NULL
       WHERE id = ? AND status = 'running' AND attempts = ?
       RETURNING *`,
    )
    .bind(JSON.stringify(result), cached ? 1 : 0, now, result.images.length, jobId, attempt)
    .first<JobRow>();
  return row ? fromRow(row) : null;
}

/**
 * Marks a job failed. With `attempt`, only the claim holder may (a consumer that hit a permanent
 * error); without, any unfinished job is failed (the dead-letter consumer, after the last retry).
 */
export async function failJob(
  db: D1Database,
  jobId: string,
  error: Problem,
  attempt?: number,
  now = Date.now(),
): Promise<Job | null> {
  const fenced = attempt !== undefined;
  const row = await db
    .prepare(
      `UPDATE jobs SET status = 'failed', error = ?, completed_at = ?, lease_until = NULL
       WHERE id = ? AND ${fenced ? "status = 'running' AND attempts = ?" : "status IN ('queued', 'running')"}
       RETURNING *`,
    )
    .bind(...[JSON.stringify(error), now, jobId, ...(fenced ? [attempt] : [])])
    .first<JobRow>();
  return row ? fromRow(row) : null;
}

/** `queued|running -> canceled` for the owning tenant; null when the job is absent or finished. */
export async function cancelJob(
  db: D1Database,
  tenantId: string,
  jobId: string,
  now = Date.now(),
): Promise<Job | null> {
  const row = await db
    .prepare(
      `UPDATE jobs SET status = 'canceled', completed_at = ?, lease_until = NULL
       WHERE id = ? AND tenant_id = ? AND status IN ('queued', 'running')
       RETURNING *`,
    )
    .bind(now, jobId, tenantId)
    .first<JobRow>();
  return row ? fromRow(row) : null;
}

/**
 * Jobs queued for longer than `olderThanMs` and never claimed: their queue message was most likely lost
 * (the Worker died between the D1 insert and the send). Re-sending is safe: claims are conditional.
 */
export async function unclaimedJobs(
  db: D1Database,
  olderThanMs: number,
  limit: number,
  now = Date.now(),
): Promise<string[]> {
  const { results } = await db
    .prepare(
      `SELECT id FROM jobs WHERE status = 'queued' AND attempts = 0 AND created_at < ?
       ORDER BY created_at LIMIT ?`,
    )
    .bind(now - olderThanMs, limit)
    .all<{ id: string }>();
  return results.map((row) => row.id);
}

/**
 * Running jobs that sat between two chunks for longer than `olderThanMs`: their next chunk's message
 * was most likely lost. Re-sending it is safe: the claim takes a chunk only once.
 */
export async function stalledChunks(
  db: D1Database,
  olderThanMs: number,
  limit: number,
  now = Date.now(),
): Promise<{ id: string; imagesDone: number }[]> {
  const { results } = await db
    .prepare(
      `SELECT id, images_done FROM jobs
       WHERE status = 'running' AND lease_until IS NULL AND chunk_recorded_at < ?
       ORDER BY chunk_recorded_at LIMIT ?`,
    )
    .bind(now - olderThanMs, limit)
    .all<{ id: string; images_done: number }>();
  return results.map((row) => ({ id: row.id, imagesDone: row.images_done }));
}
