// GET /v1/generations/{id}/events inside workerd: the order of events for success, failure, cancel and a
// retried attempt, resuming with Last-Event-ID, tenant isolation, the heartbeat and the end of the stream.
// Most jobs here are written to the local D1 and moved through their states with the same conditional
// UPDATEs the queue consumer uses (not queued, so no consumer races the test); one runs the real queue.

import { env } from 'cloudflare:workers';
import {
  ApiError,
  ErrorCode,
  GenerationSchema,
  type JobEvent,
  JobEventSchema,
  newJobId,
} from '@gigatok/shared';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { jobEventStream } from '../src/lib/generations/events.ts';
import {
  claimJob,
  completeJob,
  failJob,
  getTenantJob,
  type Job,
  recordChunk,
  releaseJob,
} from '../src/lib/generations/jobs.ts';
import { api, insertQueuedJob, newTenant, postJson, type TestKey } from './helpers.ts';

interface SseMessage {
  id: string | undefined;
  event: string;
  data: string;
  retry: number | undefined;
}

/** Reads SSE messages off a body as they arrive; comment lines are kept apart. */
class EventReader {
  readonly comments: string[] = [];
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #decoder = new TextDecoder();
  #buffer = '';
  #done = false;

  constructor(body: ReadableStream<Uint8Array>) {
    this.#reader = body.getReader();
  }

  /** The next message with an event or retry field, or null when the stream ended. */
  async next(timeoutMs = 5000): Promise<SseMessage | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = this.#buffer.indexOf('\n\n');
      if (end >= 0) {
        const block = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end + 2);
        const message: SseMessage = { id: undefined, event: 'message', data: '', retry: undefined };
        let fields = 0;
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) {
            this.comments.push(line);
            continue;
          }
          const colon = line.indexOf(':');
          const name = line.slice(0, colon);
          const value = line.slice(colon + 1).replace(/^ /, '');
          fields++;
          if (name === 'id') message.id = value;
          else if (name === 'event') message.event = value;
          else if (name === 'data') message.data += value;
          else if (name === 'retry') message.retry = Number(value);
        }
        if (fields > 0) return message;
        continue;
      }
      if (this.#done) return null;
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error('no event in time');
      const chunk = await Promise.race([
        this.#reader.read(),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no event in time')), remaining)),
      ]);
      if (chunk.done) this.#done = true;
      else this.#buffer += this.#decoder.decode(chunk.value, { stream: true });
    }
  }

  /** The next job event (skipping the retry hint), checked against the shared schema. */
  async event(timeoutMs?: number): Promise<{ id: string; event: JobEvent }> {
    for (;;) {
      const message = await this.next(timeoutMs);
      if (message === null) throw new Error('the stream ended before the next event');
      if (message.retry !== undefined && message.data === '') continue;
      const event = JobEventSchema.parse(JSON.parse(message.data));
      expect(message.event).toBe(event.type);
      return { id: message.id!, event };
    }
  }

  /** Every remaining job event until the stream closes. */
  async rest(timeoutMs = 8000): Promise<{ id: string; event: JobEvent }[]> {
    const out: { id: string; event: JobEvent }[] = [];
    for (;;) {
      const message = await this.next(timeoutMs);
      if (message === null) return out;
      if (message.data === '') continue;
      out.push({ id: message.id!, event: JobEventSchema.parse(JSON.parse(message.data)) });
    }
  }

  cancel(): Promise<void> {
    return this.#reader.cancel().catch(() => undefined);
  }
}

let alice: TestKey;
let bob: TestKey;
/** A job that really ran (through the queue): its parameters and result are copied into test jobs. */
let template: Job;
const open: EventReader[] = [];

beforeAll(async () => {
  alice = await newTenant('alice');
  bob = await newTenant('bob');
  const response = await postJson(
    alice.key,
    '/v1/generations',
    { class_id: [4, 5], seed: 91_000 },
    { prefer: 'wait=10' },
  );
  const done = GenerationSchema.parse(await response.json());
  expect(done.status).toBe('succeeded');
  template = (await getTenantJob(env.DB, alice.tenantId, done.id))!;
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((reader) => reader.cancel()));
});

/** A queued job of alice's in D1, with the template's parameters, that no queue message will pick up. */
async function queuedJob(): Promise<Job> {
  return insertQueuedJob(alice.tenantId, template.params, {
    model: template.model,
    webhook: template.webhook,
  });
}

async function events(key: string, id: string, headers: Record<string, string> = {}) {
  const response = await api(key, `/v1/generations/${id}/events`, { headers });
  return response;
}

async function subscribe(id: string, lastEventId?: string): Promise<EventReader> {
  const response = await events(
    alice.key,
    id,
    lastEventId === undefined ? {} : { 'last-event-id': lastEventId },
  );
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toBe('text/event-stream');
  expect(response.headers.get('cache-control')).toBe('no-store');
  const reader = new EventReader(response.body!);
  open.push(reader);
  return reader;
}

async function currentView(id: string) {
  return GenerationSchema.parse(await (await api(alice.key, `/v1/generations/${id}`)).json());
}

describe('event order', () => {
  it('reports queued, running and succeeded with growing ids, then closes the stream', async () => {
    const job = await queuedJob();
    const reader = await subscribe(job.id);
    const retryHint = await reader.next();
    expect(retryHint).toMatchObject({ retry: 1000, data: '' });

    const queued = await reader.event();
    expect(queued).toEqual({
      id: '0',
      event: { type: 'queued', id: job.id, attempts: 0, created_at: new Date(job.createdAt).toISOString() },
    });

    const claimed = (await claimJob(env.DB, job.id, 60_000))!;
    const running = await reader.event();
    expect(running).toEqual({
      id: '32',
      event: {
        type: 'running',
        id: job.id,
        attempt: 1,
        started_at: new Date(claimed.startedAt!).toISOString(),
        images: 2,
      },
    });

    await completeJob(env.DB, job.id, 1, template.result!, false);
    const succeeded = await reader.event();
    expect(succeeded.id).toBe('96');
    expect(succeeded.event).toEqual({
      type: 'succeeded',
      id: job.id,
      generation: await currentView(job.id),
    });
    expect(succeeded.event.type === 'succeeded' && succeeded.event.generation.result).toEqual(
      template.result,
    );
    expect(await reader.next()).toBeNull();
  });

  it('reports the running state of an attempt that started and succeeded between two reads', async () => {
    const job = await queuedJob();
    const reader = await subscribe(job.id);
    expect((await reader.event()).event.type).toBe('queued');
    await claimJob(env.DB, job.id, 60_000);
    await completeJob(env.DB, job.id, 1, template.result!, false);
    expect(await reader.rest()).toMatchObject([
      { id: '32', event: { type: 'running', attempt: 1, images: 2 } },
      { id: '96', event: { type: 'succeeded' } },
    ]);
  });

  it('reports each finished chunk of a long job as progress, between running and the result', async () => {
    const job = await queuedJob();
    const reader = await subscribe(job.id);
    expect((await reader.event()).event.type).toBe('queued');
    await claimJob(env.DB, job.id, 60_000);
    expect(await reader.event()).toMatchObject({ id: '32', event: { type: 'running', images: 2 } });
    const [first] = template.result!.images;
    await recordChunk(env.DB, job.id, 1, 0, [first!.token_id]);
    expect(await reader.event()).toEqual({
      id: '33',
      event: { type: 'progress', id: job.id, images_done: 1, images_total: 2 },
    });
    await claimJob(env.DB, job.id, 60_000, Date.now(), 1);
    await completeJob(env.DB, job.id, 1, template.result!, false);
    expect(await reader.rest()).toMatchObject([{ id: '96', event: { type: 'succeeded' } }]);

    // A watcher joining after the first chunk gets the attempt's running state before its progress.
    const later = await queuedJob();
    await claimJob(env.DB, later.id, 60_000);
    await recordChunk(env.DB, later.id, 1, 0, [first!.token_id]);
    const joined = await subscribe(later.id, '0');
    expect((await joined.event()).event).toMatchObject({ type: 'running' });
    expect(await joined.event()).toMatchObject({ id: '33', event: { type: 'progress', images_done: 1 } });
  });

  it('reports a failure with its problem', async () => {
    const job = await queuedJob();
    const reader = await subscribe(job.id);
    expect((await reader.event()).event.type).toBe('queued');
    await claimJob(env.DB, job.id, 60_000);
    expect((await reader.event()).event.type).toBe('running');
    const problem = new ApiError(ErrorCode.invalid_parameter, "'top_k' is bad", {
      field: 'top_k',
    }).toProblem();
    await failJob(env.DB, job.id, problem, 1);
    const failed = await reader.event();
    expect(failed.id).toBe('96');
    expect(failed.event).toEqual({
      type: 'failed',
      id: job.id,
      error: problem,
      generation: await currentView(job.id),
    });
    expect(await reader.next()).toBeNull();
  });

  it('reports a cancel made through the API', async () => {
    const job = await queuedJob();
    const reader = await subscribe(job.id);
    expect(await reader.event()).toMatchObject({ id: '0', event: { type: 'queued' } });
    const cancel = await api(alice.key, `/v1/generations/${job.id}/cancel`, { method: 'POST' });
    expect(cancel.status).toBe(200);
    const canceled = await reader.event();
    expect(canceled.id).toBe('32');
    expect(canceled.event).toMatchObject({
      type: 'canceled',
      generation: { id: job.id, status: 'canceled' },
    });
    expect(await reader.next()).toBeNull();
  });

  it('reports an attempt handed back to the queue and the next attempt, ids still growing', async () => {
    const job = await queuedJob();
    const reader = await subscribe(job.id);
    expect((await reader.event()).event.type).toBe('queued');
    await claimJob(env.DB, job.id, 60_000);
    expect(await reader.event()).toMatchObject({ id: '32', event: { type: 'running', attempt: 1 } });
    expect(await releaseJob(env.DB, job.id, 1)).toBe(true);
    expect(await reader.event()).toMatchObject({ id: '64', event: { type: 'queued', attempts: 1 } });
    await claimJob(env.DB, job.id, 60_000);
    expect(await reader.event()).toMatchObject({ id: '96', event: { type: 'running', attempt: 2 } });
    await completeJob(env.DB, job.id, 2, template.result!, false);
    expect(await reader.rest()).toMatchObject([{ id: '160', event: { type: 'succeeded' } }]);
  });

  it('follows a job through the real queue and consumer to its result', async () => {
    const created = await postJson(alice.key, '/v1/generations', { class_id: 7, seed: 91_001 });
    expect(created.status).toBe(202);
    const { id } = GenerationSchema.parse(await created.json());
    const reader = await subscribe(id);
    const all = await reader.rest();
    const types = all.map((e) => e.event.type);
    // The stream starts wherever the consumer already is (a job that finished before the stream opened
    // gives only its final event); what follows is in lifecycle order, with the running state reported
    // even when the run was shorter than a poll interval.
    expect(['queued,running,succeeded', 'running,succeeded', 'succeeded']).toContain(types.join(','));
    const ids = all.map((e) => Number(e.id));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);
    expect(all.at(-1)!.event).toEqual({ type: 'succeeded', id, generation: await currentView(id) });
  });
});

describe('resuming with Last-Event-ID', () => {
  it('sends only the states after the one last received', async () => {
    const job = await queuedJob();
    await claimJob(env.DB, job.id, 60_000);
    // The client saw "running" (id 1) before its connection dropped: nothing is repeated.
    const reader = await subscribe(job.id, '32');
    await completeJob(env.DB, job.id, 1, template.result!, false);
    expect(await reader.rest()).toMatchObject([{ id: '96', event: { type: 'succeeded', id: job.id } }]);
  });

  it('sends the final event of a finished job once, then closes at once when it was seen', async () => {
    const job = await queuedJob();
    await claimJob(env.DB, job.id, 60_000);
    await completeJob(env.DB, job.id, 1, template.result!, false);
    const first = await subscribe(job.id, '32');
    expect(await first.rest()).toMatchObject([{ id: '96', event: { type: 'succeeded' } }]);
    const fresh = await subscribe(job.id);
    expect(await fresh.rest()).toMatchObject([{ id: '96', event: { type: 'succeeded' } }]);
    const again = await subscribe(job.id, '96');
    expect(await again.rest()).toEqual([]);
  });

  it('refuses a Last-Event-ID this stream never sends, naming the header', async () => {
    const job = await queuedJob();
    for (const value of ['abc', '-1', '1.5', '1234567890']) {
      const response = await events(alice.key, job.id, { 'last-event-id': value });
      expect(response.status).toBe(400);
      expect(response.headers.get('content-type')).toBe('application/problem+json');
      expect(await response.json()).toMatchObject({ code: 'invalid_parameter', field: 'Last-Event-ID' });
    }
  });
});

describe('isolation and bad ids', () => {
  it("answers 404 for another tenant's job, an unknown id and a malformed one, before any stream", async () => {
    const job = await queuedJob();
    for (const [key, id] of [
      [bob.key, job.id],
      [alice.key, newJobId()],
      [alice.key, 'job_nope'],
    ] as const) {
      const response = await events(key, id);
      expect(response.status).toBe(404);
      expect(response.headers.get('content-type')).toBe('application/problem+json');
      expect(await response.json()).toMatchObject({ code: 'not_found' });
    }
  });

  it('needs an API key', async () => {
    const job = await queuedJob();
    const response = await events('gtk_not_a_key', job.id);
    expect(response.status).toBe(401);
  });
});

describe('heartbeat and lifetime', () => {
  it('sends keep-alive comments while nothing changes and closes when its lifetime is up', async () => {
    const job = await queuedJob();
    // Counts the stream's D1 statements: on the poll schedule (reads at 250 ms, 625 ms, then 1.19 s) a 900 ms
    // lifetime allows exactly two.
    let reads = 0;
    const counted = new Proxy(env.DB, {
      get(target, name) {
        if (name === 'prepare')
          return (sql: string) => {
            reads++;
            return target.prepare(sql);
          };
        const value = Reflect.get(target, name);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const reader = new EventReader(
      jobEventStream(counted, alice.tenantId, job, null, {
        heartbeatMs: 100,
        maxLifetimeMs: 900,
        retryMs: 2500,
      }),
    );
    open.push(reader);
    expect(await reader.next()).toMatchObject({ retry: 2500 });
    expect(await reader.event()).toMatchObject({ id: '0', event: { type: 'queued' } });
    // No further state: the stream ends by itself, having sent heartbeats meanwhile.
    expect(await reader.next(3000)).toBeNull();
    expect(reader.comments.length).toBeGreaterThanOrEqual(3);
    expect(new Set(reader.comments)).toEqual(new Set([': keep-alive']));
    expect(reads).toBe(2);
  });
});
