// Typed exceptions thrown by the client: API problems (RFC 9457), network failures, malformed
// responses and wait timeouts. Callers branch on `instanceof`, never on message text.

import type { ErrorCode, FieldError, Problem } from '@gigatok/shared';

/**
 * A problem document as received (RFC 9457 Sec. 3 plus the GigaTok extensions). `code` is widened:
 * a newer server may send a code this client does not know, and a non-problem error body gets
 * `http_<status>`.
 */
export type ProblemDetails = Omit<Problem, 'code'> & { code: ErrorCode | (string & {}) };

/** Base class, so `catch (e) { if (e instanceof GigaTokError) ... }` covers every client failure. */
export class GigaTokError extends Error {
  override name = 'GigaTokError';
}

/**
 * The server answered with an error status. Carries the problem document as sent; when the body was
 * not problem+json (a proxy's HTML page, say) the code is `http_<status>` and detail holds the start
 * of the body.
 */
export class GigaTokApiError extends GigaTokError {
  override name = 'GigaTokApiError';
  readonly status: number;
  readonly code: ErrorCode | (string & {});
  readonly title: string;
  readonly detail: string;
  readonly field: string | undefined;
  readonly limit: number | string | undefined;
  readonly errors: readonly FieldError[];
  /** Seconds the server asked us to wait (Retry-After), or null when it gave none. */
  readonly retryAfter: number | null;
  readonly problem: ProblemDetails;
  readonly method: string;
  readonly url: string;

  constructor(problem: ProblemDetails, init: { method: string; url: string; retryAfter: number | null }) {
    super(
      `${problem.status} ${problem.code}: ${problem.detail}${problem.field ? ` (field ${problem.field})` : ''}`,
    );
    this.problem = problem;
    this.status = problem.status;
    this.code = problem.code;
    this.title = problem.title;
    this.detail = problem.detail;
    this.field = problem.field;
    this.limit = problem.limit;
    this.errors = problem.errors ?? [];
    this.retryAfter = init.retryAfter;
    this.method = init.method;
    this.url = init.url;
  }
}

/** The request never produced a response: connection refused or reset, DNS failure, or a timeout. */
export class GigaTokNetworkError extends GigaTokError {
  override name = 'GigaTokNetworkError';
  readonly method: string;
  readonly url: string;
  /** True when the client's own per-request timeout fired. */
  readonly timedOut: boolean;

  constructor(message: string, init: { method: string; url: string; timedOut: boolean; cause?: unknown }) {
    super(message, { cause: init.cause });
    this.method = init.method;
    this.url = init.url;
    this.timedOut = init.timedOut;
  }
}

/**
 * A success status whose body does not match the contract (shared's zod schemas, or the token
 * binary format). Raised at the boundary so a bad server surfaces here, not as a crash later.
 */
export class GigaTokResponseError extends GigaTokError {
  override name = 'GigaTokResponseError';
  readonly status: number;
  readonly method: string;
  readonly url: string;

  constructor(message: string, init: { status: number; method: string; url: string; cause?: unknown }) {
    super(message, { cause: init.cause });
    this.status = init.status;
    this.method = init.method;
    this.url = init.url;
  }
}

/** `generate()` gave up waiting; the job keeps running on the server and can be fetched by id. */
export class GigaTokTimeoutError extends GigaTokError {
  override name = 'GigaTokTimeoutError';
  readonly jobId: string;
  readonly lastStatus: string;

  constructor(message: string, init: { jobId: string; lastStatus: string }) {
    super(message);
    this.jobId = init.jobId;
    this.lastStatus = init.lastStatus;
  }
}
