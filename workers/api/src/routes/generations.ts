// /v1/generations: asynchronous class-conditional generation jobs.
//   POST /              create (202; 201 when finished within `Prefer: wait=N` or served from R2)
//   GET  /              list, newest first, cursor pagination
//   GET  /{id}          one job
//   POST /{id}/cancel   cancel a queued or running job
// Submission (Idempotency-Key, Prefer: wait, answers from R2) is lib/generation-submit.ts, shared with
// POST /v1/variations, whose jobs are generations too.
import {
  ApiError,
  ErrorCode,
  fromZodError,
  GenerationListSchema,
  GenerationRequestSchema,
  GenerationSchema,
  JOB_ID_RE,
  LIMITS,
  ListGenerationsQuerySchema,
  resolveGenerationParams,
} from '@gigatok/shared';
import { Hono } from 'hono';
import type { AppEnv } from '../env.ts';
import { callBackend } from '../lib/backend/client.ts';
import { getModel } from '../lib/backend/models.ts';
import { config } from '../lib/config.ts';
import { cancelJob, getTenantJob, listTenantJobs } from '../lib/generations/jobs.ts';
import { submitGeneration } from '../lib/generations/producer.ts';
import { generationView } from '../lib/generations/view.ts';
import { decodeCursor, encodeCursor } from '../lib/http/cursor.ts';
import { readJson } from '../lib/http/request-body.ts';
import {
  COMMON,
  describe,
  generationJobResponses,
  idParam,
  jobHeaders,
  json,
  jsonBody,
  problems,
} from '../lib/openapi/describe.ts';
import { emitEvent } from '../lib/webhooks/delivery.ts';
import { JSON_BODY_LIMIT, limitBody } from '../middleware/body-limit.ts';

function notFound(id: string): ApiError {
  return new ApiError(ErrorCode.not_found, `no generation '${id}'`);
}

export const generations = new Hono<AppEnv>()
  .post(
    '/',
    describe({
      operationId: 'createGeneration',
      summary: 'Start a generation',
      parameters: jobHeaders,
      requestBody: jsonBody(GenerationRequestSchema),
      responses: {
        ...generationJobResponses(GenerationSchema),
        ...problems(400, ...COMMON, 413, 415, 422, 503),
      },
    }),
    limitBody(JSON_BODY_LIMIT),
    async (c) => {
      const raw = await readJson(c.req.raw);
      const parsed = GenerationRequestSchema.safeParse(raw);
      if (!parsed.success) throw fromZodError(parsed.error);
      const request = parsed.data;
      return submitGeneration(c, raw, request.webhook, async () => {
        const model = request.model ?? config(c.env).defaultModel;
        const summary = await getModel(c.env, model);
        return { model, params: resolveGenerationParams(request, summary) };
      });
    },
  )
  .get(
    '/',
    describe({
      operationId: 'listGenerations',
      summary: 'List generations, newest first',
      parameters: [
        {
          name: 'limit',
          in: 'query',
          required: false,
          schema: { type: 'integer', minimum: 1, maximum: LIMITS.maxListLimit },
        },
        {
          name: 'cursor',
          in: 'query',
          required: false,
          schema: { type: 'string', maxLength: LIMITS.maxCursorLength },
        },
      ],
      responses: { '200': json('A page of generations.', GenerationListSchema), ...problems(400, ...COMMON) },
    }),
    async (c) => {
      const parsed = ListGenerationsQuerySchema.safeParse(c.req.query());
      if (!parsed.success) throw fromZodError(parsed.error);
      const limit = parsed.data.limit ?? LIMITS.defaultListLimit;
      const after = parsed.data.cursor ? decodeCursor(parsed.data.cursor, JOB_ID_RE) : null;
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
    },
  )
  .get(
    '/:id',
    describe({
      operationId: 'getGeneration',
      summary: 'A generation',
      parameters: [idParam('job', 'generation')],
      responses: { '200': json('The generation.', GenerationSchema), ...problems(...COMMON, 404) },
    }),
    async (c) => {
      const id = c.req.param('id');
      const job = JOB_ID_RE.test(id) ? await getTenantJob(c.env.DB, c.get('caller').tenantId, id) : null;
      if (!job) throw notFound(id);
      return c.json(generationView(job), 200, { 'Cache-Control': 'no-store' });
    },
  )
  .post(
    '/:id/cancel',
    describe({
      operationId: 'cancelGeneration',
      summary: 'Cancel a queued or running generation',
      parameters: [idParam('job', 'generation')],
      responses: { '200': json('Canceled.', GenerationSchema), ...problems(...COMMON, 404, 409) },
    }),
    async (c) => {
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
    },
  );
