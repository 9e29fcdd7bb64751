// Submitting a generation job, shared by POST /v1/generations and POST /v1/variations: Idempotency-Key
// (draft-ietf-httpapi-idempotency-key-header: an sf-string, `"abc"`, or the bare `abc`, one key either
// way; the same key with the same body returns the same job, with a different body 422), the answer from R2 when the same parameters ran before, the per-tenant queue
// bound, the queue message, and `Prefer: wait=N` (RFC 7240): 201 once finished, else 202.
import {
  ApiError,
  canonicalJSON,
  ErrorCode,
  GENERATION_EVENT_TYPES,
  type GenerationEventType,
  type GenerationParams,
  isTerminalJobStatus,
  parseIdempotencyKey,
  parsePreferWait,
  sha256Hex,
} from '@gigatok/shared';
import type { Context } from 'hono';
import type { AppEnv } from '../../env.ts';
import { config } from '../config.ts';
import { withHeaders } from '../http/http-errors.ts';
import { emitEvent } from '../webhooks/delivery.ts';
import { acceptWebhook } from '../webhooks/subscription.ts';
import {
  countActiveJobs,
  failJob,
  findIdempotencyKey,
  getJob,
  getTenantJob,
  insertJob,
  type Job,
  newQueuedJob,
} from './jobs.ts';
import { PollSchedule } from './poll-schedule.ts';
import { enqueueGenerations } from './queue-message.ts';
import { generationView } from './view.ts';
import { cachedResult } from './work.ts';

/** The answer for a job: 201 once it is finished (the result is there), else 202 (still running). */
function jobResponse(c: Context<AppEnv>, job: Job, extra: Record<string, string> = {}): Response {
  const status = isTerminalJobStatus(job.status) ? 201 : 202;
  return c.json(generationView(job), status, {
    Location: `/v1/generations/${job.id}`,
    'Cache-Control': 'no-store',
    ...extra,
  });
}

/** Reads the job on the shared poll schedule until it is finished or `seconds` have passed. */
async function waitForJob(db: D1Database, job: Job, seconds: number): Promise<Job> {
  const deadline = Date.now() + seconds * 1000;
  const schedule = new PollSchedule();
  let current = job;
  while (!isTerminalJobStatus(current.status) && Date.now() < deadline) {
    const delay = Math.min(schedule.next(), Math.max(deadline - Date.now(), 0));
    await new Promise((resolve) => setTimeout(resolve, delay));
    current = (await getJob(db, job.id)) ?? current;
  }
  return current;
}

/** Same key, same request: replay the job. Same key, other request: 422. */
async function replay(
  c: Context<AppEnv>,
  key: string,
  requestHash: string,
  waitSeconds: number,
): Promise<Response | null> {
  const { tenantId } = c.get('caller');
  const existing = await findIdempotencyKey(c.env.DB, tenantId, key);
  if (!existing) return null;
  if (existing.requestHash !== requestHash) {
    throw new ApiError(
      ErrorCode.idempotency_key_reused,
      'this Idempotency-Key was used with a different request body; use a new key for a new request',
    );
  }
  const job = await getTenantJob(c.env.DB, tenantId, existing.jobId);
  if (!job) throw new Error(`idempotency key points to a missing job ${existing.jobId}`);
  const waited = waitSeconds > 0 ? await waitForJob(c.env.DB, job, waitSeconds) : job;
  return jobResponse(c, waited, { 'Idempotent-Replayed': 'true' });
}

/** What a route resolves a validated request to: the model and the parameters (seed fixed). */
export interface GenerationPlan {
  model: string;
  params: GenerationParams;
}

/**
 * Creates (or replays) the generation job for the request body `raw`. `plan` runs only when the
 * Idempotency-Key does not replay a job and the webhook URL is acceptable, so neither a replay nor a
 * refused request repeats its work (a variation's tokenize).
 */
export async function submitGeneration(
  c: Context<AppEnv>,
  raw: unknown,
  subscription: { url: string; events?: readonly GenerationEventType[] | undefined } | undefined,
  plan: () => Promise<GenerationPlan>,
): Promise<Response> {
  const { tenantId } = c.get('caller');
  const cfg = config(c.env);
  const waitSeconds = parsePreferWait(c.req.header('prefer')) ?? 0;

  let idempotency: { key: string; requestHash: string } | undefined;
  const key = parseIdempotencyKey(c.req.header('idempotency-key'));
  if (key !== undefined) {
    idempotency = { key, requestHash: await sha256Hex(canonicalJSON(raw)) };
    const replayed = await replay(c, idempotency.key, idempotency.requestHash, waitSeconds);
    if (replayed) return replayed;
  }

  const webhook = acceptWebhook(c.env, subscription, GENERATION_EVENT_TYPES);
  const { model, params } = await plan();
  const now = Date.now();
  const job = await newQueuedJob(tenantId, model, params, webhook, now);
  // The same parameters (seed included) ran before: answer from R2 at once, nothing to queue.
  const result = await cachedResult(c.env, { tenantId, model, params, paramsKey: job.paramsKey });
  if (result) {
    Object.assign(job, {
      status: 'succeeded',
      cached: true,
      result,
      imagesDone: result.images.length,
      startedAt: now,
      completedAt: now,
    });
  } else if ((await countActiveJobs(c.env.DB, tenantId)) >= cfg.maxQueuedJobsPerTenant) {
    throw withHeaders(
      new ApiError(
        ErrorCode.queue_full,
        `this tenant already has ${cfg.maxQueuedJobsPerTenant} generations queued or running; retry when some finish`,
        { limit: cfg.maxQueuedJobsPerTenant },
      ),
      { 'Retry-After': '10' },
    );
  }

  try {
    await insertJob(c.env.DB, job, idempotency);
  } catch (error) {
    // A concurrent request with the same key won the insert: answer as its replay.
    if (idempotency && /UNIQUE|constraint/i.test(String(error))) {
      const replayed = await replay(c, idempotency.key, idempotency.requestHash, waitSeconds);
      if (replayed) return replayed;
    }
    throw error;
  }

  if (job.status === 'succeeded') {
    await emitEvent(c.env, job, 'generation.completed');
    return jobResponse(c, job);
  }
  try {
    await enqueueGenerations(c.env.GENERATIONS, [job.id]);
  } catch (cause) {
    // Not queued means never run: fail it now rather than leave it queued forever.
    await failJob(
      c.env.DB,
      job.id,
      new ApiError(ErrorCode.internal, 'the job could not be queued').toProblem(),
    );
    throw withHeaders(
      new ApiError(ErrorCode.backend_unavailable, 'the generation queue is unavailable; retry later', {
        cause,
      }),
      { 'Retry-After': '5' },
    );
  }
  const current = waitSeconds > 0 ? await waitForJob(c.env.DB, job, waitSeconds) : job;
  return jobResponse(c, current, waitSeconds > 0 ? { 'Preference-Applied': `wait=${waitSeconds}` } : {});
}
