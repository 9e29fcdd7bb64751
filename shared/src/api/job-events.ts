// GET /v1/generations/{id}/events: the payloads of the job's Server-Sent Events (WHATWG HTML
// "Server-sent events"). Each event's `event:` field is its `type`, its `data:` one JSON object below;
// the Worker builds them with these schemas and the client validates what it reads with the same ones.
import { z } from 'zod';
import { LIMITS } from '../limits.ts';
import { GenerationSchema, JobIdSchema, ProblemSchema } from './public.ts';

/** The media type of the stream. */
export const EVENT_STREAM_MEDIA_TYPE = 'text/event-stream';

const isoTime = z.iso.datetime();

export const JobQueuedEventSchema = z
  .strictObject({
    type: z.literal('queued'),
    id: JobIdSchema,
    /** Attempts already made: more than 0 when a claimed job was handed back to the queue. */
    attempts: z.number().int().min(0),
    created_at: isoTime,
  })
  .meta({ id: 'JobQueuedEvent', description: 'The job waits in the queue.' });

export const JobRunningEventSchema = z
  .strictObject({
    type: z.literal('running'),
    id: JobIdSchema,
    /** Which attempt runs (1 for the first). */
    attempt: z.number().int().min(1),
    started_at: isoTime,
    /** How many images the job makes. */
    images: z.number().int().min(1),
  })
  .meta({ id: 'JobRunningEvent', description: 'An attempt of the job runs on the GPU backend.' });

export const JobProgressEventSchema = z
  .strictObject({
    type: z.literal('progress'),
    id: JobIdSchema,
    /** Images finished and stored so far (a long job runs as several backend calls). */
    images_done: z.number().int().min(1).max(LIMITS.maxCount),
    images_total: z.number().int().min(1).max(LIMITS.maxCount),
  })
  .meta({
    id: 'JobProgressEvent',
    description: 'A running job finished part of its images; sent after each backend call but the last.',
  });

export const JobSucceededEventSchema = z
  .strictObject({ type: z.literal('succeeded'), id: JobIdSchema, generation: GenerationSchema })
  .meta({
    id: 'JobSucceededEvent',
    description: 'The job finished; `generation` as GET /v1/generations/{id}.',
  });

export const JobFailedEventSchema = z
  .strictObject({
    type: z.literal('failed'),
    id: JobIdSchema,
    error: ProblemSchema,
    generation: GenerationSchema,
  })
  .meta({ id: 'JobFailedEvent', description: 'The job failed; `error` is the problem.' });

export const JobCanceledEventSchema = z
  .strictObject({ type: z.literal('canceled'), id: JobIdSchema, generation: GenerationSchema })
  .meta({ id: 'JobCanceledEvent', description: 'The job was canceled.' });

export const JobEventSchema = z
  .discriminatedUnion('type', [
    JobQueuedEventSchema,
    JobRunningEventSchema,
    JobProgressEventSchema,
    JobSucceededEventSchema,
    JobFailedEventSchema,
    JobCanceledEventSchema,
  ])
  .meta({
    id: 'JobEvent',
    description:
      'The data of one event of GET /v1/generations/{id}/events; the SSE `event:` field equals `type`.',
  });
export type JobEvent = z.infer<typeof JobEventSchema>;
/** A job status, or `progress`: `isTerminalJobStatus(event.type)` says "the last one". */
export type JobEventType = JobEvent['type'];
