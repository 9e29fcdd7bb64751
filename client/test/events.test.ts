// Job events in the client: the text/event-stream parser, and client.generations.events() against the
// fake API over real loopback HTTP: order, reconnecting with Last-Event-ID after a cut connection, a
// resumed stream, bounded retries, typed errors, and generate() following the stream or polling.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  GigaTokApiError,
  GigaTokClient,
  GigaTokNetworkError,
  GigaTokResponseError,
  GigaTokTimeoutError,
  type JobStreamEvent,
  parseEventStream,
} from '../src/index.ts';
import { API_KEY, FakeApi, type FakeApiOptions } from './fake-api.ts';

const apis: FakeApi[] = [];
const servers: Server[] = [];

afterEach(async () => {
  await Promise.all(apis.splice(0).map((api) => api.close()));
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

async function start(options: FakeApiOptions = {}) {
  const api = await FakeApi.start({ events: true, ...options });
  apis.push(api);
  const client = new GigaTokClient({
    baseUrl: api.url,
    apiKey: API_KEY,
    backoff: { baseDelayMs: 5, maxDelayMs: 20 },
  });
  const job = await client.createGeneration({ class_id: [1, 2], seed: 7 }, { wait: 0 });
  return { api, client, job };
}

async function collect(events: AsyncIterable<JobStreamEvent>): Promise<JobStreamEvent[]> {
  const out: JobStreamEvent[] = [];
  for await (const event of events) out.push(event);
  return out;
}

const eventRequests = (api: FakeApi) => api.requests.filter((r) => r.path.endsWith('/events'));

/** A body that delivers `chunks` one by one. */
function bodyOf(chunks: (string | Uint8Array)[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks)
        controller.enqueue(typeof chunk === 'string' ? encoder.encode(chunk) : chunk);
      controller.close();
    },
  });
}

describe('parseEventStream', () => {
  it('reads fields across chunk boundaries, CRLF, CR and LF line ends, comments and multi-line data', async () => {
    const snowman = new TextEncoder().encode('data: \u2603\n\n');
    const retries: number[] = [];
    const messages = [];
    for await (const message of parseEventStream(
      bodyOf([
        '\uFEFFretry: 1500\r',
        '\n: a comment\r\nid: 7\r\nevent: queued\r\ndata: {"a":',
        '1}\r\n\r\ndata: line one\ndata:line two\n\n',
        snowman.slice(0, 7),
        snowman.slice(7),
        'id: 9\revent: running\rdata: x\r\r',
        'data: never dispatched without a blank line',
      ]),
      { onRetry: (ms) => retries.push(ms) },
    )) {
      messages.push(message);
    }
    expect(retries).toEqual([1500]);
    expect(messages).toEqual([
      { event: 'queued', data: '{"a":1}', lastEventId: '7' },
      // No event field: "message"; the last id carries over.
      { event: 'message', data: 'line one\nline two', lastEventId: '7' },
      { event: 'message', data: '\u2603', lastEventId: '7' },
      { event: 'running', data: 'x', lastEventId: '9' },
    ]);
  });

  it('does not dispatch a message without data, and ignores an unparsable retry', async () => {
    const retries: number[] = [];
    const messages = [];
    for await (const message of parseEventStream(bodyOf(['event: ping\n\nretry: soon\n\nid: 3\n\n']), {
      onRetry: (ms) => retries.push(ms),
    })) {
      messages.push(message);
    }
    expect(messages).toEqual([]);
    expect(retries).toEqual([]);
  });
});

describe('client.generations.events', () => {
  it('yields queued, running and succeeded in order, validated, and ends after the final event', async () => {
    const { api, client, job } = await start();
    const events = await collect(client.generations.events(job.id));
    expect(events.map((e) => [e.eventId, e.type])).toEqual([
      ['0', 'queued'],
      ['1', 'running'],
      ['3', 'succeeded'],
    ]);
    expect(events[1]).toMatchObject({ type: 'running', id: job.id, attempt: 1, images: 2 });
    const last = events[2]!;
    expect(last.type === 'succeeded' && last.generation.result?.images).toHaveLength(2);
    expect(eventRequests(api)).toHaveLength(1);
    expect(eventRequests(api)[0]!.headers.accept).toBe('text/event-stream');
    expect(eventRequests(api)[0]!.headers['last-event-id']).toBeUndefined();
  });

  it('reconnects with Last-Event-ID after a cut connection and repeats nothing', async () => {
    const { api, client, job } = await start({ eventsDropAfter: 1 });
    const events = await collect(client.generations.events(job.id));
    expect(events.map((e) => e.type)).toEqual(['queued', 'running', 'succeeded']);
    const requests = eventRequests(api);
    expect(requests).toHaveLength(2);
    expect(requests[1]!.headers['last-event-id']).toBe('0');
  });

  it('resumes after a given lastEventId', async () => {
    const { api, client, job } = await start();
    // Let the job reach running first (one poll), as if a previous stream had seen it.
    await client.getGeneration(job.id);
    const events = await collect(client.generations.events(job.id, { lastEventId: '1' }));
    expect(events.map((e) => [e.eventId, e.type])).toEqual([['3', 'succeeded']]);
    expect(eventRequests(api)[0]!.headers['last-event-id']).toBe('1');
  });

  it('reports a failed job with its problem', async () => {
    const { client, job } = await start({ failJobs: true });
    const events = await collect(client.generations.events(job.id));
    const last = events.at(-1)!;
    expect(last).toMatchObject({ type: 'failed', error: { code: 'backend_error' } });
  });

  it('throws the API error of an unknown id without retrying', async () => {
    const { api, client } = await start();
    const error = await collect(client.generations.events('job_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(GigaTokApiError);
    expect(error).toMatchObject({ status: 404, code: 'not_found' });
    expect(eventRequests(api)).toHaveLength(1);
  });

  it('retries a 503 after its Retry-After', async () => {
    const { api, client, job } = await start();
    api.script({
      status: 503,
      headers: { 'content-type': 'application/problem+json', 'retry-after': '0' },
      body: JSON.stringify({
        type: 'urn:x',
        title: 'x',
        status: 503,
        detail: 'busy',
        code: 'backend_unavailable',
      }),
      match: (r) => r.path.endsWith('/events'),
    });
    const events = await collect(client.generations.events(job.id, { reconnectDelayMs: 10 }));
    expect(events.at(-1)!.type).toBe('succeeded');
    expect(eventRequests(api)).toHaveLength(2);
  });

  it('gives up after maxReconnects failed connections in a row', async () => {
    const { api, client, job } = await start();
    const drop = { drop: true, match: (r: { path: string }) => r.path.endsWith('/events') };
    api.script(drop, drop, drop, drop);
    const error = await collect(
      client.generations.events(job.id, { maxReconnects: 2, reconnectDelayMs: 10 }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GigaTokNetworkError);
    expect(eventRequests(api)).toHaveLength(3);
  });

  it('refuses an event whose data does not match the shared schema', async () => {
    const { api, client, job } = await start();
    api.script({
      status: 200,
      headers: { 'content-type': 'text/event-stream' },
      body: `id: 1\nevent: running\ndata: {"type":"running","id":"${job.id}"}\n\n`,
      match: (r) => r.path.endsWith('/events'),
    });
    const error = await collect(client.generations.events(job.id)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GigaTokResponseError);
    expect(String((error as Error).message)).toMatch(/malformed event: attempt/);
  });

  it('refuses an answer that is not an event stream', async () => {
    const { api, client, job } = await start();
    api.script({
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: '{}',
      match: (r) => r.path.endsWith('/events'),
    });
    const error = await collect(client.generations.events(job.id)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GigaTokResponseError);
  });

  it('drops a connection that stays silent past the idle timeout, and reconnects', async () => {
    const requests: (string | undefined)[] = [];
    const server = createServer((req, res) => {
      requests.push(req.headers['last-event-id'] as string | undefined);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      // A hint, then silence: no heartbeat ever comes.
      res.write('retry: 5\n\n');
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = new GigaTokClient({
      baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      apiKey: API_KEY,
    });
    const error = await collect(
      client.generations.events('job_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', {
        idleTimeoutMs: 100,
        maxReconnects: 1,
        lastEventId: '4',
      }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GigaTokNetworkError);
    expect(error).toMatchObject({ timedOut: true });
    expect(requests).toEqual(['4', '4']);
  });

  it('stops with the abort reason when the signal aborts', async () => {
    const { client, job } = await start({ pollsToFinish: 1_000_000 });
    const controller = new AbortController();
    const seen: string[] = [];
    const error = await (async () => {
      for await (const event of client.generations.events(job.id, { signal: controller.signal })) {
        seen.push(event.type);
        if (event.type === 'running') controller.abort(new Error('enough'));
      }
    })().catch((e: unknown) => e);
    expect(seen).toEqual(['queued', 'running']);
    expect((error as Error).message).toBe('enough');
  });

  it('delegates get, list and cancel to the flat methods', async () => {
    const { client, job } = await start({ pollsToFinish: 1_000_000 });
    expect((await client.generations.get(job.id)).id).toBe(job.id);
    expect((await client.generations.list()).data.map((j) => j.id)).toEqual([job.id]);
    expect((await client.generations.cancel(job.id)).status).toBe('canceled');
  });
});

describe('generate() with events', () => {
  it('follows the stream to the result without polling', async () => {
    const { api, client } = await start();
    const seen: string[] = [];
    const job = await client.generate(
      { class_id: 3 },
      { wait: 0, events: true, onEvent: (e) => seen.push(e.type) },
    );
    expect(job.status).toBe('succeeded');
    expect(seen).toEqual(['queued', 'running', 'succeeded']);
    expect(
      api.requests.filter((r) => r.method === 'GET' && r.path === `/v1/generations/${job.id}`),
    ).toHaveLength(0);
  });

  it('gives up with GigaTokTimeoutError when the job outlasts waitTimeoutMs on the stream', async () => {
    const { client } = await start({ pollsToFinish: 1_000_000 });
    const error = await client
      .generate({ class_id: 3 }, { wait: 0, events: true, waitTimeoutMs: 300 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GigaTokTimeoutError);
  });

  it('cancels the job on the server when the caller aborts while following the stream', async () => {
    const { api, client } = await start({ pollsToFinish: 1_000_000 });
    const controller = new AbortController();
    const error = await client
      .generate(
        { class_id: 3 },
        {
          wait: 0,
          events: true,
          signal: controller.signal,
          onEvent: (event) => {
            if (event.type === 'running') controller.abort(new Error('stop'));
          },
        },
      )
      .catch((e: unknown) => e);
    expect((error as Error).message).toBe('stop');
    const created = [...api.jobs.values()].at(-1)!;
    expect(created.job.status).toBe('canceled');
  });

  it('falls back to polling when the stream is not there', async () => {
    const { api, client } = await start({ events: false });
    const errors: unknown[] = [];
    const job = await client.generate(
      { class_id: 3 },
      { wait: 0, events: true, pollIntervalMs: 10, onEventsError: (e) => errors.push(e) },
    );
    expect(job.status).toBe('succeeded');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ status: 404 });
    expect(
      api.requests.filter((r) => r.method === 'GET' && r.path === `/v1/generations/${job.id}`),
    ).not.toHaveLength(0);
  });
});
