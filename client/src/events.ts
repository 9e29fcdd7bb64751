// Server-Sent Events for the client: a parser of text/event-stream (WHATWG HTML, "Server-sent events",
// the event stream interpretation rules) and the reconnecting reader of a job's events
// (GET /v1/generations/{id}/events), which resumes with Last-Event-ID after a dropped connection
// and stops after the job's final event.

import { isTerminalJobStatus } from '@gigatok/shared';
import { GigaTokApiError, GigaTokNetworkError, GigaTokResponseError } from './errors.ts';
import { RETRYABLE_STATUSES, sleep } from './retry.ts';
import { type JobEvent, JobEventSchema } from './schemas.ts';

/** One dispatched message: its event type ("message" when unnamed), data and the stream's last id. */
export interface SseMessage {
  event: string;
  data: string;
  /** The last event ID after this message (ids carry over to later messages, as the spec says). */
  lastEventId: string;
}

export interface SseParseOptions {
  /** Called with a `retry:` field's value (ms). */
  onRetry?: ((ms: number) => void) | undefined;
  /** Fails the stream when no bytes arrive for this long (a silently dead connection). */
  idleTimeoutMs?: number | undefined;
  /** The last event id before this stream (ids persist across reconnections). */
  lastEventId?: string | undefined;
}

/** Thrown by parseEventStream when the connection went quiet for longer than `idleTimeoutMs`. */
export class StreamIdleError extends Error {
  constructor(ms: number) {
    super(`no data for ${ms} ms`);
    this.name = 'StreamIdleError';
  }
}

async function readWithin(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  ms: number | undefined,
): Promise<ReadableStreamReadResult<Uint8Array>> {
  if (ms === undefined) return reader.read();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      reader.read(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new StreamIdleError(ms)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The messages of an event stream, in order. Lines end with CRLF, LF or CR; `:` lines are comments;
 * a blank line dispatches the message if it has data (an empty-data message is not dispatched, per
 * the spec); a leading BOM is skipped. The body is canceled when the caller stops iterating.
 */
export async function* parseEventStream(
  body: ReadableStream<Uint8Array>,
  options: SseParseOptions = {},
): AsyncGenerator<SseMessage, void, undefined> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let first = true;
  let eventType = '';
  let data: string[] = [];
  let lastEventId = options.lastEventId ?? '';
  let done = false;

  try {
    while (!done) {
      const chunk = await readWithin(reader, options.idleTimeoutMs);
      if (chunk.done) {
        done = true;
        buffer += decoder.decode();
      } else {
        buffer += decoder.decode(chunk.value, { stream: true });
      }
      if (first && buffer.length > 0) {
        if (buffer.charCodeAt(0) === 0xfeff) buffer = buffer.slice(1);
        first = false;
      }
      for (;;) {
        const match = /\r\n|\n|\r/.exec(buffer);
        // A lone CR at the end of the buffer may be the first half of a CRLF: wait for more.
        if (!match || (match[0] === '\r' && match.index === buffer.length - 1 && !done)) break;
        const line = buffer.slice(0, match.index);
        buffer = buffer.slice(match.index + match[0].length);
        if (line === '') {
          if (data.length > 0) yield { event: eventType || 'message', data: data.join('\n'), lastEventId };
          eventType = '';
          data = [];
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const name = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (name === 'event') eventType = value;
        else if (name === 'data') data.push(value);
        else if (name === 'id' && !value.includes('\0')) lastEventId = value;
        else if (name === 'retry' && /^\d+$/.test(value)) options.onRetry?.(Number(value));
      }
    }
    // A message not ended by a blank line when the stream closes is discarded (the spec's rule).
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

/** A job event as the stream delivered it, with the id to resume after it. */
export type JobStreamEvent = JobEvent & { eventId: string };

export interface JobEventsOptions {
  /** Resume after this event id (sent as Last-Event-ID): earlier states are not repeated. */
  lastEventId?: string | undefined;
  signal?: AbortSignal | undefined;
  /** Reconnections in a row without an event before the last error is thrown. Default 5. */
  maxReconnects?: number | undefined;
  /** The first reconnection delay until the server sends its own (`retry:`). Default 1000 ms. */
  reconnectDelayMs?: number | undefined;
  /** A connection with no bytes (not even the server's 15 s heartbeat) for this long is dropped. Default 45 s. */
  idleTimeoutMs?: number | undefined;
}

/** Opens one connection of the stream, sending `lastEventId` when there is one. */
export type OpenEventStream = (
  lastEventId: string | undefined,
  signal: AbortSignal | undefined,
) => Promise<Response>;

const MAX_RECONNECT_DELAY_MS = 30_000;

/**
 * The events of one job until its final one (succeeded, failed, canceled). A connection that drops,
 * goes quiet or answers 429/503 is reopened with Last-Event-ID after the server's `retry:` delay,
 * doubled for each failure in a row; a connection the server closed after its lifetime is reopened at
 * once. Other errors (404, 401, a malformed event) are thrown as they are.
 */
export async function* jobEvents(
  open: OpenEventStream,
  where: { method: string; url: string },
  options: JobEventsOptions = {},
): AsyncGenerator<JobStreamEvent, void, undefined> {
  const maxReconnects = options.maxReconnects ?? 5;
  if (!Number.isInteger(maxReconnects) || maxReconnects < 0) {
    throw new RangeError(`'maxReconnects' must be an integer >= 0, got ${maxReconnects}`);
  }
  const { signal } = options;
  let lastEventId = options.lastEventId;
  let retryMs = options.reconnectDelayMs ?? 1000;
  let failures = 0;

  for (;;) {
    let delayMs = 0;
    try {
      const response = await open(lastEventId, signal);
      const type = response.headers.get('content-type') ?? '';
      if (!type.toLowerCase().startsWith('text/event-stream') || !response.body) {
        await response.body?.cancel();
        throw new GigaTokResponseError(
          `${where.method} ${where.url}: expected text/event-stream, got '${type}'`,
          {
            status: response.status,
            ...where,
          },
        );
      }
      let received = false;
      for await (const message of parseEventStream(response.body, {
        idleTimeoutMs: options.idleTimeoutMs ?? 45_000,
        lastEventId,
        onRetry: (ms) => {
          retryMs = ms;
          // The server's hint arrived: this connection works, whatever happens next.
          received = true;
        },
      })) {
        const event = readEvent(message, where);
        lastEventId = message.lastEventId;
        received = true;
        failures = 0;
        yield { ...event, eventId: message.lastEventId };
        if (event.type !== 'progress' && isTerminalJobStatus(event.type)) return;
      }
      // The server closed the stream before a final event (its lifetime ran out): reconnect after its
      // retry delay, as EventSource does. A connection that gave nothing at all counts as a failure.
      if (received) {
        await sleep(retryMs, signal);
        continue;
      }
      failures++;
      if (failures > maxReconnects) {
        throw new GigaTokNetworkError(
          `${where.method} ${where.url}: the stream closed ${failures} times with no event`,
          {
            ...where,
            timedOut: false,
          },
        );
      }
      delayMs = retryMs * 2 ** (failures - 1);
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      // A body that breaks off mid-stream surfaces from fetch as a TypeError ("terminated").
      const dropped = error instanceof StreamIdleError || error instanceof TypeError;
      const retryable =
        dropped ||
        error instanceof GigaTokNetworkError ||
        (error instanceof GigaTokApiError && RETRYABLE_STATUSES.has(error.status));
      if (!retryable || failures >= maxReconnects) {
        if (!dropped) throw error;
        throw new GigaTokNetworkError(`${where.method} ${where.url} failed: ${(error as Error).message}`, {
          ...where,
          timedOut: error instanceof StreamIdleError,
          cause: error,
        });
      }
      failures++;
      const hinted =
        error instanceof GigaTokApiError && error.retryAfter !== null ? error.retryAfter * 1000 : 0;
      delayMs = Math.max(hinted, retryMs * 2 ** (failures - 1));
    }
    await sleep(Math.min(delayMs, MAX_RECONNECT_DELAY_MS), signal);
  }
}

function readEvent(message: SseMessage, where: { method: string; url: string }): JobEvent {
  let json: unknown;
  try {
    json = JSON.parse(message.data);
  } catch (cause) {
    throw new GigaTokResponseError(`${where.method} ${where.url}: an event's data is not JSON`, {
      status: 200,
      ...where,
      cause,
    });
  }
  const parsed = JobEventSchema.safeParse(json);
  if (!parsed.success || parsed.data.type !== message.event) {
    const why = parsed.success
      ? `event '${message.event}' carries a '${parsed.data.type}' payload`
      : parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new GigaTokResponseError(`${where.method} ${where.url}: malformed event: ${why}`, {
      status: 200,
      ...where,
    });
  }
  return parsed.data;
}
