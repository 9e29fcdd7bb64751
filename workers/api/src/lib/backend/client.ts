// The one way the Worker talks to the GPU backend: signed requests (shared/src/backend-auth.ts), a
// deadline on every call, and backend failures mapped onto this API's problems. A backend that cannot
// be reached is `backend_unavailable` (503 + Retry-After on synchronous routes, a retried message in
// the queue consumer); a backend that answers 5xx is `backend_error`; one that is too slow, `backend_timeout`.
import {
  ApiError,
  type ErrorCode,
  errorStatus,
  isErrorCode,
  pathWithQuery,
  signBackendRequest,
} from '@gigatok/shared';
import type { z } from 'zod';
import { config } from '../config.ts';
import { withHeaders } from '../http/http-errors.ts';

/** Seconds a client should wait before retrying when the backend is down or overloaded. */
const DEFAULT_RETRY_AFTER = 5;

/** An ApiError from the backend call; `retryable` says whether a later attempt may succeed. */
export class BackendError extends ApiError {
  override readonly name: string = 'BackendError';
  readonly retryable: boolean;

  constructor(
    code: ErrorCode,
    detail: string,
    retryable: boolean,
    options: { cause?: unknown; limit?: number | string | undefined } = {},
  ) {
    super(code, detail, options);
    this.retryable = retryable;
  }
}

function unavailable(detail: string, retryAfter: number, cause?: unknown): BackendError {
  return withHeaders(new BackendError('backend_unavailable', detail, true, { cause }), {
    'Retry-After': String(retryAfter),
  });
}

export interface BackendCall {
  method: 'GET' | 'POST';
  /** Path with query, e.g. `/v1/encode`. */
  path: string;
  /** A JSON-serialisable body. */
  json?: unknown;
  accept?: string;
  timeoutMs?: number;
  /** Aborts the call early (a canceled job); the backend sees the connection close. */
  signal?: AbortSignal;
  /** Non-2xx statuses returned to the caller instead of thrown (readiness: 503 while loading). */
  passStatuses?: readonly number[];
}

/** Sends one signed request and returns the 2xx response; every failure becomes a BackendError. */
export async function callBackend(env: Env, call: BackendCall): Promise<Response> {
  const cfg = config(env);
  if (!env.BACKEND_SECRET) throw new Error('secret BACKEND_SECRET is not set');
  const body = call.json === undefined ? undefined : JSON.stringify(call.json);
  const url = new URL(cfg.backendUrl + call.path);
  // The signed path is the one the backend sees, including any prefix in BACKEND_URL.
  const signature = await signBackendRequest({
    secret: env.BACKEND_SECRET,
    method: call.method,
    path: pathWithQuery(url),
    body,
  });
  const headers: Record<string, string> = { ...signature, Accept: call.accept ?? 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const timeout = AbortSignal.timeout(call.timeoutMs ?? cfg.backendTimeoutMs);
  const signal = call.signal ? AbortSignal.any([timeout, call.signal]) : timeout;
  let response: Response;
  try {
    response = await fetch(url, { method: call.method, headers, body, signal });
  } catch (error) {
    if (timeout.aborted) {
      throw new BackendError('backend_timeout', `the backend did not answer ${call.path} in time`, true, {
        cause: error,
      });
    }
    if (call.signal?.aborted) throw error;
    throw unavailable('the backend cannot be reached; retry later', DEFAULT_RETRY_AFTER, error);
  }
  if (response.ok || call.passStatuses?.includes(response.status)) return response;
  throw await backendFailure(response, call.path);
}

async function backendFailure(response: Response, path: string): Promise<BackendError> {
  const status = response.status;
  let problem: { code?: unknown; detail?: unknown; field?: unknown; limit?: unknown } = {};
  try {
    problem = (await response.json()) as typeof problem;
  } catch {
    // Not problem+json (a proxy's error page): the status alone decides.
  }
  if (status === 503 || status === 429) {
    const retryAfter = Number(response.headers.get('retry-after'));
    return unavailable(
      'the backend is busy or still loading models; retry later',
      Number.isFinite(retryAfter) && retryAfter > 0 ? Math.ceil(retryAfter) : DEFAULT_RETRY_AFTER,
    );
  }
  if (status === 504) return new BackendError('backend_timeout', `the backend timed out on ${path}`, true);
  // A client error the backend found in input the Worker forwarded (an image sharp cannot decode, a
  // model it does not serve) is the caller's problem: pass its code and detail through. Auth failures
  // are the Worker's own misconfiguration and must not read as the caller's 401.
  if (status >= 400 && status < 500 && status !== 401 && status !== 403 && isErrorCode(problem.code)) {
    const code = problem.code;
    if (errorStatus[code] >= 400 && errorStatus[code] < 500) {
      const detail = typeof problem.detail === 'string' ? problem.detail : `the backend refused ${path}`;
      const limit =
        typeof problem.limit === 'number' || typeof problem.limit === 'string' ? problem.limit : undefined;
      return new BackendError(code, detail, false, { limit });
    }
  }
  console.error(JSON.stringify({ message: 'backend call failed', path, status, code: problem.code ?? null }));
  return new BackendError('backend_error', `the backend failed on ${path} (status ${status})`, status >= 500);
}

/** Calls the backend and validates its JSON answer against a shared schema. */
export async function callBackendJson<S extends z.ZodType>(
  env: Env,
  call: BackendCall,
  schema: S,
): Promise<z.output<S>> {
  const response = await callBackend(env, call);
  let body: unknown;
  try {
    body = await response.json();
  } catch (cause) {
    throw new BackendError('backend_error', `the backend answered ${call.path} with invalid JSON`, true, {
      cause,
    });
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    console.error(JSON.stringify({ message: 'backend answer does not match the contract', path: call.path }));
    throw new BackendError(
      'backend_error',
      `the backend answered ${call.path} with an unexpected shape`,
      true,
    );
  }
  return parsed.data;
}
