// The client's HTTP layer: one request with auth, per-attempt timeout, cancellation, retries
// (429/503 honouring Retry-After, network errors only for idempotent requests) and problem+json
// errors. Bodies are read in full here so a failure mid-body is a network error like any other.

import { GigaTokApiError, GigaTokNetworkError, type ProblemDetails } from './errors.ts';
import { type BackoffOptions, backoffDelay, parseRetryAfter, RETRYABLE_STATUSES, sleep } from './retry.ts';

/**
 * When a request may be sent again:
 * - `idempotent`: after 429/503 and after network errors (GETs, content-addressed POSTs, POSTs that
 *   carry an Idempotency-Key);
 * - `refused-only`: only after 429/503, where the server refused before doing any work;
 * - `never`.
 */
export type RetryMode = 'idempotent' | 'refused-only' | 'never';

export interface RetryEvent {
  /** 1 for the first retry. */
  attempt: number;
  delayMs: number;
  error: GigaTokApiError | GigaTokNetworkError;
}

export interface TransportOptions {
  baseUrl: string;
  apiKey?: string | undefined;
  fetch: typeof globalThis.fetch;
  maxRetries: number;
  timeoutMs: number;
  backoff: BackoffOptions;
  /** A Retry-After longer than this is not waited for: the error is thrown with its retryAfter. */
  maxRetryAfterMs: number;
  userAgent: string;
  onRetry?: ((event: RetryEvent) => void) | undefined;
}

export interface RequestSpec {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  query?: Record<string, string | number | undefined> | undefined;
  headers?: Record<string, string | undefined> | undefined;
  /** Must be re-sendable (string, bytes, FormData): retries send it again. */
  body?: string | Uint8Array<ArrayBuffer> | FormData | undefined;
  retry: RetryMode;
  /** Statuses besides 2xx that are not errors (304 for conditional requests). */
  accept?: readonly number[] | undefined;
  timeoutMs?: number | undefined;
  signal?: AbortSignal | undefined;
}

export interface HttpResponse {
  status: number;
  headers: Headers;
  body: Uint8Array;
  method: string;
  url: string;
}

const decoder = new TextDecoder();

export function bodyText(response: HttpResponse): string {
  return decoder.decode(response.body);
}

export function buildUrl(baseUrl: string, path: string, query?: RequestSpec['query']): string {
  const url = new URL(baseUrl.replace(/\/+$/, '') + path);
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value !== undefined) url.searchParams.set(name, String(value));
  }
  return url.toString();
}

/** Sends `spec`, retrying as its RetryMode allows; resolves with a 2xx (or accepted) response. */
export async function send(options: TransportOptions, spec: RequestSpec): Promise<HttpResponse> {
  const url = buildUrl(options.baseUrl, spec.path, spec.query);
  const headers = new Headers({ accept: 'application/json', 'user-agent': options.userAgent });
  if (options.apiKey) headers.set('authorization', `Bearer ${options.apiKey}`);
  for (const [name, value] of Object.entries(spec.headers ?? {})) {
    if (value !== undefined) headers.set(name, value);
  }
  const ctx = { method: spec.method, url };

  for (let attempt = 0; ; attempt++) {
    const canRetry = attempt < options.maxRetries;
    let response: HttpResponse;
    try {
      response = await attemptOnce(options, spec, url, headers);
    } catch (error) {
      if (!(error instanceof GigaTokNetworkError) || !canRetry || spec.retry !== 'idempotent') throw error;
      await pause(options, spec, attempt, backoffDelay(attempt, options.backoff), error);
      continue;
    }
    if ((response.status >= 200 && response.status < 300) || spec.accept?.includes(response.status)) {
      return response;
    }
    const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'));
    const error = toApiError(response, retryAfterMs, ctx);
    if (!canRetry || spec.retry === 'never' || !RETRYABLE_STATUSES.has(response.status)) throw error;
    const delay = retryAfterMs ?? backoffDelay(attempt, options.backoff);
    if (delay > options.maxRetryAfterMs) throw error;
    await pause(options, spec, attempt, delay, error);
  }
}

/**
 * Opens a streaming response (one attempt, no retries: the caller owns reconnection). `timeoutMs`
 * bounds the wait for the response headers only; the body then streams for as long as the server
 * keeps it open, until `spec.signal` aborts. A non-2xx answer is read in full and thrown as
 * GigaTokApiError; a failed connection as GigaTokNetworkError.
 */
export async function openStream(options: TransportOptions, spec: RequestSpec): Promise<Response> {
  const url = buildUrl(options.baseUrl, spec.path, spec.query);
  const headers = new Headers({ 'user-agent': options.userAgent });
  if (options.apiKey) headers.set('authorization', `Bearer ${options.apiKey}`);
  for (const [name, value] of Object.entries(spec.headers ?? {})) {
    if (value !== undefined) headers.set(name, value);
  }
  const timeoutMs = spec.timeoutMs ?? options.timeoutMs;
  const connect = new AbortController();
  const timer = setTimeout(() => connect.abort(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
  const signal = spec.signal ? AbortSignal.any([spec.signal, connect.signal]) : connect.signal;
  let response: Response;
  try {
    response = await options.fetch(url, { method: spec.method, headers, signal, redirect: 'follow' });
  } catch (error) {
    if (spec.signal?.aborted) throw spec.signal.reason;
    const timedOut = connect.signal.aborted;
    throw new GigaTokNetworkError(
      `${spec.method} ${url} failed: ${timedOut ? `timed out after ${timeoutMs} ms` : describeCause(error)}`,
      { method: spec.method, url, timedOut, cause: error },
    );
  } finally {
    clearTimeout(timer);
  }
  if (response.status >= 200 && response.status < 300) return response;
  let body: Uint8Array;
  try {
    body = new Uint8Array(await response.arrayBuffer());
  } catch {
    body = new Uint8Array();
  }
  const failed: HttpResponse = {
    status: response.status,
    headers: response.headers,
    body,
    method: spec.method,
    url,
  };
  throw toApiError(failed, parseRetryAfter(response.headers.get('retry-after')), {
    method: spec.method,
    url,
  });
}

async function pause(
  options: TransportOptions,
  spec: RequestSpec,
  attempt: number,
  delayMs: number,
  error: GigaTokApiError | GigaTokNetworkError,
): Promise<void> {
  options.onRetry?.({ attempt: attempt + 1, delayMs, error });
  await sleep(delayMs, spec.signal);
}

async function attemptOnce(
  options: TransportOptions,
  spec: RequestSpec,
  url: string,
  headers: Headers,
): Promise<HttpResponse> {
  const timeout = AbortSignal.timeout(spec.timeoutMs ?? options.timeoutMs);
  const signal = spec.signal ? AbortSignal.any([spec.signal, timeout]) : timeout;
  try {
    const response = await options.fetch(url, {
      method: spec.method,
      headers,
      body: spec.body ?? null,
      signal,
      redirect: 'follow',
    });
    const body = new Uint8Array(await response.arrayBuffer());
    return { status: response.status, headers: response.headers, body, method: spec.method, url };
  } catch (error) {
    // The caller's own abort is not a network failure: surface its reason unchanged.
    if (spec.signal?.aborted) throw spec.signal.reason;
    const timedOut = timeout.aborted;
    const reason = timedOut
      ? `timed out after ${spec.timeoutMs ?? options.timeoutMs} ms`
      : describeCause(error);
    throw new GigaTokNetworkError(`${spec.method} ${url} failed: ${reason}`, {
      method: spec.method,
      url,
      timedOut,
      cause: error,
    });
  }
}

function describeCause(error: unknown): string {
  if (error instanceof Error) {
    // undici wraps the socket error ("fetch failed"); the cause says what actually happened.
    const cause = (error as { cause?: unknown }).cause;
    if (cause instanceof Error && cause.message) return `${error.message} (${cause.message})`;
    return error.message;
  }
  return String(error);
}

/** Reads an error response as RFC 9457 problem+json, tolerating bodies that are not. */
export function toApiError(
  response: HttpResponse,
  retryAfterMs: number | null,
  ctx: { method: string; url: string },
): GigaTokApiError {
  const retryAfter = retryAfterMs === null ? null : Math.ceil(retryAfterMs / 1000);
  return new GigaTokApiError(readProblem(response), { ...ctx, retryAfter });
}

function readProblem(response: HttpResponse): ProblemDetails {
  const text = bodyText(response);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (isRecord(parsed) && typeof parsed.code === 'string') {
    const errors = Array.isArray(parsed.errors)
      ? parsed.errors.filter(
          (e): e is { field: string; detail: string } =>
            isRecord(e) && typeof e.field === 'string' && typeof e.detail === 'string',
        )
      : undefined;
    return {
      type: typeof parsed.type === 'string' ? parsed.type : `urn:gigatok:problem:${parsed.code}`,
      title: typeof parsed.title === 'string' ? parsed.title : parsed.code,
      status: response.status,
      detail: typeof parsed.detail === 'string' ? parsed.detail : '',
      code: parsed.code,
      field: typeof parsed.field === 'string' ? parsed.field : undefined,
      limit: typeof parsed.limit === 'number' || typeof parsed.limit === 'string' ? parsed.limit : undefined,
      instance: typeof parsed.instance === 'string' ? parsed.instance : undefined,
      errors,
    };
  }
  // Not a problem document (an intermediary answered): keep the status and the start of the body.
  const code = `http_${response.status}`;
  return {
    type: 'about:blank',
    title: code,
    status: response.status,
    detail: text.slice(0, 200).trim() || `HTTP ${response.status}`,
    code,
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
