// /v1/generations: asynchronous class-conditional generation jobs.
//   POST /              create (202; 201 when finished within `Prefer: wait=N` or served from R2)
//   GET  /              list, newest first, cursor pagination
//   GET  /{id}          one job
//   POST /{id}/cancel   cancel a queued or running job
// Idempotency-Key (draft-ietf-httpapi-idempotency-key-header): the same key with the same body returns
// the same job; with a different body it is refused (422).
import {
  ApiError,
  canonicalJSON,
  checkWebhookUrl,
  ErrorCode,
  fromZodError,
  GenerationRequestSchema,
  generationParamsKey,
  IdempotencyKeySchema,
  JOB_ID_RE,
  LIMITS,
  ListGenerationsQuerySchema,
  newJobId,
  parsePreferWait,
  resolveGenerationParams,
  sha256Hex,
  WEBHOOK_EVENT_TYPES,
} from '@gigatok/shared';
import { type Context, Hono } from 'hono';
import type { AppEnv } from '../env.ts';
import { callBackend } from '../lib/backend.ts';
import { config } from '../lib/config.ts';
import { generationView } from '../lib/generation-view.ts';
import { storedResult } from '../lib/generation-work.ts';
import { withHeaders } from '../lib/http-errors.ts';
import {
  cancelJob,
  countActiveJobs,
  failJob,
  findIdempotencyKey,
  getJob,
  getTenantJob,
  insertJob,
  type Job,
  type JobCursor,
  listTenantJobs,
  TERMINAL,
} from '../lib/jobs.ts';
import { getModel } from '../lib/models.ts';
import { readJson } from '../lib/request-body.ts';
import { emitEvent } from '../lib/webhook-delivery.ts';
import { JSON_BODY_LIMIT, limitBody } from '../middleware/body-limit.ts';
import type { GenerationMessage } from '../queue.ts';

const POLL_MS = 250;

function notFound(id: string): ApiError {
  return new ApiError(ErrorCode.not_found, `no generation '${id}'`);
}

function encodeCursor(cursor: JobCursor): string {
  return btoa(`${cursor.createdAt}.${cursor.id}`).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function decodeCursor(text: string): JobCursor {
  let decoded = '';
  try {
    decoded = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  } catch {
    // falls through to the shape check
  }
  const match = /^(\d{1,15})\.(job_[a-z2-7]{32})$/.exec(decoded);
  if (!match)
    throw new ApiError(ErrorCode.invalid_parameter, "'cursor' is not a cursor this API returned", {
      field: 'cursor',
    });
  return { createdAt: Number(match[1]), id: match[2]! };
}

/** The answer for a job: 201 once it is finished (the result is there), else 202 (still running). */
function jobResponse(c: Context<AppEnv>, job: Job, extra: Record<string, string> = {}): Response {
  const status = TERMINAL.has(job.status) ? 201 : 202;
  return c.json(generationView(job), status, {
    Location: `/v1/generations/${job.id}`,
    'Cache-Control': 'no-store',
    ...extra,
  });
}

async function waitForJob(db: D1Database, job: Job, seconds: number): Promise<Job> {
  const deadline = Date.now() + seconds * 1000;
  let current = job;
  while (!TERMINAL.has(current.status) && Date.now() < deadline) {
    await new Promise((resolve) =>
      setTimeout(resolve, Math.min(POLL_MS, Math.max(deadline - Date.now(), 0))),
    );
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

export const generations = new Hono<AppEnv>()
  .post('/', limitBody(JSON_BODY_LIMIT), async (c) => {
    const { tenantId } = c.get('caller');
    const cfg = config(c.env);
    const raw = await readJson(c.req.raw);
    const parsed = GenerationRequestSchema.safeParse(raw);
    if (!parsed.success) throw fromZodError(parsed.error);
    const request = parsed.data;
    const waitSeconds = parsePreferWait(c.req.header('prefer')) ?? 0;

    const keyHeader = c.req.header('idempotency-key');
    let idempotency: { key: string; requestHash: string } | undefined;
    if (keyHeader !== undefined) {
      const key = IdempotencyKeySchema.safeParse(keyHeader);
      if (!key.success) throw fromZodError(key.error, 'Idempotency-Key');
      idempotency = { key: key.data, requestHash: await sha256Hex(canonicalJSON(raw)) };
      const replayed = await replay(c, idempotency.key, idempotency.requestHash, waitSeconds);
      if (replayed) return replayed;
    }

    const model = request.model ?? cfg.defaultModel;
    const summary = await getModel(c.env, model);
    const webhook = request.webhook
      ? {
          url: checkWebhookUrl(request.webhook.url, {
            allowInsecureLoopback: cfg.allowInsecureWebhooks,
          }).toString(),
          events: [...(request.webhook.events ?? WEBHOOK_EVENT_TYPES)],
        }
      : null;
    const params = resolveGenerationParams(request, summary);
    const paramsKey = await generationParamsKey({ model, ...params });

    const now = Date.now();
    const job: Job = {
      id: newJobId(),
      tenantId,
      status: 'queued',
      model,
      params,
      paramsKey,
      webhook,
      cached: false,
      attempts: 0,
      leaseUntil: null,
      error: null,
      result: null,
      createdAt: now,
      startedAt: null,
      completedAt: null,
    };
    // The same parameters (seed included) ran before: answer from R2 at once, nothing to queue.
    const result = await storedResult(c.env, { tenantId, model, params, paramsKey });
    if (result) {
      Object.assign(job, { status: 'succeeded', cached: true, result, startedAt: now, completedAt: now });
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
      await c.env.GENERATIONS.send({ job_id: job.id } satisfies GenerationMessage, { contentType: 'json' });
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
  })
  .get('/', async (c) => {
    const parsed = ListGenerationsQuerySchema.safeParse(c.req.query());
    if (!parsed.success) throw fromZodError(parsed.error);
    const limit = parsed.data.limit ?? LIMITS.defaultListLimit;
    const after = parsed.data.cursor ? decodeCursor(parsed.data.cursor) : null;
    const page = await listTenantJobs(c.env.DB, c.get('caller').tenantId, limit, after);
    return c.json(
      {
        object: 'list',
        data: page.jobs.map(generationView),
        next_cursor: page.next ? encodeCursor(page.next) : null,
      },
      200,
      { 'Cache-Control': 'no-store' },
    );
  })
  .get('/:id', async (c) => {
    const id = c.req.param('id');
    const job = JOB_ID_RE.test(id) ? await getTenantJob(c.env.DB, c.get('caller').tenantId, id) : null;
    if (!job) throw notFound(id);
    return c.json(generationView(job), 200, { 'Cache-Control': 'no-store' });
  })
  .post('/:id/cancel', async (c) => {
    const id = c.req.param('id');
    const { tenantId } = c.get('caller');
    if (!JOB_ID_RE.test(id)) throw notFound(id);
    const canceled = await cancelJob(c.env.DB, tenantId, id);
    if (!canceled) {
      const job = await getTenantJob(c.env.DB, tenantId, id);
      if (!job) throw notFound(id);
      throw new ApiError(ErrorCode.not_cancelable, `generation '${id}' is already ${job.status}`);
    }
    await emitEvent(c.env, canceled, 'generation.canceled');
    // A claimed job may be running on the backend: ask it to stop (best effort; the consumer's
    // fenced completion discards any late result anyway).
    if (canceled.attempts > 0) {
      c.executionCtx.waitUntil(
        callBackend(c.env, { method: 'POST', path: `/v1/generate/${id}/cancel` }).then(
          (response) => response.body?.cancel(),
          () => undefined,
        ),
      );
    }
    return c.json(generationView(canceled), 200, { 'Cache-Control': 'no-store' });
  });
