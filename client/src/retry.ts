// Retry timing for the client: Retry-After parsing (RFC 9110 Sec. 10.2.3) and capped exponential
// backoff with jitter for the attempts where the server gave no hint.

/** Statuses worth retrying: the server refused before doing the work (rate limit, no backend). */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([429, 503]);

export interface BackoffOptions {
  /** First delay before jitter, in ms. */
  baseDelayMs: number;
  /** Upper bound of any computed delay, in ms. */
  maxDelayMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseDelayMs: 250, maxDelayMs: 8_000 };

/**
 * Parses a Retry-After value into milliseconds from `now`. RFC 9110 allows either
 * delay-seconds (a non-negative integer) or an HTTP-date; a date in the past means "now" (0).
 * Returns null when the header is absent or unreadable, so the caller falls back to backoff.
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | null {
  if (value == null) return null;
  const text = value.trim();
  if (text === '') return null;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // HTTP-date (IMF-fixdate, or the obsolete RFC 850 / asctime forms Date.parse also reads).
  if (!/[a-z]/i.test(text)) return null;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - now);
}

/**
 * Delay before retry number `attempt` (0 for the first retry): exponential growth capped at
 * maxDelayMs, with "equal jitter" (half fixed, half random) so that many clients refused at the
 * same moment do not come back in lockstep, while each still waits a meaningful minimum.
 */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** attempt);
  const half = ceiling / 2;
  return Math.round(half + random() * half);
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
