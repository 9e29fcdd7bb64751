// GET /v1/generations/{id}/events: a job's state changes as Server-Sent Events (WHATWG HTML, "Server-sent
// events"). The stream reads the job row from D1 on the shared poll schedule (fast after a change, every
// 3 s once idle), sends an event whenever the job reached a later state, a comment line as heartbeat,
// and closes after the final event or when its lifetime is up (the client then reconnects with
// Last-Event-ID). docs/architecture.md explains why polling rather than a Durable Object.
import { ApiError, ErrorCode, isTerminalJobStatus, type JobEvent, LIMITS } from '@gigatok/shared';
import { getTenantJob, type Job } from './jobs.ts';
import { PollSchedule } from './poll-schedule.ts';
import { generationView } from './view.ts';

export interface EventStreamTiming {
  /** A `: keep-alive` comment this often, so idle proxies and load balancers keep the connection. */
  heartbeatMs: number;
  /** The stream closes after this long; the client reconnects with Last-Event-ID. */
  maxLifetimeMs: number;
  /** The reconnection delay the stream asks clients for (the SSE `retry:` field). */
  retryMs: number;
}

export const EVENT_STREAM_TIMING: EventStreamTiming = {
  heartbeatMs: 15_000,
  maxLifetimeMs: 5 * 60_000,
  retryMs: 1000,
};

/** Event ids of one state leave room for a progress event per finished image below the next state. */
const IDS_PER_STATE = 32;
if (LIMITS.maxCount >= IDS_PER_STATE) throw new Error('IDS_PER_STATE must exceed LIMITS.maxCount');

/**
 * The event id of the job's current state, a number that grows along every path a job can take, so a
 * reconnecting client's Last-Event-ID says exactly which states it has seen. With `a` the attempts
 * made, a state's rank is: queued 2a, running 2a - 1 (a claim makes a = 1, 2, ...), final 2a + 1. A
 * retry goes running(a) = 2a - 1 -> queued(a) = 2a -> running(a + 1) = 2a + 1; a final state follows
 * either. The id is rank x IDS_PER_STATE, plus the images done for a running job's progress events.
 */
export function jobEventId(job: Pick<Job, 'status' | 'attempts' | 'imagesDone'>): number {
  const a = job.attempts;
  switch (job.status) {
    case 'queued':
      return 2 * a * IDS_PER_STATE;
    case 'running':
      return (2 * a - 1) * IDS_PER_STATE + job.imagesDone;
    default:
      return (2 * a + 1) * IDS_PER_STATE;
  }
}

/** The event that reports the job's current state (the data of an SSE event; its type is the status). */
export function jobEvent(job: Job): JobEvent {
  switch (job.status) {
    case 'queued':
      return {
        type: 'queued',
        id: job.id,
        attempts: job.attempts,
        created_at: new Date(job.createdAt).toISOString(),
      };
    case 'running':
      if (job.imagesDone > 0) {
        return {
          type: 'progress',
          id: job.id,
          images_done: job.imagesDone,
          images_total: job.params.class_ids.length,
        };
      }
      return {
        type: 'running',
        id: job.id,
        attempt: Math.max(job.attempts, 1),
        started_at: new Date(job.startedAt ?? job.createdAt).toISOString(),
        images: job.params.class_ids.length,
      };
    case 'failed':
      return {
        type: 'failed',
        id: job.id,
        // A failed job always carries its problem; the fallback keeps the event well-formed regardless.
        error: job.error ?? new ApiError(ErrorCode.internal, 'the generation failed').toProblem(),
        generation: generationView(job),
      };
    case 'succeeded':
    case 'canceled':
      return { type: job.status, id: job.id, generation: generationView(job) };
  }
}

/** An SSE message for `event`: id, event type and one line of JSON data (JSON has no raw newlines). */
export function formatJobEvent(job: Job): string {
  const event = jobEvent(job);
  return `id: ${jobEventId(job)}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}

/** The largest id a job can reach is far below this; longer headers are not ids this API sent. */
const MAX_EVENT_ID_DIGITS = 9;

/** The Last-Event-ID request header as an event id; absent or empty means "from the start". */
export function parseLastEventId(header: string | undefined): number | null {
  if (header === undefined || header.trim() === '') return null;
  const text = header.trim();
  if (!/^\d+$/.test(text) || text.length > MAX_EVENT_ID_DIGITS) {
    throw new ApiError(
      ErrorCode.invalid_parameter,
      `'Last-Event-ID' must be an event id this stream sent (an integer of at most ${MAX_EVENT_ID_DIGITS} digits), got ${JSON.stringify(text.slice(0, 40))}`,
      { field: 'Last-Event-ID' },
    );
  }
  return Number(text);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}

/**
 * The event stream of `first` (already read for this tenant): its current state unless Last-Event-ID
 * already covers it, then every later state, until the final one or the end of the stream's lifetime.
 * D1 reads: one per poll (PollSchedule), so a watcher of an idle job costs 20 a minute.
 */
export function jobEventStream(
  db: D1Database,
  tenantId: string,
  first: Job,
  lastEventId: number | null,
  timing: EventStreamTiming = EVENT_STREAM_TIMING,
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const stop = new AbortController();

  async function run(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    const send = (text: string) => controller.enqueue(encoder.encode(text));
    const started = Date.now();
    const deadline = started + timing.maxLifetimeMs;
    let nextHeartbeat = started + timing.heartbeatMs;
    const schedule = new PollSchedule();
    let sent = lastEventId ?? -1;
    let job = first;
    send(`retry: ${timing.retryMs}\n\n`);
    for (;;) {
      const id = jobEventId(job);
      // A watcher that saw an earlier state gets the attempt's "running" before its progress, and before
      // a success whose attempt ran between two polls (shorter than one poll interval), in order.
      const ranId = jobEventId({ status: 'running', attempts: job.attempts, imagesDone: 0 });
      const ran = job.status === 'succeeded' || (job.status === 'running' && job.imagesDone > 0);
      if (ran && job.attempts > 0 && sent >= 0 && sent < ranId) {
        send(formatJobEvent({ ...job, status: 'running', imagesDone: 0 }));
        sent = ranId;
      }
      if (id > sent) {
        send(formatJobEvent(job));
        sent = id;
        schedule.reset();
      }
      if (isTerminalJobStatus(job.status)) return;
      // Wait for the next read, sending heartbeats meanwhile; the lifetime may end the stream first.
      const readAt = Date.now() + schedule.next();
      for (;;) {
        const until = Math.min(readAt, nextHeartbeat, deadline);
        await sleep(Math.max(until - Date.now(), 0), stop.signal);
        if (stop.signal.aborted || Date.now() >= deadline) return;
        if (Date.now() >= nextHeartbeat) {
          send(': keep-alive\n\n');
          nextHeartbeat += timing.heartbeatMs;
        }
        if (Date.now() >= readAt) break;
      }
      const fresh = await getTenantJob(db, tenantId, job.id);
      if (!fresh || stop.signal.aborted) return;
      job = fresh;
    }
  }

  return new ReadableStream<Uint8Array>({
    start(controller) {
      run(controller).then(
        () => {
          if (!stop.signal.aborted) controller.close();
        },
        (error: unknown) => {
          // A failed D1 read ends this stream; the client reconnects with Last-Event-ID and resumes.
          console.error(
            JSON.stringify({ msg: 'job event stream failed', job: first.id, error: String(error) }),
          );
          if (!stop.signal.aborted) controller.close();
        },
      );
    },
    cancel() {
      stop.abort();
    },
  });
}
