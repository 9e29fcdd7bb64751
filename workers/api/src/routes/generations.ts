// /v1/generations: asynchronous class-conditional generation jobs.
//   POST /              create (202; 201 when finished within `Prefer: wait=N` or served from R2)
//   GET  /              list, newest first, cursor pagination
//   GET  /{id}          one job
//   GET  /{id}/events   the job's state changes as Server-Sent Events (lib/generations/events.ts)
//   POST /{id}/cancel   cancel a queued or running job
// Submission (Idempotency-Key, Prefer: wait, answers from R2) is lib/generation-submit.ts, shared with
// POST /v1/variations, whose jobs are generations too.
import {
  ApiError,
  ErrorCode,
  EVENT_STREAM_MEDIA_TYPE,
  fromZodError,
  GenerationListSchema,
  GenerationRequestSchema,
  GenerationSchema,
  JOB_ID_RE,
  JobEventSchema,
  LIMITS,
  ListGenerationsQuerySchema,
  resolveGenerationParams,
} from '@gigatok/shared';
import { Hono } from 'hono';
import type { AppEnv } from '../env.ts';
import { callEveryBackend } from '../lib/backend/client.ts';
import { getModel } from '../lib/backend/models.ts';
import { config } from '../lib/config.ts';
import { EVENT_STREAM_TIMING, jobEventStream, parseLastEventId } from '../lib/generations/events.ts';
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
  lastEventIdHeader,
  problems,
  ref,
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
  .get(
    '/:id/events',
    describe({
      operationId: 'streamGenerationEvents',
      summary: "A generation's state changes as Server-Sent Events",
      description:
        'text/event-stream: the current state, then each later one (queued, running, then succeeded, ' +
        `failed or canceled), \`: keep-alive\` comments every ${EVENT_STREAM_TIMING.heartbeatMs / 1000} s; ` +
        `the stream closes after the final event or after ${EVENT_STREAM_TIMING.maxLifetimeMs / 60_000} ` +
        'minutes. Each event has an `id:`, an `event:` equal to its type and one JSON `data:` line (a ' +
        'JobEvent). Reconnect with Last-Event-ID to receive only later states.',
      parameters: [idParam('job', 'generation'), lastEventIdHeader],
      responses: {
        '200': {
          description: 'The event stream.',
          headers: { 'Cache-Control': { schema: { type: 'string', enum: ['no-store'] } } },
          content: {
            [EVENT_STREAM_MEDIA_TYPE]: {
              schema: { type: 'string', description: 'SSE messages whose data are JobEvent objects.' },
              'x-event-data': ref(JobEventSchema),
            },
          },
        },
        ...problems(400, ...COMMON, 404),
      },
    }),
    async (c) => {
      const id = c.req.param('id');
      const { tenantId } = c.get('caller');
      const lastEventId = parseLastEventId(c.req.header('last-event-id'));
      const job = JOB_ID_RE.test(id) ? await getTenantJob(c.env.DB, tenantId, id) : null;
      if (!job) throw notFound(id);
      return new Response(jobEventStream(c.env.DB, tenantId, job, lastEventId), {
        headers: {
          'Content-Type': EVENT_STREAM_MEDIA_TYPE,
          'Cache-Control': 'no-store',
        },
      });
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
      // A claimed job may be running on a backend: ask every host to stop it (best effort; the consumer's
      // fenced completion discards any late result anyway).
      if (canceled.attempts > 0) {
        c.executionCtx.waitUntil(
          callEveryBackend(c.env, { method: 'POST', path: `/v1/generate/${id}/cancel` }),
        );
      }
      return c.json(generationView(canceled), 200, { 'Cache-Control': 'no-store' });
    },
  );
