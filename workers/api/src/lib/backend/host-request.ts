// One signed request to one backend host (shared/src/backend-auth.ts) under the caller's deadline, and
// the mapping of what went wrong onto this API's problems: a host that cannot be reached is
// `backend_unavailable` (503 + Retry-After on synchronous routes, a retried message in the queue
// consumer); one that answers 5xx is `backend_error`; one that is too slow, `backend_timeout`.
// client.ts chooses the host and moves a refused call to another.
import {
  ApiError,
  type ErrorCode,
  errorStatus,
  isErrorCode,
  pathWithQuery,
  signBackendRequest,
} from '@gigatok/shared';
import type { z } from 'zod';
import { withHeaders } from '../http/http-errors.ts';

/** Seconds a client should wait before retrying when the backend is down or overloaded. */
export const DEFAULT_RETRY_AFTER = 5;

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
  /** A JSON-serialisable body; its `model`, when it names one, picks the hosts that may take the call. */
  json?: unknown;
  accept?: string;
  timeoutMs?: number;
  /** Aborts the call early (a canceled job); the backend sees the connection close. */
  signal?: AbortSignal;
  /** Non-2xx statuses returned to the caller instead of thrown (readiness: 503 while loading). */
  passStatuses?: readonly number[];
}

/**
 * Sends `call` to the host at `baseUrl` and returns its answer, whatever the status. A host that cannot
 * be reached throws `backend_unavailable`; `deadline` running out throws `backend_timeout`; the
 * caller's own signal rethrows its reason.
 */
export async function sendToHost(
  env: Env,
  baseUrl: string,
  call: BackendCall,
  deadline: AbortSignal,
): Promise<Response> {
  if (!env.BACKEND_SECRET) throw new Error('secret BACKEND_SECRET is not set');
  const body = call.json === undefined ? undefined : JSON.stringify(call.json);
  const url = new URL(baseUrl + call.path);
  // The signed path is the one the backend sees, including any prefix in the base URL.
  const signature = await signBackendRequest({
    secret: env.BACKEND_SECRET,
    method: call.method,
    path: pathWithQuery(url),
    body,
  });
  const headers: Record<string, string> = { ...signature, Accept: call.accept ?? 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const signal = call.signal ? AbortSignal.any([deadline, call.signal]) : deadline;
  try {
    return await fetch(url, { method: call.method, headers, body, signal });
  } catch (error) {
    if (deadline.aborted) {
      throw new BackendError('backend_timeout', `the backend did not answer ${call.path} in time`, true, {
        cause: error,
      });
    }
    if (call.signal?.aborted) throw error;
    throw unavailable('the backend cannot be reached; retry later', DEFAULT_RETRY_AFTER, error);
  }
}

/** Seconds of a Retry-After header (delta-seconds); null when absent or not a positive number. */
export function retryAfterSeconds(response: Response): number | null {
  const value = Number(response.headers.get('retry-after'));
  return Number.isFinite(value) && value > 0 ? Math.ceil(value) : null;
}

/** The BackendError a non-2xx answer stands for. */
export async function backendFailure(response: Response, path: string): Promise<BackendError> {
  const status = response.status;
  let problem: { code?: unknown; detail?: unknown; field?: unknown; limit?: unknown } = {};
  try {
    problem = (await response.json()) as typeof problem;
  } catch {
    // Not problem+json (a proxy's error page): the status alone decides.
  }
  if (status === 503 || status === 429) {
    return unavailable(
      'the backend is busy or still loading models; retry later',
      retryAfterSeconds(response) ?? DEFAULT_RETRY_AFTER,
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

/** The JSON body of a 2xx answer, validated against a shared schema. */
export async function readBackendJson<S extends z.ZodType>(
  response: Response,
  path: string,
  schema: S,
): Promise<z.output<S>> {
  let body: unknown;
  try {
    body = await response.json();
  } catch (cause) {
    throw new BackendError('backend_error', `the backend answered ${path} with invalid JSON`, true, {
      cause,
    });
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    console.error(JSON.stringify({ message: 'backend answer does not match the contract', path }));
    throw new BackendError('backend_error', `the backend answered ${path} with an unexpected shape`, true);
  }
  return parsed.data;
}

/** One call to the host at `baseUrl` (no other host is tried), its JSON answer validated. */
export async function callHostJson<S extends z.ZodType>(
  env: Env,
  baseUrl: string,
  call: BackendCall,
  schema: S,
  timeoutMs: number,
): Promise<z.output<S>> {
  const response = await sendToHost(env, baseUrl, call, AbortSignal.timeout(call.timeoutMs ?? timeoutMs));
  if (!response.ok) throw await backendFailure(response, call.path);
  return readBackendJson(response, call.path, schema);
}
