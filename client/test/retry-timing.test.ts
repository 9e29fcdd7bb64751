// When the client retries, on a fake clock: Retry-After (seconds and HTTP-date), backoff without it, and
// the refusal to wait past maxRetryAfterMs. The transport is a scripted fetch, so no socket or wall
// clock decides the outcome; each test moves time by hand and counts the requests sent so far.
import { problem } from '@gigatok/shared';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { GigaTokApiError, GigaTokClient } from '../src/index.ts';
import { API_KEY } from './fake-api.ts';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');

interface Answer {
  status: number;
  headers?: Record<string, string>;
  body: unknown;
}

const refused = (status: 429 | 503, headers: Record<string, string> = {}): Answer => ({
  status,
  headers: { 'content-type': 'application/problem+json', ...headers },
  body: problem(status === 429 ? 'rate_limited' : 'backend_unavailable', 'not now'),
});
const models: Answer = { status: 200, body: { object: 'list', data: [] } };

/**
 * A fetch that answers from `answers` in order, noting the fake time of each request. Its responses
 * resolve on microtasks only, so a test's timer steps are the only thing that moves the client on.
 */
function scripted(...answers: Answer[]) {
  const sentAt: number[] = [];
  const fetch = async (): Promise<Response> => {
    sentAt.push(Date.now());
    const answer = answers.shift() ?? models;
    const bytes = new TextEncoder().encode(JSON.stringify(answer.body));
    return {
      status: answer.status,
      headers: new Headers(answer.headers ?? { 'content-type': 'application/json' }),
      arrayBuffer: async () => bytes.buffer,
    } as unknown as Response;
  };
  return { fetch: fetch as typeof globalThis.fetch, sentAt };
}

function client(
  fetch: typeof globalThis.fetch,
  options: { baseDelayMs?: number; maxRetryAfterMs?: number } = {},
) {
  const delay = options.baseDelayMs ?? 5_000;
  return new GigaTokClient({
    baseUrl: 'https://api.example.test',
    apiKey: API_KEY,
    fetch,
    backoff: { baseDelayMs: delay, maxDelayMs: delay },
    ...(options.maxRetryAfterMs === undefined ? {} : { maxRetryAfterMs: options.maxRetryAfterMs }),
  });
}

beforeEach(() => {
  vi.useFakeTimers({ now: T0, toFake: ['setTimeout', 'clearTimeout', 'Date'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('retry timing', () => {
  it('waits the Retry-After seconds of a 429, not its own backoff, then succeeds', async () => {
    const api = scripted(refused(429, { 'retry-after': '2' }));
    const done = client(api.fetch).models();
    await vi.advanceTimersByTimeAsync(1_999);
    expect(api.sentAt).toEqual([T0]);
    await vi.advanceTimersByTimeAsync(1);
    expect(api.sentAt).toEqual([T0, T0 + 2_000]);
    await expect(done).resolves.toEqual([]);
  });

  it('reads Retry-After given as an HTTP-date and retries at that instant', async () => {
    const at = new Date(T0 + 3_000);
    const api = scripted(refused(503, { 'retry-after': at.toUTCString() }));
    const done = client(api.fetch).models();
    await vi.advanceTimersByTimeAsync(2_999);
    expect(api.sentAt).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(api.sentAt).toEqual([T0, at.getTime()]);
    await done;
  });

  it('backs off between half and all of the delay when the server gives no Retry-After', async () => {
    const api = scripted(refused(503), refused(503));
    const done = client(api.fetch, { baseDelayMs: 1_000 }).models();
    await vi.advanceTimersByTimeAsync(499);
    expect(api.sentAt).toHaveLength(1); // equal jitter: never sooner than half the delay
    await vi.advanceTimersByTimeAsync(501);
    expect(api.sentAt).toHaveLength(2); // nor later than all of it
    await vi.advanceTimersByTimeAsync(1_000);
    expect(api.sentAt).toHaveLength(3);
    await expect(done).resolves.toEqual([]);
  });

  it('throws at once, without a timer, when Retry-After is longer than maxRetryAfterMs', async () => {
    const api = scripted(refused(429, { 'retry-after': '120' }));
    const error = await client(api.fetch, { maxRetryAfterMs: 60_000 })
      .models()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GigaTokApiError);
    expect(error).toMatchObject({ status: 429, code: 'rate_limited', retryAfter: 120 });
    expect(api.sentAt).toEqual([T0]);
    expect(vi.getTimerCount()).toBe(0);
  });
});
